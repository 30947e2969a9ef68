"""`confab train` and `confab tokenizer`: the trainers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from confab.cli.common import (
    Bf16,
    Device,
    Precision,
    Strategy,
    Stream,
    console,
    fail,
    train_with_progress,
    training_precision,
)
from confab.generation.limits import Limits  # no PyTorch: the defaults of --max-context and co.

app = typer.Typer(help="Train models.", no_args_is_help=True)


@app.command("retrieval")
def train_retrieval(
    ctx: typer.Context,
    data: Annotated[
        list[Path],
        typer.Option(
            help="Dataset folder(s) made by `confab data build`; repeat to train on several "
            "(validation: the first one's)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Checkpoint folder to write.")],
    config: Annotated[str | None, typer.Option(
        help="A training config (JSON, as a checkpoint's run): a file, or one of confab's, e.g. shipped-retrieval "
             "(resources/configs). Options given here override its values.")] = None,
    encoder: Annotated[str, typer.Option(help="bow|lstm|transformer|pretrained")] = "transformer",
    persona: Annotated[bool, typer.Option("--persona/--no-persona", help="Use the persona memory.")] = True,
    persona_encoder: Annotated[
        str,
        typer.Option(
            help="bow (the paper's: linear on word embeddings, summed), encoder (the context encoder), or auto: "
            "encoder for the pretrained encoder, else bow"
        ),
    ] = "auto",
    share_encoders: Annotated[
        bool, typer.Option(help="One encoder for context and response (the paper: two, sharing embeddings).")
    ] = False,
    similarity: Annotated[
        str, typer.Option(help="dot (the paper's) or cosine (x20; how the pretrained encoder was trained)")
    ] = "dot",
    epochs: int = 10,
    batch_size: Annotated[int, typer.Option(help="Examples per batch; the others are the negatives.")] = 512,
    lr: float = 8e-4,
    optimizer: Annotated[str, typer.Option(help="adamax (the paper's), adam or adamw")] = "adamax",
    schedule: Annotated[
        str, typer.Option(help="constant, or linear: to zero at the last step (as BERT is fine-tuned)")
    ] = "constant",
    warmup_steps: Annotated[int, typer.Option(help="Steps of linear warm-up from zero.")] = 0,
    layers: Annotated[int, typer.Option(help="Transformer layers (paper: 4 on Reddit, 2 on PERSONA-CHAT).")] = 4,
    heads: Annotated[int, typer.Option(help="Transformer heads (paper: 6 on Reddit, 2 on PERSONA-CHAT).")] = 6,
    embedding_dim: int = 300,
    dropout: float = 0.1,
    tuned_layers: Annotated[
        int | None,
        typer.Option(help="Pretrained encoder: fine-tune its top N layers only; the checkpoint stores just those."),
    ] = None,
    context: Annotated[
        str, typer.Option(help="turns (the last turns encoded one by one, weighted) or flat (joined into one text)")
    ] = "turns",
    context_turns: Annotated[int, typer.Option(help="The last N turns of the context (flat: 0 for all).")] = 2,
    turn_decay: Annotated[
        float, typer.Option(help="turns: each earlier turn's starting weight, times the next one's.")
    ] = 0.15,
    persona_as: Annotated[
        str, typer.Option(help="memory (the 1-hop memory network) or text (joined before a flat context)")
    ] = "memory",
    memory_gate: Annotated[float, typer.Option(help="The memory hop's starting gate (0: the identity).")] = 0.0,
    persona_match: Annotated[
        float | None,
        typer.Option(
            help="Starting weight of a candidate's best match with a persona sentence; default: 1 for "
            "the pretrained encoder (as bundled:minilm), else 0."
        ),
    ] = None,
    patience: Annotated[int, typer.Option(help="Stop after N epochs without a better validation hits@1.")] = 0,
    max_train: Annotated[int | None, typer.Option(help="Train on the first N examples only.")] = None,
    precision: Precision = "auto",
    device: Device = "auto",
    strategy: Strategy = "ddp",
    bf16: Bf16 = False,
    fasttext: Annotated[Path | None, typer.Option(help="FastText .vec file to initialise the embeddings.")] = None,
    init: Annotated[
        Path | None, typer.Option(help="Fine-tune this checkpoint (its model options and vocabulary are kept).")
    ] = None,
    tensorboard: Annotated[Path | None, typer.Option(help="Also write TensorBoard events to this folder.")] = None,
    stream: Stream = False,
    seed: int = 0,
    quiet: bool = False,
) -> None:
    """Train a persona-conditioned retrieval model (Mazaré et al.)."""
    from confab.retrieval.model import RankerConfig
    from confab.retrieval.train import RetrievalRun, train_retrieval
    from confab.training import TrainConfig

    if encoder not in ("bow", "lstm", "transformer", "pretrained"):
        fail(f"--encoder must be bow, lstm, transformer or pretrained, not {encoder}")
    if similarity not in ("dot", "cosine"):
        fail(f"--similarity must be dot or cosine, not {similarity}")
    if persona_encoder == "auto":
        persona_encoder = "encoder" if encoder == "pretrained" else "bow"
    if persona_encoder not in ("bow", "encoder"):
        fail(f"--persona-encoder must be bow, encoder or auto, not {persona_encoder}")
    if tuned_layers is not None and encoder != "pretrained":
        fail("--tuned-layers is for --encoder pretrained")
    if optimizer not in ("adamax", "adam", "adamw"):
        fail(f"--optimizer must be adamax, adam or adamw, not {optimizer}")
    if schedule not in ("constant", "linear"):
        fail(f"--schedule must be constant or linear, not {schedule}")
    if context not in ("turns", "flat") or persona_as not in ("memory", "text"):
        fail(f"--context must be turns or flat ({context}), --persona-as memory or text ({persona_as})")
    precision = training_precision(precision, bf16)
    if persona_match is None:
        persona_match = 1.0 if encoder == "pretrained" else 0.0
    ranker = RankerConfig(encoder=encoder, use_persona=persona, embedding_dim=embedding_dim, layers=layers,
                          heads=heads, dropout=dropout, persona_encoder=persona_encoder,
                          share_encoders=share_encoders, similarity=similarity, tuned_layers=tuned_layers,
                          context=context, context_turns=context_turns or None, turn_decay=turn_decay,
                          persona_as=persona_as, memory_gate=memory_gate, persona_match=persona_match)  # fmt: skip
    run = RetrievalRun(
        ranker=ranker,
        train=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, schedule=schedule,
                          warmup_steps=warmup_steps, precision=precision, device=device, strategy=strategy,
                          seed=seed, patience=patience, log_every=10 if tensorboard else 0,
                          tensorboard=str(tensorboard) if tensorboard else None),
        max_train=max_train,
        fasttext=str(fasttext) if fasttext else None,
        init=str(init) if init else None,
        stream=stream,
    )  # fmt: skip
    if config is not None:
        run = over_config(ctx, config, run, RETRIEVAL_OPTIONS)
    train_with_progress(train_retrieval, list(data), run, out, quiet)


@app.command("plato")
def train_plato(
    ctx: typer.Context,
    data: Annotated[list[Path], typer.Option(help="Dataset folder(s); validation: the first one's.")],
    out: Annotated[Path, typer.Option(help="Checkpoint folder to write.")],
    stage: Annotated[str, typer.Option(help="1 (generation), 2.1 (latent generation) or 2.2 (evaluation)")] = "1",
    config: Annotated[str | None, typer.Option(
        help="A training config (JSON, as a checkpoint's run): a file, or one of confab's, e.g. shipped-plato-1, "
             "paper-1.6B-1 (resources/configs). Options given here override its values.")] = None,
    size: Annotated[str, typer.Option(help="Model size: tiny|small|93M|314M|1.6B (stage 1).")] = "small",
    init: Annotated[
        Path | None, typer.Option(help="Start from this checkpoint (stages 2.x: the stage-1 model).")
    ] = None,
    init_encoder: Annotated[
        str | None,
        typer.Option(
            help="Stage 1: start from a BERT-style encoder folder (Hugging Face layout) or bundled:minilm; "
            "its WordPiece vocabulary replaces the BPE one."
        ),
    ] = None,
    freeze_embeddings: Annotated[
        bool, typer.Option(help="Keep the token and position embeddings (and the tied LM output) as they start.")
    ] = False,
    mlm_weight: Annotated[
        float, typer.Option(help="Stage 2.2: weight of the masked LM beside coherence (paper 1; 0 from an encoder).")
    ] = 1.0,
    latent_diversity: Annotated[
        float, typer.Option(help="Stage 2.1: weight of the examples-latents information term (paper 0).")
    ] = 0.0,
    heads_lr: Annotated[
        float, typer.Option(help="Stages 2.x: learning rate of the heads the stage adds, as a multiple of --lr.")
    ] = 1.0,
    coherence: Annotated[
        str,
        typer.Option(
            help="Stage 2.2: joint (one sequence, PLATO-2) or dual (context and response apart, "
            "compared by cosine: a sentence encoder's strength)."
        ),
    ] = "joint",
    tokenizer: Annotated[Path | None, typer.Option(help="A BPE folder (default: trained on the data).")] = None,
    vocab_size: int = 8000,
    epochs: int = 10,
    lr: float = 1e-3,
    warmup_steps: int = 100,
    tokens_per_step: Annotated[int, typer.Option(help="Tokens per optimiser step (accumulated).")] = 8192,
    max_tokens: Annotated[int, typer.Option(help="Padded tokens per micro-batch (bounds memory).")] = 4096,
    max_context: int = Limits.max_context,
    max_persona: int = Limits.max_persona,
    max_response: int = Limits.max_response,
    max_train: Annotated[int | None, typer.Option(help="Train on the first N examples only.")] = None,
    patience: Annotated[int, typer.Option(help="Stop after N epochs without a better validation score.")] = 0,
    precision: Precision = "auto",
    device: Device = "auto",
    strategy: Strategy = "ddp",
    bf16: Bf16 = False,
    gradient_checkpointing: bool = False,
    backward: Annotated[bool, typer.Option(help="Stage 1: a backward model p(c|r) for MMI ranking.")] = False,
    dropout: float = 0.1,
    tensorboard: Annotated[Path | None, typer.Option(help="Also write TensorBoard events to this folder.")] = None,
    stream: Stream = False,
    zero: Annotated[bool, typer.Option(help="Deprecated: --strategy zero.", hidden=True)] = False,
    seed: int = 0,
    quiet: bool = False,
) -> None:
    """Train one stage of PLATO-2's curriculum."""
    from confab.generation.data import BatchConfig
    from confab.generation.train import PlatoRun
    from confab.generation.train import train_plato as run_training
    from confab.training import TrainConfig

    precision = training_precision(precision, bf16)
    run = PlatoRun(
        stage=stage, size=size, vocab_size=vocab_size, limits=Limits(max_context, max_persona, max_response),
        batch=BatchConfig(max_tokens=max_tokens, tokens_per_step=tokens_per_step),
        train=TrainConfig(epochs=epochs, lr=lr, optimizer="adam", warmup_steps=warmup_steps, schedule="inverse_sqrt",
                          grad_clip=1.0, precision=precision, device=device, seed=seed, patience=patience,
                          log_every=10, strategy="zero" if zero else strategy,
                          tensorboard=str(tensorboard) if tensorboard else None),
        max_train=max_train, gradient_checkpointing=gradient_checkpointing, backward=backward, dropout=dropout,
        init=str(init) if init else None, tokenizer=str(tokenizer) if tokenizer else None, stream=stream,
        init_encoder=init_encoder, freeze_embeddings=freeze_embeddings, mlm_weight=mlm_weight,
        latent_diversity=latent_diversity, heads_lr=heads_lr, coherence=coherence,
    )  # fmt: skip
    if config is not None:
        run = over_config(ctx, config, run, PLATO_OPTIONS)
    train_with_progress(run_training, list(data), run, out, quiet)


# where each option of `train plato` goes in a PlatoRun (the rest have the same name at its top level)
PLATO_OPTIONS = {
    "epochs": "train.epochs", "lr": "train.lr", "warmup_steps": "train.warmup_steps", "patience": "train.patience",
    "precision": "train.precision", "bf16": "train.precision", "device": "train.device", "seed": "train.seed",
    "strategy": "train.strategy", "zero": "train.strategy", "tensorboard": "train.tensorboard",
    "tokens_per_step": "batch.tokens_per_step", "max_tokens": "batch.max_tokens",
    "max_context": "limits.max_context", "max_persona": "limits.max_persona", "max_response": "limits.max_response",
}  # fmt: skip


# where each option of `train retrieval` goes in a RetrievalRun (the rest have the same name at its top level)
RETRIEVAL_OPTIONS = {
    **{name: f"train.{name}" for name in ("epochs", "batch_size", "lr", "optimizer", "schedule", "warmup_steps",
                                          "patience", "precision", "device", "strategy", "seed", "tensorboard")},
    "bf16": "train.precision", "persona": "ranker.use_persona",
    **{name: f"ranker.{name}" for name in ("encoder", "persona_encoder", "share_encoders", "similarity", "layers",
                                           "heads", "embedding_dim", "dropout", "tuned_layers", "context",
                                           "context_turns", "turn_decay", "persona_as", "memory_gate",
                                           "persona_match")},
}  # fmt: skip


def over_config(ctx: typer.Context, config: str, given, options: dict[str, str]):
    """The run of a config file (of `given`'s type) with the options given on the command line in place of its
    values; `options` says where each option goes in the run ("train.lr"; the others by their own name)."""
    from confab.config import from_dict, load_config, recipe, to_dict

    path = recipe(config)
    cls = type(given)
    merged, values = to_dict(load_config(cls, path)), to_dict(given)
    for name in ctx.params:
        # by name: Typer's Context may be its own copy of click's, with its own ParameterSource
        if name in ("data", "out", "config", "quiet") or ctx.get_parameter_source(name).name != "COMMANDLINE":
            continue
        *parents, key = options.get(name, name).split(".")
        source, target = values, merged
        for part in parents:
            source, target = source[part], target[part]
        target[key] = source[key]
    return from_dict(cls, merged, str(path))


tokenizer_app = typer.Typer(help="Subword vocabularies for the generative models.", no_args_is_help=True)


@tokenizer_app.command("train")
def tokenizertrain_with_progress(
    data: Annotated[list[Path], typer.Option(help="Dataset folder(s); their train splits are read.")],
    out: Annotated[Path, typer.Option(help="Folder to write the BPE model to.")],
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size (PLATO-2: 8,000).")] = 8000,
) -> None:
    """Train a SentencePiece BPE vocabulary on the persona, context and response texts of datasets."""
    from confab.data.schema import read_split
    from confab.generation.train import training_texts
    from confab.text.bpe import BpeTokenizer

    rows = [r for d in data for r in read_split(d, "train").to_pylist()]
    tok = BpeTokenizer.train(training_texts(rows), vocab_size)
    tok.save(out)
    console.print(f"{len(tok):,} tokens: {out}")


@app.command("dry-run")
def train_dry_run(
    size: Annotated[str, typer.Option(help="Model size: 93M|314M|1.6B (or small, tiny).")] = "1.6B",
    stage: Annotated[str, typer.Option(help="1 or 2.1: its tokens per step come from the paper's recipe.")] = "1",
    world_size: Annotated[int, typer.Option(help="Processes (GPUs) the recipe is planned for (paper: 64).")] = 64,
    max_tokens: Annotated[int, typer.Option(help="Padded tokens per micro-batch.")] = 4096,
    gradient_checkpointing: Annotated[bool, typer.Option(help="Recompute activations in backward.")] = True,
    strategy: Annotated[str, typer.Option(help="ddp, zero or fsdp: what each process holds (as `train plato`).")
                        ] = "ddp",
    zero: Annotated[bool, typer.Option(help="Deprecated: --strategy zero.", hidden=True)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Build a paper-size PLATO-2, run one step on made-up data, and report parameters, memory per process and
    tokens per step: the recipe checked on a CPU before it goes to a cluster."""
    from confab.generation.dryrun import dry_run

    if world_size < 1:
        fail("--world-size must be at least 1")
    report = dry_run(size, stage, world_size, max_tokens, gradient_checkpointing,
                     strategy="zero" if zero else strategy)
    if as_json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        console.print(f"{key:>36}: {value}", highlight=False)
