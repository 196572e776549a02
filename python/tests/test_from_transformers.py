"""attnlab.from_transformers on outputs built from numpy as transformers lays them out (no torch):
every stack, q/k/v as hooks give them, segments, words, spans, padding, the task's outputs; and the
trace it makes is one the binary views."""
import sys

import numpy as np
import pytest

import attnlab
from attnlab import TraceFileError
from chromium import run_cell
from conftest import run_binary

VOCAB = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "##s", "sat", "dog", "ran", "!", ".", "<s>", "</s>"]


class FakeTokenizer:
    """What from_transformers asks of a tokenizer, as a BERT tokenizer answers."""
    name_or_path = "fake/bert"
    all_special_ids = [0, 1, 2, 3, 12, 13]
    mask_token_id = 3

    def convert_ids_to_tokens(self, ids):
        return [VOCAB[int(i)] for i in ids]

    def convert_tokens_to_string(self, tokens):
        return " ".join(tokens).replace(" ##", "")

    def decode(self, ids):
        return self.convert_tokens_to_string(self.convert_ids_to_tokens(ids))


class FakeEncoding(dict):
    """A fast tokenizer's BatchEncoding: arrays by key, word and sequence ids per example."""

    def __init__(self, arrays, word_ids=None, sequence_ids=None):
        super().__init__(arrays)
        self._words, self._sequences = word_ids, sequence_ids

    def word_ids(self, index=0):
        return self._words[index]

    def sequence_ids(self, index=0):
        return self._sequences[index]


class Config:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class Model:
    def __init__(self, **config):
        self.config = Config(**config)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def attention_from(q, k, causal=False):
    """Attention probabilities [batch, heads, n, m] from q [batch, heads, n, d] and k."""
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    if causal:
        scores = scores + np.triu(np.full(scores.shape[-2:], -1e9), 1)
    return softmax(scores).astype(np.float32)


PAIR_IDS = [1, 4, 5, 6, 7, 2, 4, 8, 9, 10, 2]   # [CLS] the cat ##s sat [SEP] the dog ran ! [SEP]
PAIR_TYPES = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
PAIR_WORDS = [None, 0, 1, 1, 2, None, 0, 1, 2, 3, None]
PAIR_SEQUENCES = [None, 0, 0, 0, 0, None, 1, 1, 1, 1, None]
PAIR_OFFSETS = [(0, 0), (0, 3), (4, 7), (7, 8), (9, 12), (0, 0), (0, 3), (4, 7), (8, 11), (11, 12), (0, 0)]


def pair_encoding():
    return FakeEncoding({"input_ids": np.array([PAIR_IDS]), "token_type_ids": np.array([PAIR_TYPES]),
                         "attention_mask": np.ones((1, 11), np.int64), "offset_mapping": np.array([PAIR_OFFSETS])},
                        [PAIR_WORDS], [PAIR_SEQUENCES])


def pair_outputs(layers=2, heads=4, n=11, d=8, seed=0):
    """(outputs, q, k, v per layer as [batch, heads, n, d])."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.normal(size=(layers, 1, heads, n, d)).astype(np.float32) for _ in range(3))
    outputs = {"attentions": tuple(attention_from(q[i], k[i]) for i in range(layers)),
               "hidden_states": tuple(rng.normal(size=(1, n, heads * d)).astype(np.float32) for _ in range(layers + 1))}
    return outputs, q, k, v


def test_a_pair(tmp_path, binary):
    outputs, _, _, _ = pair_outputs()
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding())
    assert np.array_equal(trace.attention["encoder"], np.stack([a[0] for a in outputs["attentions"]]))
    assert trace.hidden["encoder"].shape == (3, 11, 32)
    assert [t.display for t in trace.tokens] == ["[CLS]", "the", "cat", "s", "sat", "[SEP]", "the", "dog", "ran", "!", "[SEP]"]
    assert [t.segment for t in trace.tokens] == PAIR_TYPES
    assert [t.word for t in trace.tokens] == PAIR_WORDS
    assert [t.special for t in trace.tokens] == [w is None for w in PAIR_WORDS]
    assert (trace.tokens[3].start, trace.tokens[3].end) == (7, 8) and trace.tokens[0].start is None
    assert trace.inputs == {"a": "the cats sat", "b": "the dog ran !"}
    assert trace.token_type_ids == PAIR_TYPES
    assert trace.provenance["model"] == "fake/bert" and trace.provenance["task"] == "attention"
    assert trace.provenance["capture"] == ["hidden"] and trace.provenance["dtype"] == "float32"
    path = trace.save(tmp_path / "pair.safetensors")
    run_binary(binary, "view", path, "--view=head", "--sentences=a-b", f"--out={tmp_path / 'head.html'}")
    run_binary(binary, "figure", path, "--kind=heatmap", "--mode=question-context", f"--out={tmp_path / 'f.png'}")


def test_segments_from_sequence_ids_when_type_ids_do_not_tell():
    """RoBERTa: `<s> A </s></s> B </s>`, all type ids 0; the second `</s>` opens sentence B."""
    ids = [12, 4, 5, 13, 13, 8, 9, 13]
    encoding = FakeEncoding({"input_ids": np.array([ids]), "token_type_ids": np.zeros((1, 8), int)},
                            [[None, 0, 1, None, None, 0, 1, None]], [[None, 0, 0, None, None, 1, 1, None]])
    attention = (np.full((1, 1, 8, 8), 1 / 8, np.float32),)
    trace = attnlab.from_transformers({"attentions": attention}, FakeTokenizer(), encoding)
    assert [t.segment for t in trace.tokens] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_a_plain_dict_encoding():
    """Without a fast tokenizer's methods: specials from the tokenizer, segments from type ids, no words."""
    encoding = {"input_ids": np.array([PAIR_IDS]), "token_type_ids": np.array([PAIR_TYPES])}
    outputs, _, _, _ = pair_outputs()
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), encoding, text="the cats sat", pair="the dog ran!")
    assert [t.special for t in trace.tokens] == [w is None for w in PAIR_WORDS]
    assert all(t.word is None for t in trace.tokens) and [t.segment for t in trace.tokens] == PAIR_TYPES
    assert trace.inputs == {"a": "the cats sat", "b": "the dog ran!"}


def test_padding_is_left_out():
    """The second example of a left-padded batch: its pads are neither queries nor keys."""
    rng = np.random.default_rng(1)
    ids = np.array([[1, 4, 5, 7, 2], [0, 0, 1, 8, 2]])
    mask = (ids != 0).astype(int)
    attentions = tuple(softmax(rng.normal(size=(2, 3, 5, 5))).astype(np.float32) for _ in range(2))
    encoding = FakeEncoding({"input_ids": ids, "attention_mask": mask},
                            [[None, 0, 1, 2, None], [None, None, None, 0, None]],
                            [[None, 0, 0, 0, None], [None, None, None, 0, None]])
    trace = attnlab.from_transformers({"attentions": attentions}, FakeTokenizer(), encoding, batch_index=1)
    assert [t.text for t in trace.tokens] == ["[CLS]", "dog", "[SEP]"]
    expected = np.stack([a[1][:, 2:, 2:] for a in attentions])
    assert np.array_equal(trace.attention["encoder"], expected)


@pytest.mark.parametrize("layout", ["projection", "heads"])
def test_queries_keys_values(layout, tmp_path):
    outputs, q, k, v = pair_outputs()
    if layout == "projection":   # what a forward hook on a Linear sees: [batch, n, heads × d]
        qkv = {name: [x[i].transpose(0, 2, 1, 3).reshape(1, 11, 32) for i in range(2)] for name, x in
               (("query", q), ("key", k), ("value", v))}
    else:
        qkv = {"encoder": {"query": list(q), "key": list(k), "value": list(v)}}
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding(), qkv=qkv)
    for name, x in (("query", q), ("key", k), ("value", v)):
        assert np.array_equal(getattr(trace, name)["encoder"], x[:, 0])
    assert sorted(trace.provenance["capture"]) == ["hidden", "qkv"]


def test_the_neuron_view_of_an_import_works_inline(tmp_path):
    """α = softmax(q·k/√d) here, so the page's own check of that holds, in a notebook's frame."""
    outputs, q, k, v = pair_outputs()
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding(),
                                      qkv={"query": list(q), "key": list(k), "value": list(v)})
    result = run_cell(trace.neuron_view(layer=0, heads=2)._repr_html_(), tmp_path)
    assert result["selftest"]["passed"], result["selftest"]
    gaps = [facts["softmaxGap"] for name, heads in result["selftest"]["facts"].items() if name.startswith("layer ")
            for facts in heads.values()]
    assert gaps and max(gaps) < 0.02


def test_grouped_query_keys_and_values_keep_their_heads(tmp_path, binary):
    outputs, q, k, v = pair_outputs()
    shared_k, shared_v = k[:, :, :2], v[:, :, :2]   # 2 key/value heads for 4 query heads
    projection = [shared_k[i].transpose(0, 2, 1, 3).reshape(1, 11, 16) for i in range(2)]
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding(),
                                      qkv={"query": list(q), "key": projection, "value": list(shared_v)})
    assert trace.query["encoder"].shape == (2, 4, 11, 8)
    assert np.array_equal(trace.key["encoder"], shared_k[:, 0])
    assert np.array_equal(trace.value["encoder"], shared_v[:, 0])
    path = trace.save(tmp_path / "gqa.safetensors")
    run_binary(binary, "view", path, "--view=neuron", f"--out={tmp_path / 'neuron.html'}")


def test_an_encoder_decoder(tmp_path, binary):
    rng = np.random.default_rng(2)
    n, m, vocabulary = 5, 4, len(VOCAB)
    encoding = {"input_ids": np.array([[4, 5, 7, 11, 13]])}
    decoder_ids = np.array([[12, 4, 8, 9]])
    outputs = {
        "encoder_attentions": tuple(softmax(rng.normal(size=(1, 2, n, n))) for _ in range(3)),
        "decoder_attentions": tuple(attention_from(*rng.normal(size=(2, 1, 2, m, 4)), causal=True) for _ in range(3)),
        "cross_attentions": tuple(softmax(rng.normal(size=(1, 2, m, n))) for _ in range(3)),
        "logits": rng.normal(size=(1, m, vocabulary)),
    }
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), encoding, decoder_encoding=decoder_ids, top_k=2)
    assert trace.stacks == ["encoder", "decoder", "cross"]
    assert trace.attention["cross"].shape == (3, 2, m, n)
    assert [t.text for t in trace.decoder_tokens] == ["<s>", "the", "dog", "ran"] and trace.decoder_tokens[0].special
    assert trace.inputs["decoder"] == "the dog ran"
    assert trace.provenance["task"] == "seq2seq"
    assert [p["position"] for p in trace.outputs["topk"]] == [0, 1, 2, 3]
    best = int(np.argmax(outputs["logits"][0, 2]))
    assert trace.outputs["topk"][2]["candidates"][0] == {
        "token": VOCAB[best], "id": best, "probability": pytest.approx(float(softmax(outputs["logits"][0, 2])[best]))}
    path = trace.save(tmp_path / "seq2seq.safetensors")
    run_binary(binary, "view", path, "--view=head", "--stack=cross", f"--out={tmp_path / 'cross.html'}")
    run_binary(binary, "figure", path, "--kind=cross", f"--out={tmp_path / 'cross.svg'}")


def test_a_classifier():
    outputs, _, _, _ = pair_outputs()
    outputs["logits"] = np.array([[0.5, 2.0, -1.0]], np.float32)
    model = Model(id2label={0: "contradiction", 1: "entailment", 2: "neutral"}, model_type="bert",
                  _name_or_path="fake/nli")
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding(), model=model)
    assert trace.provenance["task"] == "classification"
    assert (trace.provenance["model"], trace.provenance["architecture"]) == ("fake/nli", "bert")
    assert trace.outputs["labels"] == ["contradiction", "entailment", "neutral"]
    assert trace.outputs["probabilities"] == pytest.approx(softmax(np.array([0.5, 2.0, -1.0])).tolist())
    assert np.array_equal(trace.logits, [0.5, 2.0, -1.0])


def test_masked_and_causal_language_models():
    rng = np.random.default_rng(3)
    ids = [1, 4, 3, 7, 2]
    logits = rng.normal(size=(1, 5, len(VOCAB)))
    attention = (softmax(rng.normal(size=(1, 1, 5, 5))),)
    masked = attnlab.from_transformers({"attentions": attention, "logits": logits}, FakeTokenizer(),
                                       {"input_ids": np.array([ids])}, top_k=3)
    assert masked.provenance["task"] == "masked-lm"
    (prediction,) = masked.outputs["topk"]
    assert prediction["position"] == 2 and len(prediction["candidates"]) == 3
    probabilities = [c["probability"] for c in prediction["candidates"]]
    assert probabilities == sorted(probabilities, reverse=True)
    causal = attnlab.from_transformers({"attentions": (attention_from(*rng.normal(size=(2, 1, 1, 5, 4)), causal=True),),
                                        "logits": logits}, FakeTokenizer(), {"input_ids": np.array([[4, 5, 7, 9, 11]])})
    assert causal.provenance["task"] == "causal-lm" and len(causal.outputs["topk"]) == 5


def test_outputs_given_by_the_caller():
    outputs, _, _, _ = pair_outputs()
    trace = attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding(), task="similarity",
                                      task_outputs={"similarity": 0.81})
    assert trace.outputs == {"similarity": 0.81} and trace.provenance["task"] == "similarity"


class TorchLikeTensor:
    """Answers like a torch tensor (bfloat16 has no numpy dtype: it must be widened first)."""

    def __init__(self, array, dtype="torch.bfloat16"):
        self.array, self.dtype = np.asarray(array, np.float32), dtype

    def detach(self):
        return self

    def cpu(self):
        return self

    def float(self):
        return TorchLikeTensor(self.array, "torch.float32")

    def numpy(self):
        assert self.dtype != "torch.bfloat16", "numpy() on bfloat16 fails in torch"
        return self.array


def test_torch_tensors_are_read_without_importing_torch():
    outputs, _, _, _ = pair_outputs()
    wrapped = {"attentions": tuple(TorchLikeTensor(a) for a in outputs["attentions"])}
    encoding = pair_encoding()
    encoding["input_ids"] = TorchLikeTensor(np.array([PAIR_IDS]), "torch.int64")
    trace = attnlab.from_transformers(wrapped, FakeTokenizer(), encoding)
    assert np.array_equal(trace.attention["encoder"], np.stack([a[0] for a in outputs["attentions"]]))
    assert trace.provenance["dtype"] == "bfloat16"
    assert [t.id for t in trace.tokens] == PAIR_IDS
    assert "torch" not in sys.modules or hasattr(sys.modules["torch"], "Tensor")


@pytest.mark.parametrize("outputs, message", [
    ({}, "hold no attention: load the model with attn_implementation=\"eager\""),
    ({"attentions": ()}, "hold no attention"),
    ({"attentions": (None, None)}, "hold no attention"),
    ({"attentions": (np.full((1, 1, 11, 11), 1 / 11), None)}, "holds None for some layers"),
    ({"attentions": (np.full((1, 1, 11, 11), 1 / 11),), "cross_attentions": (np.full((1, 1, 3, 11), 1 / 11),)},
     "pass decoder_encoding="),
    ({"attentions": (np.full((1, 1, 10, 10), 0.1),)}, "is 10 × 10 \\(queries × keys\\) but the encodings have 11 × 11"),
])
def test_outputs_that_cannot_make_a_trace(outputs, message):
    with pytest.raises(TraceFileError, match=message):
        attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding())


def test_queries_that_do_not_split_into_heads():
    outputs, _, _, _ = pair_outputs()
    with pytest.raises(TraceFileError, match="each layer must be"):
        attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding(), qkv={"query": [np.zeros((11, 32))] * 2})
    with pytest.raises(TraceFileError, match="do not divide the 4 attention heads"):
        attnlab.from_transformers(outputs, FakeTokenizer(), pair_encoding(),
                                  qkv={"query": [np.zeros((1, 4, 11, 8))] * 2, "key": [np.zeros((1, 11, 24))] * 2})
