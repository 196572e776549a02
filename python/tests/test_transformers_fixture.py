"""from_transformers on a real transformers run: all-MiniLM-L6-v2 on the paraphrase pair, recorded by
Tools/reference/make_python_fixtures.py (outputs, encoding and the tokenizer's answers), gives the
trace `attnlab trace` gives natively: the same tokens, attention within 1e-5."""
import json
from pathlib import Path

import numpy as np

import attnlab
from conftest import EMINEM_A, EMINEM_B, MINILM

FIXTURE = Path(__file__).parent / "fixtures" / "minilm-pair.transformers.npz"


class RecordedTokenizer:
    """Replays what the BertTokenizerFast answered when the fixture was made."""

    def __init__(self, recorded):
        self.recorded = recorded
        self.all_special_ids = recorded["all_special_ids"]
        self.name_or_path = MINILM

    def convert_ids_to_tokens(self, ids):
        return [self.recorded["tokens"][str(int(i))] for i in ids]

    def convert_tokens_to_string(self, tokens):
        (token,) = tokens
        return self.recorded["strings"][token]


class RecordedEncoding(dict):
    def __init__(self, arrays, recorded):
        super().__init__(arrays)
        self.recorded = recorded

    def word_ids(self, index=0):
        return self.recorded["word_ids"]

    def sequence_ids(self, index=0):
        return self.recorded["sequence_ids"]


def test_minilm_pair_matches_the_native_trace(binary):
    fixture = np.load(FIXTURE)
    recorded = json.loads(str(fixture["tokenizer"]))
    assert (recorded["text"], recorded["pair"]) == (EMINEM_A, EMINEM_B)
    encoding = RecordedEncoding({k: fixture[k] for k in ("input_ids", "token_type_ids", "attention_mask", "offset_mapping")},
                                recorded)
    outputs = {"attentions": tuple(fixture["attentions"])}
    imported = attnlab.from_transformers(outputs, RecordedTokenizer(recorded), encoding, text=EMINEM_A, pair=EMINEM_B)
    native = attnlab.trace(MINILM, EMINEM_A, pair=EMINEM_B)
    assert [t.to_json() for t in imported.tokens] == [t.to_json() for t in native.tokens]
    assert imported.token_type_ids == native.token_type_ids
    difference = np.abs(imported.attention["encoder"] - native.attention["encoder"]).max()
    assert difference < 1e-5, f"attention differs by {difference}"
