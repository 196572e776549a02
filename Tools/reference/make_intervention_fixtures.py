#!/usr/bin/env python3
"""Writes the parity fixtures of interventions: each intervention kind applied with PyTorch forward
hooks on the tiny model of every architecture (and on all-MiniLM-L6-v2), and what PyTorch then
computes.

Run from the repository root with the reference venv (torch, transformers, safetensors), after
make_architecture_fixtures.py:
    python Tools/reference/make_intervention_fixtures.py
It writes Tests/AttnModelsTests/Fixtures/interventions/NAME.CASE.safetensors: the attention of every
stack, the last hidden state (and logits when the model has a head) under the intervention, with
the case as JSON in the metadata under "case" (what AttnLab's test rebuilds as site edits).

transformers 5 has no head_mask, so the sites are reached with hooks, as TransformerLens reaches
its hook points:
- a head's output (α·v before the output projection): a forward pre-hook on the output projection
  (its input is the heads' outputs side by side, head h in columns h·d … (h+1)·d);
- the attention scores before the softmax: every eager attention in transformers calls
  `nn.functional.softmax(attn_weights, dim=-1)`; a wrapper of that function, told by a pre-hook on
  the attention module which stack and layer is running, sets the cut edges to the dtype's minimum
  (as masks do) before the softmax renormalises the row;
- the residual stream entering a layer: a forward pre-hook on the layer (its first argument).
"""
import json
import os

import torch
import transformers
from safetensors.torch import load_file, save_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARCHITECTURES = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "architectures")
OUT = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "interventions")


def modules(model, name):
    """Per stack, per layer application: (attention module, output projection, layer module)."""
    def get(path):
        module = model
        for part in path.split("."):
            module = module[int(part)] if part.isdigit() else getattr(module, part)
        return module

    def base(prefixes):
        for prefix in prefixes:
            try:
                get(prefix.rstrip(".")) if prefix else None
                return prefix
            except AttributeError:
                continue
        return ""

    c = model.config
    if name == "gpt2":
        p = base(["transformer."])
        return {"encoder": [(get(f"{p}h.{i}.attn"), get(f"{p}h.{i}.attn.c_proj"), get(f"{p}h.{i}")) for i in range(c.n_layer)]}
    if name in ("roberta", "bert", "minilm"):
        p = base(["roberta.", "bert.", ""])
        return {"encoder": [(get(f"{p}encoder.layer.{i}.attention.self"), get(f"{p}encoder.layer.{i}.attention.output.dense"),
                             get(f"{p}encoder.layer.{i}")) for i in range(c.num_hidden_layers)]}
    if name == "distilbert":
        p = base(["distilbert."])
        return {"encoder": [(get(f"{p}transformer.layer.{i}.attention"), get(f"{p}transformer.layer.{i}.attention.out_lin"),
                             get(f"{p}transformer.layer.{i}")) for i in range(c.n_layers)]}
    if name == "albert":
        p = base(["albert."])
        apps = []
        inner = c.inner_group_num
        for depth in range(c.num_hidden_layers):
            group = depth * c.num_hidden_groups // c.num_hidden_layers
            for i in range(inner):
                q = f"{p}encoder.albert_layer_groups.{group}.albert_layers.{i}."
                apps.append((get(q + "attention"), get(q + "attention.dense"), get(q.rstrip("."))))
        return {"encoder": apps}
    if name in ("bart", "marian"):
        p = "model."
        enc = [(get(f"{p}encoder.layers.{i}.self_attn"), get(f"{p}encoder.layers.{i}.self_attn.out_proj"), get(f"{p}encoder.layers.{i}"))
               for i in range(c.encoder_layers)]
        dec = [(get(f"{p}decoder.layers.{i}.self_attn"), get(f"{p}decoder.layers.{i}.self_attn.out_proj"), get(f"{p}decoder.layers.{i}"))
               for i in range(c.decoder_layers)]
        cross = [(get(f"{p}decoder.layers.{i}.encoder_attn"), get(f"{p}decoder.layers.{i}.encoder_attn.out_proj"), None)
                 for i in range(c.decoder_layers)]
        return {"encoder": enc, "decoder": dec, "cross": cross}
    if name.startswith("t5") or name == "mt5":
        enc = [(get(f"encoder.block.{i}.layer.0.SelfAttention"), get(f"encoder.block.{i}.layer.0.SelfAttention.o"), get(f"encoder.block.{i}"))
               for i in range(c.num_layers)]
        dec = [(get(f"decoder.block.{i}.layer.0.SelfAttention"), get(f"decoder.block.{i}.layer.0.SelfAttention.o"), get(f"decoder.block.{i}"))
               for i in range(c.num_decoder_layers)]
        cross = [(get(f"decoder.block.{i}.layer.1.EncDecAttention"), get(f"decoder.block.{i}.layer.1.EncDecAttention.o"), None)
                 for i in range(c.num_decoder_layers)]
        return {"encoder": enc, "decoder": dec, "cross": cross}
    raise ValueError(name)


class Sites:
    """Hooks at the head-output, scores and residual sites of every layer application; `edits`
    (the case) says what to change, `record` which values to keep."""

    def __init__(self, model, name, heads):
        self.heads = heads
        self.edits = []
        self.record = set()
        self.kept = {}
        self.current = None
        self.counters = {}
        table = modules(model, name)
        # Modules a layer application reuses (ALBERT) are hooked once; the k-th call is application k.
        self.calls = {}
        for stack, apps in table.items():
            seen = set()
            for attention, output, layer in apps:
                for kind, module in (("attention", attention), ("output", output), ("layer", layer)):
                    if module is None or (kind, id(module)) in seen:
                        continue
                    seen.add((kind, id(module)))
                    module.register_forward_pre_hook(self.hook(stack, kind), with_kwargs=True)

    def reset(self):
        self.counters = {}
        self.kept = {}

    def index(self, stack, kind):
        key = (stack, kind)
        value = self.counters.get(key, 0)
        self.counters[key] = value + 1
        return value

    def hook(self, stack, kind):
        def pre(module, args, kwargs):
            layer = self.index(stack, kind)
            if kind == "attention":
                self.current = (stack, layer)
                return None
            site = "head" if kind == "output" else "resid"
            x = args[0] if args else kwargs["hidden_states"]
            x = x.clone()
            d = x.shape[-1] // self.heads
            for edit in self.edits:
                if edit["stack"] != stack or edit["layer"] != layer or edit.get("site") != site:
                    continue
                if edit["kind"] in ("zero", "scale", "constant"):
                    h = edit["head"]
                    cols = slice(h * d, (h + 1) * d)
                    if edit["kind"] == "zero":
                        x[0, :, cols] = 0
                    elif edit["kind"] == "scale":
                        x[0, :, cols] = x[0, :, cols] * edit["factor"]
                    else:
                        x[0, :, cols] = torch.tensor(edit["vector"])
                elif edit["kind"] == "copy":
                    source = edit["values"]
                    for t, s in edit["rows"]:
                        if site == "head":
                            for h in edit["heads"]:
                                x[0, t, h * d:(h + 1) * d] = source[s, h * d:(h + 1) * d]
                        else:
                            x[0, t] = source[s]
            if (stack, layer, site) in self.record:
                self.kept[(stack, layer, site)] = x[0].detach().clone()
            if args:
                return (x,) + tuple(args[1:]), kwargs
            kwargs["hidden_states"] = x
            return args, kwargs
        return pre

    def softmax(self, original):
        def wrapped(scores, *args, **kwargs):
            if self.current is not None:
                stack, layer = self.current
                for edit in self.edits:
                    if edit["kind"] == "cut" and edit["stack"] == stack and edit["layer"] == layer:
                        scores = scores.clone()
                        heads = edit["heads"] if edit["heads"] is not None else range(scores.shape[1])
                        for h in heads:
                            for q in edit["queries"]:
                                for k in edit["keys"]:
                                    scores[0, h, q, k] = torch.finfo(scores.dtype).min
            return original(scores, *args, **kwargs)
        return wrapped


def run(model, sites, ids, decoder_ids):
    sites.reset()
    kwargs = {"input_ids": torch.tensor([ids]), "output_attentions": True, "output_hidden_states": True}
    if decoder_ids is not None:
        kwargs["decoder_input_ids"] = torch.tensor([decoder_ids])
    original = torch.nn.functional.softmax
    torch.nn.functional.softmax = sites.softmax(original)
    try:
        with torch.no_grad():
            out = model(**kwargs)
    finally:
        torch.nn.functional.softmax = original
    return out


def tensors(out, decoder):
    result = {}
    if decoder:
        result["encoder.attention"] = torch.stack([a[0] for a in out.encoder_attentions])
        result["decoder.attention"] = torch.stack([a[0] for a in out.decoder_attentions])
        result["cross.attention"] = torch.stack([a[0] for a in out.cross_attentions])
        result["last_hidden"] = out.decoder_hidden_states[-1][0]
    else:
        result["encoder.attention"] = torch.stack([a[0] for a in out.attentions])
        result["last_hidden"] = out.hidden_states[-1][0]
    if hasattr(out, "logits") and out.logits is not None:
        result["logits"] = out.logits[0]
    return {k: v.detach().float().contiguous() for k, v in result.items()}


def cases(name, ids, decoder):
    """The interventions tried on each model: every kind, in the encoder (and the decoder and
    cross-attention of encoder-decoders)."""
    source_ids = list(ids)
    source_ids[2] = (source_ids[2] + 7) % 90 + 3
    yield "ablate", [{"kind": "zero", "stack": "encoder", "site": "head", "layer": 1, "head": 2}], None
    yield "scale", [{"kind": "scale", "stack": "encoder", "site": "head", "layer": 0, "head": 1, "factor": 0.5}], None
    yield "knockout", [{"kind": "cut", "stack": "encoder", "layer": 1, "heads": None, "queries": [3, 4], "keys": [1]}], None
    yield "knockout-head", [{"kind": "cut", "stack": "encoder", "layer": 0, "heads": [2], "queries": [0, 4], "keys": [1, 2]}], None
    yield "patch-head", [{"kind": "copy", "stack": "encoder", "site": "head", "layer": 0, "heads": [3],
                          "rows": [[t, t] for t in range(len(ids))]}], source_ids
    yield "patch-resid", [{"kind": "copy", "stack": "encoder", "site": "resid", "layer": 1, "rows": [[2, 2]]}], source_ids
    yield "mean", [{"kind": "mean", "stack": "encoder", "site": "head", "layer": 1, "head": 0}], None
    if decoder:
        yield "decoder", [{"kind": "zero", "stack": "decoder", "site": "head", "layer": 1, "head": 1},
                          {"kind": "zero", "stack": "cross", "site": "head", "layer": 0, "head": 2},
                          {"kind": "cut", "stack": "decoder", "layer": 0, "heads": None, "queries": [2], "keys": [0]},
                          {"kind": "cut", "stack": "cross", "layer": 1, "heads": [1], "queries": [1], "keys": [2, 3]}], None


def fixture(name, folder, model_class, heads, ids=None, given_source=None, only=None):
    if ids is None:
        from safetensors import safe_open
        with safe_open(os.path.join(ARCHITECTURES, f"{name}.expected.safetensors"), "pt") as f:
            inputs = json.loads(f.metadata()["fixture"])
        ids, decoder_ids = inputs["ids"], inputs.get("decoder_ids")
    else:
        decoder_ids = None
    path = folder if os.path.isabs(folder) else os.path.join(ARCHITECTURES, folder)
    model = model_class.from_pretrained(path, attn_implementation="eager").float().eval()
    if name == "marian":
        # The folder keeps the sinusoidal tables rounded to bfloat16 with the other weights; the
        # model computes them exactly, as AttnLab does.
        with torch.no_grad():
            for table in (model.model.encoder.embed_positions, model.model.decoder.embed_positions):
                table.weight.copy_(table.create_weight())
    sites = Sites(model, name, heads)
    os.makedirs(OUT, exist_ok=True)
    for case, edits, case_source in cases(name, ids, decoder_ids is not None):
        if only is not None and case not in only:
            continue
        source_ids = (given_source or case_source) if case_source else None
        sites.edits = []
        # Sources first: a patch copies what the source run had at the site.
        for edit in edits:
            if edit["kind"] == "copy":
                sites.record = {(edit["stack"], edit["layer"], edit["site"])}
                run(model, sites, source_ids, decoder_ids)
                edit["values"] = sites.kept[(edit["stack"], edit["layer"], edit["site"])]
            if edit["kind"] == "mean":
                sites.record = {(edit["stack"], edit["layer"], "head")}
                run(model, sites, ids, decoder_ids)
                kept = sites.kept[(edit["stack"], edit["layer"], "head")]
                d = kept.shape[-1] // heads
                edit["kind"] = "constant"
                edit["vector"] = kept[:, edit["head"] * d:(edit["head"] + 1) * d].mean(dim=0).tolist()
        sites.record = set()
        sites.edits = edits
        out = run(model, sites, ids, decoder_ids)
        description = {"ids": ids, "decoder_ids": decoder_ids, "source_ids": source_ids,
                       "edits": [{k: v for k, v in e.items() if k != "values"} for e in edits]}
        path = os.path.join(OUT, f"{name}.{case}.safetensors")
        save_file(tensors(out, decoder_ids is not None), path, metadata={"case": json.dumps(description, sort_keys=True)})
        print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    fixture("gpt2", "gpt2", transformers.GPT2LMHeadModel, 4)
    fixture("roberta", "roberta", transformers.RobertaForSequenceClassification, 4)
    fixture("distilbert", "distilbert", transformers.DistilBertForSequenceClassification, 4)
    fixture("albert", "albert", transformers.AlbertForMaskedLM, 4)
    fixture("bart", "bart", transformers.BartForConditionalGeneration, 4)
    fixture("marian", "marian", transformers.MarianMTModel, 4)
    fixture("t5", "t5", transformers.T5ForConditionalGeneration, 4)
    # all-MiniLM-L6-v2 on the case study's pair: "terrific", patched from "sick".
    minilm = os.path.join(ROOT, "Models", "sentence-transformers", "all-MiniLM-L6-v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    a = "the eminem tune was totally awesome."
    terrific = tokenizer(a, "dude, that song from eminem was terrific!")["input_ids"]
    sick = tokenizer(a, "dude, that song from eminem was sick!")["input_ids"]
    fixture("minilm", minilm, transformers.BertModel, 12, ids=terrific, given_source=sick, only={"ablate", "knockout", "patch-head"})
