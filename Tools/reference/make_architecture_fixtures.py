#!/usr/bin/env python3
"""Writes the parity fixtures of the architectures beyond BERT (PyTorch + transformers, eager attention).

Run from the repository root with a venv that has torch, transformers and safetensors:
    python Tools/reference/make_architecture_fixtures.py
It writes small files under Tests/AttnModelsTests/Fixtures/architectures/ (well under 2 MB):

- for each architecture NAME, a random-initialised tiny checkpoint twice, with the same values:
  NAME/ (config.json + model.safetensors) and NAME-bin/ (config.json + pytorch_model.bin, written by
  torch.save of the state dict), and NAME.expected.safetensors with what PyTorch computes on fixed
  ids: the attention of every stack, hidden states, per-head queries/keys/values and the logits.
  Some .bin files exercise the PyTorch reader on purpose: float16 and bfloat16 storages, views with
  storage offsets into one shared storage, a transposed (non-contiguous) view saved as it is, tied
  weights sharing a storage, and a checkpoint sharded with pytorch_model.bin.index.json.
- pickle/: .bin files the reader must refuse: a pickle that calls os.system, a zip without
  data.pkl, and the legacy (pre-zip) torch.save format.

Expectation files are safetensors: tensors by name (`encoder.attention`, `cross.query`, `logits`, …)
and the inputs as JSON in the metadata under "fixture".
"""
import json
import os
import shutil
import zipfile

import torch
from safetensors.torch import save_file
import transformers
from transformers import (AlbertConfig, AlbertForMaskedLM, BartConfig, BartForConditionalGeneration,
                          DistilBertConfig, DistilBertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
                          MarianConfig, MarianMTModel, MT5Config, MT5ForConditionalGeneration, RobertaConfig, RobertaForMaskedLM,
                          RobertaForSequenceClassification, T5Config, T5ForConditionalGeneration)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "architectures")
# The command the malicious pickle would run if a reader executed it; the tests check that this file
# never appears.
MALICIOUS_MARKER = "/tmp/attnlab-malicious-pickle-ran"

# Sizes shared by every tiny model: hidden 32, 2 layers, 4 heads, feed-forward 37, vocabulary < 100.
HIDDEN, LAYERS, HEADS, FFN, VOCAB, POSITIONS = 32, 2, 4, 37, 99, 40


# ---------------------------------------------------------------------------------------------
# Capture helpers


class QKV:
    """Forward hooks that keep linear projections' outputs split into heads: `[heads, n, d]` each."""

    def __init__(self, heads):
        self.heads = heads
        self.store = {}

    def linear(self, module, key, index):
        def hook(_module, _inputs, output):
            n, width = output.shape[1], output.shape[2]
            self.store.setdefault(key, {})[index] = (
                output[0].view(n, self.heads, width // self.heads).transpose(0, 1).detach().clone())
        module.register_forward_hook(hook)

    def fused(self, module, keys, index):
        """A fused projection (GPT-2's c_attn): its output split into len(keys) equal parts."""
        def hook(_module, _inputs, output):
            for key, part in zip(keys, output.split(output.shape[-1] // len(keys), dim=-1)):
                n, width = part.shape[1], part.shape[2]
                self.store.setdefault(key, {})[index] = (
                    part[0].reshape(n, self.heads, width // self.heads).transpose(0, 1).detach().clone())
        module.register_forward_hook(hook)

    def tensors(self):
        return {key: torch.stack([layers[i] for i in sorted(layers)]).contiguous()
                for key, layers in self.store.items()}


def stacked(items):
    return torch.stack([x[0] for x in items]).contiguous()


def round_to(model, dtype):
    """Rounds every parameter and buffer to `dtype` and back, so that a float32 safetensors file and
    a `dtype` .bin file hold the same values (and share one expectation file)."""
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(dtype).float())


def save_expected(name, tensors, fixture):
    path = os.path.join(FIXTURES, f"{name}.expected.safetensors")
    tensors = {k: v.detach().float().contiguous() for k, v in tensors.items()}
    save_file(tensors, path, metadata={"fixture": json.dumps(fixture, sort_keys=True)})
    print(f"wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")


def save_checkpoints(model, name, dtype=torch.float16, bin_dtype=torch.float32, state=None, shards=None,
                     write_bin=True):
    """NAME/ with safetensors in `dtype` (the values were rounded to it), and NAME-bin/ with
    pytorch_model.bin in `bin_dtype` (or shards plus an index)."""
    folder = os.path.join(FIXTURES, name)
    shutil.rmtree(folder, ignore_errors=True)
    # save_pretrained drops the tied copies (lm_head.weight, …) as transformers' own files do.
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    model.float()
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    if write_bin:
        bin_folder = os.path.join(FIXTURES, f"{name}-bin")
        shutil.rmtree(bin_folder, ignore_errors=True)
        os.makedirs(bin_folder)
        shutil.copy(os.path.join(folder, "config.json"), bin_folder)
        if state is None:
            # Converting the module keeps tied weights as one storage, as torch.save of a real model does.
            state = model.to(bin_dtype).state_dict()
        else:
            state = {k: v.to(bin_dtype) if v.is_floating_point() else v for k, v in state.items()}
        if shards is None:
            torch.save(state, os.path.join(bin_folder, "pytorch_model.bin"))
        else:
            names = list(state)
            weight_map = {}
            for i in range(shards):
                file = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
                part = {k: state[k] for k in names[i::shards]}
                torch.save(part, os.path.join(bin_folder, file))
                weight_map.update({k: file for k in part})
            with open(os.path.join(bin_folder, "pytorch_model.bin.index.json"), "w") as f:
                json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        model.float()
        size += sum(os.path.getsize(os.path.join(bin_folder, f)) for f in os.listdir(bin_folder))
    print(f"wrote {os.path.relpath(folder, ROOT)}{' and ' + name + '-bin' if write_bin else ''} ({size} bytes)")


def encoder_outputs(out, qkv):
    tensors = {"attention": stacked(out.attentions), "hidden": stacked(out.hidden_states)}
    tensors.update(qkv.tensors())
    return tensors


def seq2seq_outputs(out, qkv):
    tensors = {
        "encoder.attention": stacked(out.encoder_attentions),
        "decoder.attention": stacked(out.decoder_attentions),
        "cross.attention": stacked(out.cross_attentions),
        "encoder.hidden": stacked(out.encoder_hidden_states),
        "decoder.hidden": stacked(out.decoder_hidden_states),
        "logits": out.logits[0],
    }
    tensors.update(qkv.tensors())
    return tensors


# ---------------------------------------------------------------------------------------------
# Architectures


def gpt2():
    """GPT-2 with its LM head; the .bin holds float16 storages and the tied lm_head.weight, which
    shares wte's storage."""
    torch.manual_seed(10)
    config = GPT2Config(vocab_size=VOCAB, n_positions=POSITIONS, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS,
                        n_inner=FFN, activation_function="gelu_new", initializer_range=0.3,
                        attn_implementation="eager")
    model = GPT2LMHeadModel(config).eval()
    round_to(model, torch.float16)
    qkv = QKV(HEADS)
    for i, block in enumerate(model.transformer.h):
        qkv.fused(block.attn.c_attn, ["query", "key", "value"], i)
    ids = [5, 17, 45, 98, 3, 64, 21]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    tensors = encoder_outputs(out, qkv)
    tensors["logits"] = out.logits[0]
    save_checkpoints(model, "gpt2", bin_dtype=torch.float16)
    save_expected("gpt2", tensors, {"ids": ids})


def roberta():
    """RoBERTa with a classification head, on a pair and on the same pair padded (position ids start
    after the padding index, and padding keeps the padding index); and a masked-LM RoBERTa."""
    torch.manual_seed(11)
    config = RobertaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                           intermediate_size=FFN, max_position_embeddings=POSITIONS + 2, type_vocab_size=1,
                           initializer_range=0.3, pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=2,
                           id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1},
                           attn_implementation="eager")
    model = RobertaForSequenceClassification(config).eval()
    round_to(model, torch.float16)
    qkv = QKV(HEADS)
    for i, layer in enumerate(model.roberta.encoder.layer):
        for kind in ("query", "key", "value"):
            qkv.linear(getattr(layer.attention.self, kind), kind, i)
    ids = [0, 31, 47, 88, 2, 2, 13, 9, 2]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    tensors = encoder_outputs(out, qkv)
    tensors["logits"] = out.logits[0]
    save_checkpoints(model, "roberta")
    save_expected("roberta", tensors, {"ids": ids})

    padded = ids + [1, 1, 1]
    mask = [1] * len(ids) + [0, 0, 0]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([padded]), attention_mask=torch.tensor([mask]),
                    output_attentions=True, output_hidden_states=True)
    save_expected("roberta.padded", {"attention": stacked(out.attentions), "hidden": stacked(out.hidden_states),
                                     "logits": out.logits[0]}, {"ids": padded, "attention_mask": mask})

    torch.manual_seed(12)
    config = RobertaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                           intermediate_size=FFN, max_position_embeddings=POSITIONS + 2, type_vocab_size=1,
                           initializer_range=0.3, pad_token_id=1, attn_implementation="eager")
    model = RobertaForMaskedLM(config).eval()
    round_to(model, torch.float16)
    ids = [0, 31, 4, 88, 2]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    save_checkpoints(model, "roberta-mlm", write_bin=False)
    save_expected("roberta-mlm", {"attention": stacked(out.attentions), "hidden": stacked(out.hidden_states),
                                  "logits": out.logits[0]}, {"ids": ids})


def distilbert():
    """DistilBERT with a classification head; in the .bin, one weight is a transposed view saved as
    it is (strides (1, rows)), as some conversion scripts leave them."""
    torch.manual_seed(13)
    config = DistilBertConfig(vocab_size=VOCAB, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
                              max_position_embeddings=POSITIONS, initializer_range=0.3, num_labels=3,
                              id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2},
                              attn_implementation="eager")
    model = DistilBertForSequenceClassification(config).eval()
    round_to(model, torch.float16)
    qkv = QKV(HEADS)
    for i, layer in enumerate(model.distilbert.transformer.layer):
        for kind, module in (("query", "q_lin"), ("key", "k_lin"), ("value", "v_lin")):
            qkv.linear(getattr(layer.attention, module), kind, i)
    ids = [2, 17, 45, 98, 3, 8, 64, 3]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    tensors = encoder_outputs(out, qkv)
    tensors["logits"] = out.logits[0]
    state = dict(model.state_dict())
    name = "distilbert.transformer.layer.0.attention.q_lin.weight"
    state[name] = state[name].t().contiguous().t()
    assert not state[name].is_contiguous()
    save_checkpoints(model, "distilbert", state=state)
    save_expected("distilbert", tensors, {"ids": ids})


def albert():
    """ALBERT with its masked-LM head: factorised embeddings (16 wide) and one shared layer."""
    torch.manual_seed(14)
    config = AlbertConfig(vocab_size=VOCAB, embedding_size=16, hidden_size=HIDDEN, num_hidden_layers=3,
                          num_hidden_groups=1, inner_group_num=1, num_attention_heads=HEADS, intermediate_size=FFN,
                          max_position_embeddings=POSITIONS, initializer_range=0.3, hidden_act="gelu_new",
                          attn_implementation="eager")
    model = AlbertForMaskedLM(config).eval()
    round_to(model, torch.float16)
    qkv = QKV(HEADS)
    layer = model.albert.encoder.albert_layer_groups[0].albert_layers[0]
    calls = {"query": 0, "key": 0, "value": 0}

    def shared_hook(kind):
        def hook(_module, _inputs, output):
            n = output.shape[1]
            qkv.store.setdefault(kind, {})[calls[kind]] = output[0].view(n, HEADS, HIDDEN // HEADS).transpose(0, 1).clone()
            calls[kind] += 1
        return hook

    for kind in ("query", "key", "value"):
        getattr(layer.attention, kind).register_forward_hook(shared_hook(kind))
    ids = [2, 11, 12, 4, 14, 3]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    tensors = encoder_outputs(out, qkv)
    tensors["logits"] = out.logits[0]
    save_checkpoints(model, "albert")
    save_expected("albert", tensors, {"ids": ids})


def seq2seq_hooks(qkv, encoder_layers, decoder_layers, self_name, cross_name, names):
    for i, layer in enumerate(encoder_layers):
        attention = self_name(layer)
        for kind, module in zip(("query", "key", "value"), names):
            qkv.linear(getattr(attention, module), f"encoder.{kind}", i)
    for i, layer in enumerate(decoder_layers):
        attention = self_name(layer)
        for kind, module in zip(("query", "key", "value"), names):
            qkv.linear(getattr(attention, module), f"decoder.{kind}", i)
        attention = cross_name(layer)
        for kind, module in zip(("query", "key", "value"), names):
            qkv.linear(getattr(attention, module), f"cross.{kind}", i)


def bart():
    """BART for conditional generation, teacher-forced, plain and with a padded encoder input; the
    .bin stores encoder layer 0's q/k/v projections as views into one shared storage (offsets)."""
    torch.manual_seed(15)
    config = BartConfig(vocab_size=VOCAB, d_model=HIDDEN, encoder_layers=LAYERS, decoder_layers=LAYERS,
                        encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=FFN,
                        decoder_ffn_dim=FFN + 4, max_position_embeddings=POSITIONS, init_std=0.3,
                        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                        forced_eos_token_id=2, scale_embedding=False, attn_implementation="eager")
    model = BartForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.final_logits_bias.normal_(0, 0.5)
    round_to(model, torch.float16)
    qkv = QKV(HEADS)
    seq2seq_hooks(qkv, model.model.encoder.layers, model.model.decoder.layers,
                  lambda l: l.self_attn, lambda l: l.encoder_attn, ("q_proj", "k_proj", "v_proj"))
    ids = [0, 11, 45, 67, 23, 2]
    decoder_ids = [2, 0, 11, 46, 67]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([decoder_ids]),
                    output_attentions=True, output_hidden_states=True)
    tensors = seq2seq_outputs(out, qkv)

    state = dict(model.state_dict())
    prefix = "model.encoder.layers.0.self_attn."
    fused = torch.cat([state[prefix + p + ".weight"] for p in ("q_proj", "k_proj", "v_proj")])
    for i, p in enumerate(("q_proj", "k_proj", "v_proj")):
        state[prefix + p + ".weight"] = fused[i * HIDDEN:(i + 1) * HIDDEN]
    save_checkpoints(model, "bart", state=state)
    save_expected("bart", tensors, {"ids": ids, "decoder_ids": decoder_ids})

    padded = ids + [1, 1]
    mask = [1] * len(ids) + [0, 0]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([padded]), attention_mask=torch.tensor([mask]),
                    decoder_input_ids=torch.tensor([decoder_ids]), output_attentions=True, output_hidden_states=True)
    save_expected("bart.padded", {"encoder.attention": stacked(out.encoder_attentions),
                                  "cross.attention": stacked(out.cross_attentions), "logits": out.logits[0]},
                  {"ids": padded, "attention_mask": mask, "decoder_ids": decoder_ids})


def marian():
    """MarianMT: sinusoidal positions, scaled embeddings, swish; the .bin holds bfloat16 storages
    and the sinusoidal tables that old checkpoints carry."""
    torch.manual_seed(16)
    config = MarianConfig(vocab_size=VOCAB, decoder_vocab_size=VOCAB, d_model=HIDDEN, encoder_layers=LAYERS,
                          decoder_layers=LAYERS, encoder_attention_heads=HEADS, decoder_attention_heads=HEADS,
                          encoder_ffn_dim=FFN, decoder_ffn_dim=FFN, max_position_embeddings=POSITIONS,
                          activation_function="swish", scale_embedding=True, init_std=0.3, pad_token_id=VOCAB - 1,
                          eos_token_id=0, decoder_start_token_id=VOCAB - 1, forced_eos_token_id=0,
                          share_encoder_decoder_embeddings=True, attn_implementation="eager")
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        model.final_logits_bias.normal_(0, 0.5)
    round_to(model, torch.bfloat16)
    with torch.no_grad():
        # The sinusoidal tables are computed, not learned: keep them exact, as MarianMT does.
        for positions in (model.model.encoder.embed_positions, model.model.decoder.embed_positions):
            positions.weight.copy_(positions.create_weight())
    qkv = QKV(HEADS)
    seq2seq_hooks(qkv, model.model.encoder.layers, model.model.decoder.layers,
                  lambda l: l.self_attn, lambda l: l.encoder_attn, ("q_proj", "k_proj", "v_proj"))
    ids = [31, 47, 5, 88, 0]
    decoder_ids = [VOCAB - 1, 12, 40, 7]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([decoder_ids]),
                    output_attentions=True, output_hidden_states=True)
    tensors = seq2seq_outputs(out, qkv)
    save_checkpoints(model, "marian", dtype=torch.bfloat16, bin_dtype=torch.bfloat16)
    save_expected("marian", tensors, {"ids": ids, "decoder_ids": decoder_ids})


def t5():
    """T5 (v1.0 style: ReLU, tied embeddings, so the decoder output is rescaled by d_model**-0.5)
    with d_kv × heads different from d_model; the .bin is sharded in two with an index."""
    torch.manual_seed(17)
    config = T5Config(vocab_size=VOCAB, d_model=HIDDEN, d_kv=6, d_ff=FFN, num_layers=LAYERS, num_decoder_layers=3,
                      num_heads=HEADS, relative_attention_num_buckets=8, relative_attention_max_distance=12,
                      feed_forward_proj="relu", initializer_factor=1.0, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0, attn_implementation="eager")
    model = T5ForConditionalGeneration(config).eval()
    round_to(model, torch.float16)
    qkv = QKV(HEADS)
    seq2seq_hooks(qkv, model.encoder.block, model.decoder.block,
                  lambda b: b.layer[0].SelfAttention, lambda b: b.layer[1].EncDecAttention, ("q", "k", "v"))
    # Long enough for relative distances beyond the exact buckets (4) and beyond max_distance (12).
    ids = [13, 27, 5, 88, 42, 9, 71, 33, 64, 8, 19, 56, 23, 91, 4, 1]
    decoder_ids = [0, 13, 27, 5, 88, 42, 9]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([decoder_ids]),
                    output_attentions=True, output_hidden_states=True)
    tensors = seq2seq_outputs(out, qkv)
    save_checkpoints(model, "t5", bin_dtype=torch.float16, shards=2)
    save_expected("t5", tensors, {"ids": ids, "decoder_ids": decoder_ids})

    torch.manual_seed(18)
    config = T5Config(vocab_size=VOCAB, d_model=HIDDEN, d_kv=8, d_ff=FFN, num_layers=1, num_heads=HEADS,
                      relative_attention_num_buckets=8, relative_attention_max_distance=12,
                      feed_forward_proj="gated-gelu", tie_word_embeddings=False, initializer_factor=1.0,
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, attn_implementation="eager")
    model = T5ForConditionalGeneration(config).eval()
    round_to(model, torch.float16)
    ids = ids[:9]
    decoder_ids = decoder_ids[:4]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([decoder_ids]),
                    output_attentions=True, output_hidden_states=True)
    save_checkpoints(model, "t5-gated", write_bin=False)
    save_expected("t5-gated", {"encoder.attention": stacked(out.encoder_attentions),
                               "decoder.attention": stacked(out.decoder_attentions),
                               "cross.attention": stacked(out.cross_attentions),
                               "decoder.hidden": stacked(out.decoder_hidden_states), "logits": out.logits[0]},
                  {"ids": ids, "decoder_ids": decoder_ids})

    # mT5: T5 v1.1's layers, and never a rescaled output, whatever its config says about ties.
    torch.manual_seed(19)
    config = MT5Config(vocab_size=VOCAB, d_model=HIDDEN, d_kv=8, d_ff=FFN, num_layers=1, num_heads=HEADS,
                       relative_attention_num_buckets=8, relative_attention_max_distance=12, initializer_factor=1.0,
                       pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, attn_implementation="eager")
    model = MT5ForConditionalGeneration(config).eval()
    round_to(model, torch.float16)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([decoder_ids]),
                    output_attentions=True, output_hidden_states=True)
    save_checkpoints(model, "mt5", write_bin=False)
    save_expected("mt5", {"encoder.attention": stacked(out.encoder_attentions),
                          "cross.attention": stacked(out.cross_attentions),
                          "decoder.hidden": stacked(out.decoder_hidden_states), "logits": out.logits[0]},
                  {"ids": ids, "decoder_ids": decoder_ids})


# ---------------------------------------------------------------------------------------------
# Files the PyTorch reader must refuse


class RunsACommand:
    """Pickles as a call to os.system: what a malicious checkpoint does. Pickling it runs nothing."""

    def __reduce__(self):
        return (os.system, (f"touch {MALICIOUS_MARKER}",))


def refused_files():
    folder = os.path.join(FIXTURES, "pickle")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    torch.save({"embeddings.word_embeddings.weight": torch.zeros(2, 2), "payload": RunsACommand()},
               os.path.join(folder, "malicious.bin"))
    with zipfile.ZipFile(os.path.join(folder, "no-pickle.bin"), "w") as z:
        for name, data in (("archive/version", b"3\n"), ("archive/data/0", b"\0" * 16)):
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    torch.save({"weight": torch.arange(4, dtype=torch.float32)}, os.path.join(folder, "legacy.bin"),
               _use_new_zipfile_serialization=False)
    # A well-formed small state dict for the reader's own tests: float32/float16/bfloat16/int64
    # tensors, a scalar, an empty tensor, a view with an offset and a transposed view.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
    state = {
        "f32": base,
        "f16": base.half(),
        "bf16": base.bfloat16(),
        "i64": torch.arange(5),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "row2": base[2],
        "transposed": base.t(),
        "strided": base[:, ::2],
    }
    torch.save(state, os.path.join(folder, "small.bin"))
    for file in sorted(os.listdir(folder)):
        print(f"wrote pickle/{file} ({os.path.getsize(os.path.join(folder, file))} bytes)")


def parameter_counts():
    """parameters.json: what PyTorch's `num_parameters()` counts for each fixture folder (tied
    weights once), loaded back with the class its config.json names."""
    import sys
    counts = {}
    for name in sorted(os.listdir(FIXTURES)):
        config = os.path.join(FIXTURES, name, "config.json")
        if not os.path.exists(config):
            continue
        with open(config) as f:
            architecture = json.load(f)["architectures"][0]
        model = getattr(transformers, architecture).from_pretrained(os.path.join(FIXTURES, name))
        counts[name] = model.num_parameters()
    with open(os.path.join(FIXTURES, "parameters.json"), "w") as f:
        json.dump(counts, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"wrote parameters.json for {len(counts)} folders")


if __name__ == "__main__":
    import sys
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    if sys.argv[1:] == ["--parameters"]:
        parameter_counts()
        sys.exit(0)
    os.makedirs(FIXTURES, exist_ok=True)
    gpt2()
    roberta()
    distilbert()
    albert()
    bart()
    marian()
    t5()
    refused_files()
    parameter_counts()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(FIXTURES) for f in files)
    print(f"total {total} bytes")
