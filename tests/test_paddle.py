"""PaddlePaddle checkpoints read as data: Knover's static-graph variable files and PaddleNLP's `.pdparams`."""

import pickle
import struct

import numpy as np
import pytest

from confab.generation.paddle import read_lod_tensor, read_pdparams, read_static_folder
from tests.conftest import SHARED

REFERENCE = SHARED.parent / "plato2_reference"


def reference(relative: str):
    path = REFERENCE / relative
    if not path.exists():
        pytest.skip(f"the PLATO-2 reference files ({relative}) are not under {REFERENCE}")
    return path


def lod_tensor(array: np.ndarray, code: int = 5) -> bytes:
    """A LoDTensor file as Paddle writes it (no LoD, TensorDesc with unpacked dims)."""
    desc = bytes([0x08, code]) + b"".join(bytes([0x10, d]) for d in array.shape)
    return struct.pack("<IQIi", 0, 0, 0, len(desc)) + desc + array.astype("<f4").tobytes()


def test_a_lod_tensor_file_is_read_and_a_truncated_one_is_named(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    (tmp_path / "w_0").write_bytes(lod_tensor(array))
    assert np.array_equal(read_lod_tensor(tmp_path / "w_0"), array)
    (tmp_path / "cut").write_bytes(lod_tensor(array)[:-4])
    with pytest.raises(ValueError, match=r"cut: 44 bytes of data for shape \(3, 4\)"):
        read_lod_tensor(tmp_path / "cut")
    (tmp_path / "head").write_bytes(lod_tensor(array)[:10])
    with pytest.raises(ValueError, match="head: truncated LoDTensor header"):
        read_lod_tensor(tmp_path / "head")


def test_a_pickle_that_names_anything_but_arrays_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this ran",))

    (tmp_path / "evil.pdparams").write_bytes(pickle.dumps({"w": np.zeros(2), "x": Payload()}))
    with pytest.raises(ValueError, match=r"evil.pdparams: refused: .*builtins.print; only numpy arrays"):
        read_pdparams(tmp_path / "evil.pdparams")
    (tmp_path / "ok.pdparams").write_bytes(
        pickle.dumps({"w": np.ones((2, 3), np.float32), "StructuredToParameterName@@": {"w": "w_0"}})
    )
    assert list(read_pdparams(tmp_path / "ok.pdparams")) == ["w"]


def test_the_reference_checkpoints_read_as_the_same_arrays():
    expected = np.load(reference("params.npz"))
    pdparams = read_pdparams(reference("plato2_tiny.pdparams"))
    assert set(pdparams) == set(expected.files) and all(np.array_equal(pdparams[k], expected[k]) for k in expected)
    plato, nsp = (
        read_static_folder(reference("knover_static/Plato")),
        read_static_folder(reference("knover_static/NSP")),
    )
    assert (len(plato), len(nsp)) == (43, 41)
    assert np.array_equal(plato["latent_embedding"], expected["latent_weight"])
    assert np.array_equal(nsp["pooled_fc.w_0"], expected["nsp_predictor.fc1.weight"])
