"""The package's own safetensors reader and writer, and the safetensors library behind the same calls."""
import json
import struct

import numpy as np
import pytest

from attnlab import TraceFileError, safetensors_file


def test_reencoding_a_trace_from_the_binary_gives_the_same_bytes(eminem_file):
    tensors, metadata = safetensors_file.read_native(eminem_file)
    assert safetensors_file.encode(tensors, metadata) == eminem_file.read_bytes()


@pytest.mark.parametrize("dtype", ["<f4", "<f2", "<f8", "<i8", "<i4", "u1", "?", ">f4"])
def test_round_trip_of_every_dtype(tmp_path, backend, dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    path = tmp_path / "x.safetensors"
    safetensors_file.write(path, {"t": array, "empty": np.zeros((0, 3), np.float32)}, {"k": "v\n\"é\u2028"}, backend=backend)
    tensors, metadata = safetensors_file.read(path, backend=backend)
    assert metadata == {"k": "v\n\"é\u2028"}
    assert tensors["t"].shape == (2, 3, 4) and np.array_equal(tensors["t"], array)
    assert tensors["empty"].shape == (0, 3)
    assert (struct.unpack("<Q", path.read_bytes()[:8])[0] + 8) % 8 == 0, "data starts 8-byte aligned"


def test_bfloat16_is_widened_to_float32(tmp_path):
    values = np.array([1.0, -2.5, 0.15625, 3e38], np.float32)
    halves = (values.view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"b": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + halves.tobytes())
    for backend in ("auto", "native"):
        tensors, _ = safetensors_file.read(path, backend=backend)
        assert tensors["b"].dtype == np.float32
        assert np.allclose(tensors["b"], values, rtol=1e-2)


def header_file(tmp_path, header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + data)
    return path


@pytest.mark.parametrize("case, message", [
    ("short", "shorter than the 8-byte header length"),
    ("length", "runs past the end"),
    ("json", "not valid JSON"),
    ("list", "not a JSON object"),
    ("dtype", "unknown dtype"),
    ("outside", "lie outside"),
    ("size", "does not fill"),
    ("overlap", "overlap"),
    ("metadata", "__metadata__ is not an object of strings"),
])
def test_bad_files_are_refused_with_what_is_wrong(tmp_path, case, message):
    entry = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    path = {
        "short": lambda: (tmp_path / "short.safetensors", (tmp_path / "short.safetensors").write_bytes(b"\x01\x02"))[0],
        "length": lambda: header_file(tmp_path, {"t": entry}, b"\0" * 8, length=10_000),
        "json": lambda: header_file(tmp_path, b"{not json", b""),
        "list": lambda: header_file(tmp_path, [1, 2]),
        "dtype": lambda: header_file(tmp_path, {"t": dict(entry, dtype="F7")}, b"\0" * 8),
        "outside": lambda: header_file(tmp_path, {"t": dict(entry, data_offsets=[0, 800])}, b"\0" * 8),
        "size": lambda: header_file(tmp_path, {"t": dict(entry, shape=[3])}, b"\0" * 8),
        "overlap": lambda: header_file(tmp_path, {"t": entry, "u": dict(entry, data_offsets=[4, 12])}, b"\0" * 12),
        "metadata": lambda: header_file(tmp_path, {"__metadata__": {"k": 1}}),
    }[case]()
    with pytest.raises(TraceFileError, match=message):
        safetensors_file.read(path, backend="native")
    with pytest.raises(TraceFileError):
        safetensors_file.read(path, backend="auto")


def test_a_missing_file_is_a_trace_file_error(tmp_path):
    with pytest.raises(TraceFileError, match="cannot read the file"):
        safetensors_file.read(tmp_path / "absent.safetensors")


def test_writing_never_leaves_a_partial_file(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"old")
    with pytest.raises(TraceFileError):
        safetensors_file.write(path, {"t": np.array(["text"])}, {}, backend="native")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]
