"""PaddlePaddle checkpoints read as data, without PaddlePaddle and without running code from the files.

- A static-graph variable folder (Knover's `save_persistables`): one file per variable, each a serialized
  LoDTensor: uint32 version, uint64 LoD level count (and the levels), uint32 tensor version, int32 length of a
  protobuf `TensorDesc` (field 1: data type, field 2: dims), then the raw little-endian data.
- A `.pdparams` file (`paddle.save(state_dict)`, PaddleNLP): a pickle of a dict of numpy arrays. It is unpickled
  by an unpickler that can build numpy arrays and nothing else: a pickle that names any other callable is refused
  before it runs.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

from confab.errors import InvalidInput

# Paddle's VarType codes of the tensor data types a checkpoint holds
DTYPES = {0: np.bool_, 1: np.int16, 2: np.int32, 3: np.int64, 4: np.float16, 5: np.float32, 6: np.float64,
          20: np.uint8, 21: np.int8}  # fmt: skip
BFLOAT16 = 22


def read_lod_tensor(path: Path) -> np.ndarray:
    data = Path(path).read_bytes()
    try:
        (version,) = struct.unpack_from("<I", data, 0)
        if version != 0:
            raise InvalidInput(f"LoDTensor version {version} (0 is known)")
        (levels,) = struct.unpack_from("<Q", data, 4)
        offset = 12
        for _ in range(levels):  # LoD levels: each a byte size and that many bytes of offsets (unused here)
            (size,) = struct.unpack_from("<Q", data, offset)
            offset += 8 + size
        (tensor_version, desc_size) = struct.unpack_from("<Ii", data, offset)
        if tensor_version != 0:
            raise InvalidInput(f"tensor version {tensor_version} (0 is known)")
        offset += 8
        code, dims = _tensor_desc(data[offset : offset + desc_size])
        offset += desc_size
    except struct.error as e:
        raise InvalidInput(f"{path}: truncated LoDTensor header ({e})") from None
    except ValueError as e:
        raise InvalidInput(f"{path}: {e}") from None
    if code == BFLOAT16:
        raw = np.frombuffer(data, dtype="<u2", count=int(np.prod(dims)), offset=offset)
        return (raw.astype(np.uint32) << 16).view(np.float32).reshape(dims)
    if code not in DTYPES:
        raise InvalidInput(f"{path}: data type {code} is not a tensor type confab reads")
    dtype = np.dtype(DTYPES[code]).newbyteorder("<")
    count = int(np.prod(dims)) if dims else 1
    if len(data) - offset != count * dtype.itemsize:
        raise InvalidInput(f"{path}: {len(data) - offset} bytes of data for shape {tuple(dims)} of {dtype.name}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(dims).copy()


def _tensor_desc(blob: bytes) -> tuple[int, list[int]]:
    """(data type, dims) from the protobuf TensorDesc: field 1 a varint, field 2 repeated int64 (packed or not)."""
    code, dims, i = None, [], 0
    while i < len(blob):
        key, i = _varint(blob, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(blob, i)
            if field == 1:
                code = value
            elif field == 2:
                dims.append(_signed(value))
        elif wire == 2:
            length, i = _varint(blob, i)
            if field == 2:
                end, j = i + length, i
                while j < end:
                    value, j = _varint(blob, j)
                    dims.append(_signed(value))
            i += length
        else:
            raise InvalidInput(f"TensorDesc field {field} has wire type {wire}")
    if code is None:
        raise InvalidInput("TensorDesc without a data type")
    return code, dims


def _varint(blob: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(blob):
            raise InvalidInput("truncated TensorDesc")
        byte = blob[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def read_static_folder(folder: Path) -> dict[str, np.ndarray]:
    """Every variable file of a Knover static-graph folder, by its name."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InvalidInput(f"{folder}: no variable files")
    return {p.name: read_lod_tensor(p) for p in files}


# what a pickle of numpy arrays names: the array rebuilders and dtype; nothing else may be called
ALLOWED = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
           ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy._core.multiarray", "scalar"),
           ("numpy.core.multiarray", "scalar"), ("collections", "OrderedDict")}  # fmt: skip


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"names {module}.{name}; only numpy arrays are read")
        return super().find_class(module, name)


def read_pdparams(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a `paddle.save`d state dict; other entries (paddle's name table) are dropped."""
    path = Path(path)
    with path.open("rb") as f:
        try:
            state = _ArraysOnly(f).load()
        except pickle.UnpicklingError as e:
            raise InvalidInput(f"{path}: refused: the pickle {e}") from None
        except (EOFError, ValueError) as e:
            raise InvalidInput(f"{path}: not a readable pickle ({e})") from None
    if not isinstance(state, dict):
        raise InvalidInput(f"{path}: holds a {type(state).__name__}, not a state dict")
    return {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
