"""Read a TensorFlow checkpoint (tensor bundle) into numpy arrays, without TensorFlow.

A bundle ``PREFIX`` is two files: ``PREFIX.index``, an uncompressed LevelDB-style SSTable
mapping tensor names to ``BundleEntryProto`` messages (dtype, shape, shard, offset, size), and
``PREFIX.data-00000-of-0000N``, the raw little-endian tensor bytes. Only what musicnn's
checkpoints use is supported: uncompressed blocks, unsliced numeric tensors.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from jen1.errors import Jen1Error

_MAGIC = 0xDB4775248B80FB57  # LevelDB table magic number (little endian, last 8 bytes)
# tensorflow/core/framework/types.proto DataType -> numpy
_DTYPES = {
    1: np.float32,
    2: np.float64,
    3: np.int32,
    4: np.uint8,
    5: np.int16,
    6: np.int8,
    9: np.int64,
    10: np.bool_,
    17: np.uint16,
    19: np.float16,
    22: np.uint32,
    23: np.uint64,
}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos`` -> (value, next position)."""
    out, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, pos
        shift += 7


def _fields(msg: bytes) -> list[tuple[int, int | bytes]]:
    """Protobuf wire format -> [(field number, int or bytes)] (varint, fixed and length types)."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(msg):
        key, pos = _varint(msg, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(msg, pos)
        elif wire == 1:
            val, pos = struct.unpack_from("<Q", msg, pos)[0], pos + 8
        elif wire == 5:
            val, pos = struct.unpack_from("<I", msg, pos)[0], pos + 4
        elif wire == 2:
            n, pos = _varint(msg, pos)
            val, pos = msg[pos : pos + n], pos + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((num, val))
    return out


def _block_entries(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of one SSTable block (prefix-compressed keys, restart array at the end)."""
    block = data[offset : offset + size]
    if data[offset + size] != 0:  # 5-byte trailer: compression type (0 = none) + crc
        raise ValueError("compressed SSTable blocks are not supported")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    pos, key, out = 0, b"", []
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        out.append((key, block[pos : pos + value_len]))
        pos += value_len
    return out


def _handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    off, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return off, size, pos


def read_index(index_path: str | Path) -> dict[str, dict]:
    """Entries of a ``.index`` file: name -> {dtype, shape, shard, offset, size}."""
    data = Path(index_path).read_bytes()
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _MAGIC:
        raise Jen1Error(f"{index_path} is not a TensorFlow checkpoint index")
    footer = len(data) - 48
    _, _, pos = _handle(data, footer)  # metaindex handle (unused)
    idx_off, idx_size, _ = _handle(data, pos)
    entries: dict[str, dict] = {}
    for _, handle in _block_entries(data, idx_off, idx_size):
        off, size, _ = _handle(handle, 0)
        for key, value in _block_entries(data, off, size):
            if not key:  # "" holds the BundleHeaderProto
                continue
            e = {"dtype": 1, "shape": (), "shard": 0, "offset": 0, "size": 0, "slices": False}
            dims: list[int] = []
            for num, val in _fields(value):
                if num == 1:
                    e["dtype"] = val
                elif num == 2:  # TensorShapeProto: repeated Dim dim = 2 {int64 size = 1}
                    for snum, dim in _fields(val):  # type: ignore[arg-type]
                        if snum == 2:
                            dims.append(next((int(v) for n, v in _fields(dim) if n == 1), 0))  # type: ignore[arg-type]
                elif num in (3, 4, 5):
                    e[{3: "shard", 4: "offset", 5: "size"}[num]] = val
                elif num == 7:
                    e["slices"] = True
            e["shape"] = tuple(dims)
            entries[key.decode()] = e
    return entries


def read_bundle(prefix: str | Path) -> dict[str, np.ndarray]:
    """All tensors of the checkpoint ``prefix`` (``prefix.index`` + ``prefix.data-*``).

    Args:
        prefix: path without suffix; for musicnn's ``MTT_musicnn/`` folder the prefix is the
            folder path followed by ``/`` (files ``.index`` and ``.data-00000-of-00001``).

    Returns:
        name -> numpy array with the stored dtype and shape.
    """
    prefix = str(prefix)
    index = Path(prefix + ".index")
    if not index.exists():
        raise Jen1Error(f"no TensorFlow checkpoint index at {index}")
    entries = read_index(index)
    shards = sorted(Path(index.parent).glob(Path(prefix + ".data-*").name))
    if not shards:
        raise Jen1Error(f"no checkpoint data file beside {index}")
    blobs = [s.read_bytes() for s in shards]
    out: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        if e["slices"] or e["dtype"] not in _DTYPES:
            continue  # partitioned variables and strings are not needed here
        dtype = np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<")
        raw = blobs[e["shard"]][e["offset"] : e["offset"] + e["size"]]
        arr = np.frombuffer(raw, dtype=dtype)
        n = int(np.prod(e["shape"])) if e["shape"] else 1
        if arr.size != n:
            raise Jen1Error(f"checkpoint tensor {name} has {arr.size} values, shape says {n}")
        out[name] = arr.reshape(e["shape"]).astype(dtype.newbyteorder("="))
    return out
