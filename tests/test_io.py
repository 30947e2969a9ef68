import os

import pytest
import torch
from safetensors.torch import save_file

from confab.io import atomic_path, atomic_write_text


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_outputs_get_the_permissions_of_a_new_file(tmp_path):
    """mkstemp's 0600 would make checkpoints unreadable to others, also when the writer recreates the file."""
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "model.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))
        atomic_write_text(tmp_path / "config.json", "{}")
    finally:
        os.umask(umask)
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o644}
