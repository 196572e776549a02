"""Safetensors files as numpy arrays: read with the `safetensors` library when it is installed,
otherwise (and for BF16, which numpy lacks) by this module's own reader; written the same way.

The format: 8 bytes (little-endian u64) giving the header's length, the header (a JSON object:
`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`), then the
data, each tensor little-endian and C-ordered at its offsets. The header is checked before anything
is trusted, as AttnLab's Swift reader checks it.
"""
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from .errors import TraceFileError

DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
MAX_HEADER = 100_000_000


def have_library():
    """True when the `safetensors` package can be imported."""
    try:
        import safetensors.numpy  # noqa: F401
        return True
    except ImportError:
        return False


def read(path, backend="auto"):
    """(tensors by name as numpy arrays, metadata dict) of the file at `path`.

    backend: "auto" (the library when installed, else native), "native" or "safetensors".
    BF16 tensors are widened to float32.
    """
    path = Path(path)
    if backend == "safetensors" or (backend == "auto" and have_library()):
        header = read_header(path)[0]
        if not any(entry.get("dtype") == "BF16" for name, entry in header.items() if name != "__metadata__"):
            return read_with_library(path)
        if backend == "safetensors":
            raise TraceFileError(f"{path}: holds BF16 tensors, which safetensors cannot give as numpy arrays; "
                                 "read it with backend='native'")
    return read_native(path)


def read_with_library(path):
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework="numpy") as file:
            metadata = dict(file.metadata() or {})
            tensors = {name: file.get_tensor(name) for name in file.keys()}
    except SafetensorError as error:
        raise TraceFileError(f"{path}: not a valid safetensors file: {error}") from None
    return tensors, metadata


def read_header(path):
    """(the header as a dict, the offset where the data starts, the file's size); checked."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            prefix = file.read(8)
            if len(prefix) < 8:
                raise TraceFileError(f"{path}: not a safetensors file: {size} bytes, shorter than the 8-byte header length")
            (length,) = struct.unpack("<Q", prefix)
            if length > size - 8 or length > MAX_HEADER:
                raise TraceFileError(f"{path}: header length {length} runs past the end of the {size}-byte file "
                                     "(the file is truncated or not safetensors)")
            text = file.read(length)
    except OSError as error:
        raise TraceFileError(f"{path}: cannot read the file ({error.strerror})") from None
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TraceFileError(f"{path}: the safetensors header is not valid JSON (the file is corrupt or not safetensors)") from None
    if not isinstance(header, dict):
        raise TraceFileError(f"{path}: the safetensors header is not a JSON object")
    data_start = 8 + length
    check_header(header, size - data_start, path)
    return header, data_start, size


def check_header(header, data_length, path):
    ranges = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise TraceFileError(f"{path}: __metadata__ is not an object of strings")
            continue
        where = f"{path} [{name}]"
        if not isinstance(entry, dict):
            raise TraceFileError(f"{where}: the header entry is not an object")
        dtype = entry.get("dtype")
        if dtype != "BF16" and dtype not in DTYPES:
            raise TraceFileError(f"{where}: unknown dtype {dtype!r}")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise TraceFileError(f"{where}: the shape is not a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise TraceFileError(f"{where}: data_offsets is not a pair of integers")
        begin, end = offsets
        if not 0 <= begin <= end <= data_length:
            raise TraceFileError(f"{where}: data_offsets [{begin}, {end}] lie outside the {data_length} bytes of data "
                                 "(the file is truncated or corrupt)")
        item = 2 if dtype == "BF16" else np.dtype(DTYPES[dtype]).itemsize
        if int(np.prod(shape, dtype=np.int64)) * item != end - begin:
            raise TraceFileError(f"{where}: shape {shape} of {dtype} does not fill data_offsets [{begin}, {end}]")
        ranges.append((begin, end, name))
    ranges.sort()
    for (_, end, first), (begin, _, second) in zip(ranges, ranges[1:]):
        if begin < end:
            raise TraceFileError(f"{path}: tensors {first} and {second} overlap in the data section")


def read_native(path):
    header, data_start, _ = read_header(path)
    metadata = dict(header.pop("__metadata__", {}) or {})
    tensors = {}
    with open(path, "rb") as file:
        for name, entry in header.items():
            begin, end = entry["data_offsets"]
            file.seek(data_start + begin)
            raw = file.read(end - begin)
            if entry["dtype"] == "BF16":
                halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                array = halves.view(np.float32)
            else:
                array = np.frombuffer(raw, dtype=DTYPES[entry["dtype"]]).astype(np.dtype(DTYPES[entry["dtype"]]).newbyteorder("="))
            tensors[name] = array.reshape(entry["shape"])
    return tensors, metadata


def dtype_name(dtype):
    """The safetensors name of a numpy dtype (whatever its byte order), or None."""
    for name, code in DTYPES.items():
        if np.dtype(code).kind == dtype.kind and np.dtype(code).itemsize == dtype.itemsize:
            return name
    return None


def quote(text):
    """A JSON string literal as AttnLab's Swift writer spells it: UTF-8 kept; quotes, backslashes,
    control characters, DEL and U+2028/U+2029 escaped."""
    out = ['"']
    for character in text:
        code = ord(character)
        if character in ('"', "\\"):
            out.append("\\" + character)
        elif character in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[character])
        elif code < 0x20 or code in (0x7F, 0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(character)
    return "".join(out) + '"'


SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def encode(tensors, metadata):
    """The bytes of a safetensors file: tensors in name order, the header's keys sorted and padded
    to 8 bytes, as AttnLab's Swift writer lays it out."""
    entries, chunks, offset = [], [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = dtype_name(array.dtype)
        if dtype is None:
            raise TraceFileError(f"tensor {name} has dtype {array.dtype}, which safetensors cannot store")
        data = array.astype(DTYPES[dtype], copy=False).tobytes()
        entries.append((name, {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}))
        chunks.append(data)
        offset += len(data)
    parts = []
    if metadata:
        parts.append(quote("__metadata__") + ":{" + ",".join(quote(k) + ":" + quote(metadata[k]) for k in sorted(metadata)) + "}")
    for name, entry in entries:
        parts.append(quote(name) + ":" + json.dumps(entry, separators=(",", ":")))
    header = ("{" + ",".join(parts) + "}").encode("utf-8")
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(chunks)


def write(path, tensors, metadata, backend="auto"):
    """Writes the file atomically (a temporary file beside it, renamed): never a partial file."""
    path = Path(path)
    if backend == "safetensors" or (backend == "auto" and have_library()):
        from safetensors.numpy import save
        little = {k: np.ascontiguousarray(v).astype(np.asarray(v).dtype.newbyteorder("<"), copy=False) for k, v in tensors.items()}
        bad = [k for k, v in little.items() if dtype_name(v.dtype) is None]
        if bad:
            raise TraceFileError(f"tensor {bad[0]} has dtype {little[bad[0]].dtype}, which safetensors cannot store")
        data = save(little, metadata=metadata)
    else:
        data = encode(tensors, metadata)
    write_atomically(path, data)


def write_atomically(path, data):
    """Writes bytes to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)   # mkstemp makes it private; the file is an ordinary one
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
