import torch
from torch import nn

from confab.training import TrainConfig, fit, lr_factor


def test_warmup_then_inverse_square_root():
    config = TrainConfig(warmup_steps=100, schedule="inverse_sqrt")
    assert lr_factor(0, config) == 0.01 and lr_factor(99, config) == 1.0
    assert abs(lr_factor(399, config) - 0.5) < 1e-9  # sqrt(100 / 400)
    assert lr_factor(5, TrainConfig(warmup_steps=10)) == 0.6 and lr_factor(50, TrainConfig(warmup_steps=10)) == 1.0


def test_warmup_then_linear_to_zero():
    config = TrainConfig(warmup_steps=10, schedule="linear")
    factors = [lr_factor(s, config, 110) for s in range(110)]
    assert factors[0] == 0.1 and factors[9] == 1.0 and factors[10] == 1.0
    assert abs(factors[60] - 0.5) < 1e-9 and 0 < factors[-1] <= 0.01  # (110 - 60) / 100; the last step still learns
    assert all(a >= b for a, b in zip(factors[9:-1], factors[10:], strict=True))
    assert lr_factor(0, TrainConfig(schedule="linear"), 4) == 1.0


class Regression(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3, 1)

    def forward(self, batch):
        return ((self.linear(batch["x"])[:, 0] - batch["y"]) ** 2).mean()


def test_accumulated_micro_batches_step_like_one_batch(tmp_path):
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    y = x.sum(1)
    config = TrainConfig(epochs=1, lr=0.1, optimizer="adam", save_every=0)
    whole, parts = Regression(), Regression()
    fit(whole, lambda e: [{"x": x, "y": y}], 1, config, tmp_path / "a")
    halves = [{"x": x[:4], "y": y[:4], "weight": 0.5}, {"x": x[4:], "y": y[4:], "weight": 0.5}]
    fit(parts, lambda e: [halves], 1, config, tmp_path / "b")
    assert torch.allclose(whole.linear.weight, parts.linear.weight, atol=1e-6)
    assert not torch.allclose(whole.linear.weight, Regression().linear.weight)


def test_an_epoch_reads_as_a_line():
    from confab.training import describe

    record = {"epoch": 2, "step": 1609, "loss": 3.41234, "seconds": 95.2, "valid_ppl": 145.12,
              "valid_latents_used": 12, "valid_latent_usage": [0.5, 0.5], "valid_latent_collapse": False}  # fmt: skip
    line = describe(record)
    assert line == "epoch 2 · step 1,609 · loss 3.412 · 95 s · valid: ppl 145.1, latents used 12, latent collapse no"


def test_keeping_the_best_includes_the_start(tmp_path):
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(2))
    y = x.sum(1)
    config = TrainConfig(epochs=3, lr=0.05, optimizer="adam", save_every=0)
    model = Regression()
    start = model.linear.weight.detach().clone()

    def away_from_start() -> dict:  # a validation that every step makes worse
        return {"gap": float((model.linear.weight - start).norm())}

    worse = fit(model, lambda e: [{"x": x, "y": y}], 1, config, tmp_path / "a", away_from_start, "gap", None, False)
    assert worse["kept_start"] and worse["start"] == {"valid_gap": 0.0} and worse["best"] == 0.0
    assert torch.equal(model.linear.weight, start) and len(worse["history"]) == 3
    better = Regression()

    def fit_error() -> dict:
        return {"mse": float(better({"x": x, "y": y}))}

    result = fit(better, lambda e: [{"x": x, "y": y}], 1, config, tmp_path / "b", fit_error, "mse", None, False)
    assert not result["kept_start"] and result["best"] < result["start"]["valid_mse"]


def test_slow_steps_save_resume_points_by_the_clock(tmp_path, monkeypatch):
    """A step of a large model on 2 cores takes seconds: a run killed before `save_every` steps must not lose them
    all, so a resume point is also saved once `save_minutes` have passed."""
    import confab.training as training

    saved = []
    save = training._save_state
    monkeypatch.setattr(training, "_save_state", lambda path, m, o, s, state, *a: saved.append(state["step"])
                        or save(path, m, o, s, state, *a))  # fmt: skip
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    batches = [{"x": x[i : i + 2], "y": x[i : i + 2].sum(1)} for i in range(0, 8, 2)]
    fit(Regression(), lambda e: batches, 4, TrainConfig(epochs=1, save_every=0, save_minutes=1e-9), tmp_path / "a")
    assert saved == [1, 2, 3, 4, 4]  # after every step (the clock is always due), then the epoch's end
    saved.clear()
    fit(Regression(), lambda e: batches, 4, TrainConfig(epochs=1, save_every=0, save_minutes=0), tmp_path / "b")
    assert saved == [4]
