#!/usr/bin/env python3
"""Writes the parity fixtures of the Llama-family decoders (PyTorch + transformers, eager attention).

Run from the repository root with the reference venv (torch, transformers, safetensors, gguf), after
`make setup` has fetched Models/SmolLM2-135M-Instruct:
    python Tools/reference/make_llm_fixtures.py
It writes small files (about 400 KB) under Tests/AttnModelsTests/Fixtures/:

- architectures/NAME/ (config.json + model.safetensors in float16, values rounded to it) and
  architectures/NAME.expected.safetensors for tiny random models of each architecture, each with
  its features switched on:
    llama        grouped-query attention (4 query, 2 key/value heads), llama3 rope scaling, its own
                 lm_head, attention and MLP biases; config.json in transformers 4's layout
                 (`rope_theta` + `rope_scaling`), rewritten from what transformers 5 saves
    llama-yarn   yarn rope scaling, tied embeddings, head_dim 12 (not hidden / heads), config.json
                 in transformers 5's layout (`rope_parameters`)
    mistral      a sliding window of 3 over 9 tokens
    qwen2        q/k/v biases (none on o_proj), linear rope scaling, 6 query heads over 2 key/value heads
    qwen3        per-head RMSNorm of q and k before the rotation
    gemma        GeGLU, embeddings × √hidden, RMSNorm with 1 + w, multi-query attention (1 key/value head)
    phi3         fused qkv_proj and gate_up_proj, partial rotary (half of each head), a sliding window
  The expectations: the attention of every layer, hidden states, queries and keys after the
  rotation (and values), keys and values per key/value head, and the logits at every position.
  Norm weights are random too (initialisation leaves them at 1, or 0 for Gemma).
- architectures/parameters.json again (PyTorch's num_parameters() for every fixture folder).
- gguf/smollm2-parity.json: SmolLM2-135M-Instruct's Q4_1 GGUF loaded by transformers
  (`gguf_file=`, float32, eager): for a few prompts the token ids, the attention of three layers,
  and the 20 most probable next tokens after the last position with their probabilities; and, for
  a chat prompt rendered with the model's template, the same (the attention of its last token
  only). Never the weights.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import transformers  # noqa: E402
from make_architecture_fixtures import FIXTURES, ROOT, parameter_counts, save_checkpoints, save_expected  # noqa: E402

SMOLLM2 = os.path.join(ROOT, "Models", "SmolLM2-135M-Instruct")
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_FIXTURES = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "gguf")
VOCAB = 99


class Capture:
    """Wraps a modeling module's `eager_attention_forward` to keep each layer's queries and keys as the
    scores use them (after the rotation) and the values, per key/value head: `[heads, n, d]` each."""

    def __init__(self, module):
        self.store = {"query": {}, "key": {}, "value": {}}
        original = module.eager_attention_forward

        def wrapper(attention, query, key, value, *args, **kwargs):
            layer = attention.layer_idx
            for name, tensor in (("query", query), ("key", key), ("value", value)):
                self.store[name][layer] = tensor[0].detach().clone()
            return original(attention, query, key, value, *args, **kwargs)

        module.eager_attention_forward = wrapper

    def tensors(self):
        return {name: torch.stack([layers[i] for i in sorted(layers)]).contiguous() for name, layers in self.store.items()}


def randomise_norms(model, offset):
    """Norm weights are constant at initialisation; make them tell layers and columns apart."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(offset + 0.2 * torch.randn_like(parameter))


def round_parameters(model, dtype):
    """Rounds every parameter to `dtype` and back, so that the float16 safetensors file holds the values
    the expectations were computed with. Buffers are left alone: the rotary inverse frequencies are
    computed from the config when the model is loaded, in float32."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.to(dtype).float())


def run(name, model, module, ids, seed_note):
    model.eval()
    round_parameters(model, torch.float16)
    capture = Capture(module)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    tensors = {"attention": torch.stack([a[0] for a in out.attentions]), "hidden": torch.stack([h[0] for h in out.hidden_states]),
               "logits": out.logits[0]}
    tensors.update(capture.tensors())
    save_checkpoints(model, name, write_bin=False)
    save_expected(name, tensors, {"ids": ids, "note": seed_note})
    return out


def legacy_rope_layout(name):
    """Rewrites a saved config.json in transformers 4's layout: `rope_theta` at the top and the
    scaling under `rope_scaling`, as older checkpoints ship."""
    path = os.path.join(FIXTURES, name, "config.json")
    with open(path) as f:
        config = json.load(f)
    rope = dict(config.pop("rope_parameters"))
    config["rope_theta"] = rope.pop("rope_theta")
    config["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


IDS = [1, 17, 45, 98, 3, 64, 21, 7, 55]


def llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama import modeling_llama

    torch.manual_seed(30)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, initializer_range=0.3,
                         rope_parameters={"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                         tie_word_embeddings=False, attention_bias=True, mlp_bias=True, attn_implementation="eager")
    model = LlamaForCausalLM(config)
    randomise_norms(model, 1.0)
    run("llama", model, modeling_llama, IDS, "llama3 rope scaling, GQA 4/2, biases, own lm_head")
    legacy_rope_layout("llama")

    torch.manual_seed(31)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=48, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, head_dim=12, max_position_embeddings=64, rms_norm_eps=1e-6, initializer_range=0.3,
                         rope_parameters={"rope_type": "yarn", "rope_theta": 1000.0, "factor": 4.0,
                                          "original_max_position_embeddings": 16, "beta_fast": 8.0, "beta_slow": 1.0},
                         tie_word_embeddings=True, attn_implementation="eager")
    model = LlamaForCausalLM(config)
    randomise_norms(model, 1.0)
    run("llama-yarn", model, modeling_llama, IDS[:7], "yarn rope scaling, tied, head_dim 12")


def mistral():
    from transformers import MistralConfig, MistralForCausalLM
    from transformers.models.mistral import modeling_mistral

    torch.manual_seed(32)
    config = MistralConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, max_position_embeddings=64, sliding_window=3, initializer_range=0.3,
                           rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, attn_implementation="eager")
    model = MistralForCausalLM(config)
    randomise_norms(model, 1.0)
    run("mistral", model, modeling_mistral, IDS, "sliding window 3 over 9 tokens")


def qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM
    from transformers.models.qwen2 import modeling_qwen2

    torch.manual_seed(33)
    config = Qwen2Config(vocab_size=VOCAB, hidden_size=48, intermediate_size=40, num_hidden_layers=2, num_attention_heads=6,
                         num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.3,
                         rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
                         tie_word_embeddings=False, attn_implementation="eager")
    model = Qwen2ForCausalLM(config)
    randomise_norms(model, 1.0)
    with torch.no_grad():
        for layer in model.model.layers:
            for projection in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                projection.bias.normal_(0, 0.5)
    run("qwen2", model, modeling_qwen2, IDS, "q/k/v biases, linear rope scaling, GQA 6/2")


def qwen3():
    from transformers import Qwen3Config, Qwen3ForCausalLM
    from transformers.models.qwen3 import modeling_qwen3

    torch.manual_seed(34)
    config = Qwen3Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=16, max_position_embeddings=64, initializer_range=0.3,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000.0}, tie_word_embeddings=True,
                         attn_implementation="eager")
    model = Qwen3ForCausalLM(config)
    randomise_norms(model, 1.0)
    run("qwen3", model, modeling_qwen3, IDS, "q/k RMSNorm per head, head_dim 16 over hidden 32")


def gemma():
    from transformers import GemmaConfig, GemmaForCausalLM
    from transformers.models.gemma import modeling_gemma

    torch.manual_seed(35)
    config = GemmaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=1, head_dim=16, max_position_embeddings=64, initializer_range=0.3,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, hidden_act="gelu_pytorch_tanh",
                         attn_implementation="eager")
    model = GemmaForCausalLM(config)
    randomise_norms(model, 0.0)
    run("gemma", model, modeling_gemma, IDS, "GeGLU, embeddings × √hidden, RMSNorm 1 + w, one key/value head")


def phi3():
    from transformers import Phi3Config, Phi3ForCausalLM
    from transformers.models.phi3 import modeling_phi3

    torch.manual_seed(36)
    config = Phi3Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, max_position_embeddings=64, original_max_position_embeddings=64,
                        sliding_window=5, initializer_range=0.3, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
                        attn_implementation="eager")
    model = Phi3ForCausalLM(config)
    randomise_norms(model, 1.0)
    run("phi3", model, modeling_phi3, IDS, "fused qkv and gate_up, partial rotary 0.5, sliding window 5")


PROMPTS = [
    "The capital of France is",
    "The capital of Italy is",
    "Paris is a beautiful city. The capital of Japan is",
]
LAYERS = [0, 14, 29]
TOP = 20


def smollm2():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(SMOLLM2, gguf_file=SMOLLM2_FILE)
    model = AutoModelForCausalLM.from_pretrained(SMOLLM2, gguf_file=SMOLLM2_FILE, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                         tokenize=False, add_generation_prompt=True)
    cases = [{"text": text} for text in PROMPTS] + [{"text": chat, "chat": [{"role": "user", "content": "What is the capital of France?"}]}]
    for case in cases:
        ids = tokenizer(case["text"])["input_ids"]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), output_attentions=True)
        probabilities = torch.softmax(out.logits[0, -1].double(), dim=-1)
        top = torch.topk(probabilities, TOP)
        case["ids"] = ids
        case["layers"] = LAYERS
        # [layers, heads, queries, n] for the queries from `first_query` on (the last one only of a long
        # prompt, to keep the file small), rounded to 8 decimals: far below the 1e-5 compared.
        first = 0 if len(ids) <= 12 else len(ids) - 1
        case["first_query"] = first
        attention = torch.stack([out.attentions[l][0, :, first:] for l in LAYERS]).numpy().astype(np.float64)
        case["attention"] = np.round(attention, 8).tolist()
        case["top_ids"] = top.indices.tolist()
        case["top_probabilities"] = [round(p, 9) for p in top.values.tolist()]
    with open(os.path.join(GGUF_FIXTURES, "smollm2-parity.json"), "w") as f:
        json.dump({"model": SMOLLM2_FILE, "transformers": transformers.__version__, "cases": cases}, f, indent=None,
                  separators=(",", ":"))
        f.write("\n")
    print(f"wrote smollm2-parity.json ({os.path.getsize(os.path.join(GGUF_FIXTURES, 'smollm2-parity.json'))} bytes)")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    if sys.argv[1:] == ["--smollm2"]:
        smollm2()
        sys.exit(0)
    llama()
    mistral()
    qwen2()
    qwen3()
    gemma()
    phi3()
    parameter_counts()
    if os.path.exists(os.path.join(SMOLLM2, SMOLLM2_FILE)):
        smollm2()
    else:
        print("Models/SmolLM2-135M-Instruct is missing (run make setup): smollm2-parity.json not written")
