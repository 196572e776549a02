"""Trace files: what the binary writes reads into numpy, and what Python writes the binary reads."""
import json

import numpy as np
import pytest

import attnlab
from attnlab import Token, Trace, TraceFileError
from conftest import EMINEM_A, EMINEM_B, MINILM, run_binary


def test_a_trace_from_the_binary(eminem_file, backend):
    trace = attnlab.load(eminem_file, backend=backend)
    attention = trace.attention["encoder"]
    assert attention.shape == (6, 12, 21, 21) and attention.dtype == np.float32
    assert np.allclose(attention.sum(-1), 1, atol=1e-5)
    assert trace.query["encoder"].shape == trace.key["encoder"].shape == trace.value["encoder"].shape == (6, 12, 21, 32)
    assert trace.hidden["encoder"].shape == (7, 21, 384)
    assert [t.text for t in trace.tokens][:4] == ["[CLS]", "the", "emi", "##nem"]
    nem = trace.tokens[3]
    assert (nem.display, nem.id, nem.start, nem.end, nem.word, nem.segment, nem.special) == ("nem", 25832, 7, 10, 1, 0, False)
    assert nem["display"] == "nem"
    assert trace.tokens[0].special and trace.tokens[-1].segment == 1 and trace.is_pair
    assert trace.token_type_ids == [0] * 10 + [1] * 11
    assert trace.inputs == {"a": EMINEM_A, "b": EMINEM_B}
    assert trace.outputs["similarity"] == pytest.approx(0.679, abs=1e-3)
    assert trace.provenance["model"] == MINILM and trace.provenance["architecture"] == "bert"
    assert sorted(trace.provenance["capture"]) == ["hidden", "qkv"]
    assert "tokens (21): [CLS] the emi ##nem" in repr(trace)


def test_saving_a_loaded_trace_keeps_everything(eminem_file, tmp_path, backend):
    original = attnlab.load(eminem_file)
    copy = attnlab.load(original.save(tmp_path / "copy.safetensors", backend=backend))
    for what in ("attention", "query", "key", "value", "hidden"):
        assert np.array_equal(getattr(copy, what)["encoder"], getattr(original, what)["encoder"])
    assert copy.geometry["encoder"]["key_value_heads"] == 12
    for field in ("tokens", "token_type_ids", "inputs", "outputs", "provenance", "geometry"):
        assert getattr(copy, field) == getattr(original, field), field


def test_the_binary_reads_what_python_writes(eminem_file, binary, tmp_path, backend):
    """view, figure and diff accept a file Python wrote, and diff finds it equal to the original."""
    path = attnlab.load(eminem_file).save(tmp_path / "python.safetensors", backend=backend)
    for view in ("head", "model", "neuron"):
        run_binary(binary, "view", path, f"--view={view}", f"--out={tmp_path / (view + '.html')}")
        assert (tmp_path / f"{view}.html").stat().st_size > 10_000
    run_binary(binary, "figure", path, "--kind=heatmap", "--layer=5", "--head=4", f"--out={tmp_path / 'heatmap.svg'}")
    assert (tmp_path / "heatmap.svg").read_text().startswith("<?xml")
    comparisons = json.loads(run_binary(binary, "diff", eminem_file, path, "--top=72", "--format=json").stdout)
    assert len(comparisons[0]["heads"]) == 72
    assert all(h["js_divergence"] == 0 and h["l1"] == 0 for h in comparisons[0]["heads"])


def test_a_trace_written_from_plain_arrays(binary, tmp_path, backend):
    """The import format: attention and token strings are enough."""
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(2, 3, 4, 4))
    attention = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    trace = Trace(attention, ["[CLS]", "hello", "world", "[SEP]"])
    assert trace.inputs == {"a": "[CLS] hello world [SEP]"}
    path = trace.save(tmp_path / "plain.safetensors", backend=backend)
    run_binary(binary, "view", path, "--view=model", f"--out={tmp_path / 'model.html'}")
    again = attnlab.load(path)
    assert np.allclose(again.attention["encoder"], attention, atol=1e-7)
    assert again.tokens[1] == Token(text="hello")
    assert again.provenance["model"] == "imported"


def test_a_string_token_file_written_by_hand_is_read(tmp_path):
    """What the README's recipe writes with safetensors.torch: tokens as strings, nothing else."""
    from attnlab import safetensors_file
    path = tmp_path / "mine.safetensors"
    attention = np.full((1, 1, 2, 2), 0.5, np.float32)
    safetensors_file.write(path, {"encoder.attention": attention}, {"attnlab.trace": json.dumps({"tokens": ["a", "b"]})})
    trace = attnlab.load(path)
    assert [t.text for t in trace.tokens] == ["a", "b"] and trace.tokens[0].id == -1


@pytest.mark.parametrize("change, message", [
    (lambda t: t.attention.update(encoder=t.attention["encoder"][:, :, :3]), "has shape .* but the trace has 4 query"),
    (lambda t: t.attention["encoder"].__setitem__((0, 0, 0, 0), np.nan), "NaN or infinite"),
    (lambda t: t.query.update(encoder=np.zeros((2, 3, 5, 8))), "encoder.query has shape"),
    (lambda t: t.hidden.update(encoder=np.zeros((3, 5, 8))), "encoder.hidden has shape"),
    (lambda t: t.attention.update(cross=t.attention["encoder"]), "need decoder_tokens"),
    (lambda t: t.attention.update(middle=t.attention["encoder"]), "unknown stack"),
    (lambda t: t.outputs.update(similarity="high"), "similarity must be a number"),
    (lambda t: t.outputs.update(topk=[{"position": 1}]), "topk entries"),
    (lambda t: t.outputs.update(similarity=float("nan")), "cannot be stored as JSON"),
    (lambda t: t.key.update(encoder=np.zeros((2, 2, 4, 8))), "encoder.value|key/value heads"),
    (lambda t: (t.key.update(encoder=np.zeros((2, 2, 4, 8))), t.query.update(encoder=np.zeros((2, 3, 4, 8)))),
     "2 key/value heads for 3 query heads"),
    (lambda t: (t.key.update(encoder=np.zeros((2, 3, 4, 8))), t.query.update(encoder=np.zeros((2, 3, 4, 6)))),
     "query has width 6 but encoder.key has 8"),
    (lambda t: t.geometry.update(encoder={"scales": [1.0, 1.0]}), "lacks key_value_heads, causal"),
    (lambda t: t.geometry.update(encoder={"scales": [1.0], "key_value_heads": 3, "causal": False, "position_bias": False,
                                          "rotary": False}), "one finite score scale per layer"),
    (lambda t: t.provenance.update(model=object()), "cannot be stored as JSON"),
])
def test_saving_refuses_a_trace_attnlab_could_not_read(tmp_path, change, message):
    trace = Trace(np.full((2, 3, 4, 4), 0.25), ["a", "b", "c", "d"])
    change(trace)
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TraceFileError, match=message):
        trace.save(path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_geometry_and_grouped_query_heads_round_trip(binary, tmp_path, backend):
    """A stack's geometry (scales, key/value heads, causal, …) and keys and values with fewer heads
    than the queries, as AttnLab writes them for grouped-query models, survive Python and reach the views."""
    rng = np.random.default_rng(4)
    q, k = rng.normal(size=(2, 4, 5, 8)), rng.normal(size=(2, 2, 5, 8))
    scores = np.einsum("lhqd,lhkd->lhqk", q, np.repeat(k, 2, axis=1)) / np.sqrt(8) + np.triu(np.full((5, 5), -1e9), 1)
    attention = np.exp(scores - scores.max(-1, keepdims=True))
    attention /= attention.sum(-1, keepdims=True)
    geometry = {"encoder": {"scales": [8 ** -0.5] * 2, "key_value_heads": 2, "causal": True, "position_bias": False,
                            "rotary": True, "sliding_window": 4}}
    trace = Trace(attention, ["a", "b", "c", "d", "e"], query={"encoder": q}, key={"encoder": k},
                  value={"encoder": rng.normal(size=(2, 2, 5, 6))}, geometry=geometry)
    path = trace.save(tmp_path / "gqa.safetensors", backend=backend)
    again = attnlab.load(path, backend=backend)
    assert again.geometry["encoder"]["key_value_heads"] == 2 and again.geometry["encoder"]["sliding_window"] == 4
    assert again.key["encoder"].shape == (2, 2, 5, 8)
    run_binary(binary, "view", path, "--view=neuron", f"--out={tmp_path / 'neuron.html'}")


def test_a_safetensors_file_that_is_not_a_trace(tmp_path):
    from attnlab import safetensors_file
    path = tmp_path / "weights.safetensors"
    safetensors_file.write(path, {"w": np.zeros(3, np.float32)}, {})
    with pytest.raises(TraceFileError, match="not an AttnLab trace"):
        attnlab.load(path)


def test_a_newer_format_is_refused(tmp_path):
    from attnlab import safetensors_file
    path = tmp_path / "future.safetensors"
    document = {"format_version": 99, "tokens": ["a"]}
    safetensors_file.write(path, {"encoder.attention": np.ones((1, 1, 1, 1), np.float32)},
                           {"attnlab.trace": json.dumps(document)})
    with pytest.raises(TraceFileError, match="newer than this package reads"):
        attnlab.load(path)
