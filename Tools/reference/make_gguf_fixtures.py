#!/usr/bin/env python3
"""Writes the GGUF parity fixtures: dequantisation per type, Llama names and permutation, SmolLM2.

Run from the repository root with the reference venv (gguf, numpy, safetensors, torch, transformers),
after `make setup` has fetched Models/SmolLM2-135M-Instruct:
    python Tools/reference/make_gguf_fixtures.py
It writes small files under Tests/AttnModelsTests/Fixtures/gguf/ (about 150 KB):

- quants.gguf: for each type AttnLab reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
  Q3_K, Q4_K, Q5_K, Q6_K), a [3, 512] tensor of random valid blocks (random bytes with finite
  random scales), and for the types gguf-py quantises, a second one quantised from random normal
  values; plus a [2, 3, 64] F32 tensor for the order of dimensions. quants.expected.safetensors
  holds what gguf-py's numpy dequantisers (ggml's reference `dequantize_row_*`, element for element)
  give: AttnLab must match them bit for bit.
- tiny-llama.gguf: a random tiny LlamaForCausalLM (hidden 64, 4 query and 2 key/value heads, untied
  output) written as llama.cpp's converter writes it (Q and K rows permuted, names blk.N.attn_q…,
  tensors in F32, F16, Q8_0, Q4_0 and Q5_1), with linear rope scaling in the metadata.
  tiny-llama.expected.json: per Hugging Face tensor name, the shape and the SHA-256 of the float32
  values transformers' own GGUF loading gives (`from_pretrained(gguf_file=…)`), and its config.
  The script checks that the F32 Q and K come back equal to the original checkpoint's.
- smollm2.expected.json: the same for a few tensors of the real SmolLM2-135M-Instruct Q4_1 GGUF
  (layer 0's Q, K and V after un-permuting, an F32 norm, a Q4_1 feed-forward weight, the Q8_0
  embedding), each with its hash and its first values; never the weights themselves.
"""
import hashlib
import json
import os

import numpy as np
import torch
from safetensors.numpy import save_file

import gguf
from gguf import GGMLQuantizationType as Q
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "gguf")
SMOLLM2 = os.path.join(ROOT, "Models", "SmolLM2-135M-Instruct")
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Byte offsets of the f16 scales in each block, which must be finite (any other bits are valid).
SCALE_OFFSETS = {
    Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}
QUANTISABLE = [Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1]


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


def random_blocks(rng, qtype, rows, columns):
    block, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows, columns // block, size), dtype=np.uint8)
    for offset in SCALE_OFFSETS[qtype]:
        scales = rng.uniform(-0.05, 0.05, size=(rows, columns // block)).astype(np.float16)
        raw[:, :, offset:offset + 2] = scales.view(np.uint8).reshape(rows, columns // block, 2)
    return raw.reshape(rows, columns // block * size)


def write_quants(rng):
    path = os.path.join(OUT, "quants.gguf")
    writer = gguf.GGUFWriter(path, arch="attnlab-quants")
    expected = {}
    rows, columns = 3, 512
    values = (rng.standard_normal((rows, columns)) * 0.1).astype(np.float32)
    values[0, :8] = [0.0, -0.0, 1e-8, -1e-8, 65504.0, -3.0, 0.5, 2.0]

    writer.add_tensor("F32", values)
    expected["F32"] = values
    halves = rng.standard_normal((rows, columns)).astype(np.float16)
    halves[0, :6] = [np.float16(6e-8), np.float16(-6e-8), np.float16(np.inf), np.float16(-np.inf), -0.0, 65504]
    writer.add_tensor("F16", halves)
    expected["F16"] = halves.astype(np.float32)
    brains = rng.integers(0, 1 << 16, size=(rows, columns), dtype=np.uint16)
    writer.add_tensor("BF16", brains.view(np.uint8).reshape(rows, columns * 2), raw_dtype=Q.BF16)
    expected["BF16"] = gguf.quants.dequantize(brains.view(np.uint8).reshape(rows, columns * 2), Q.BF16)
    for qtype in SCALE_OFFSETS:
        raw = random_blocks(rng, qtype, rows, columns)
        writer.add_tensor(qtype.name, raw, raw_dtype=qtype)
        expected[qtype.name] = gguf.quants.dequantize(raw, qtype)
    for qtype in QUANTISABLE:
        raw = gguf.quants.quantize(values, qtype)
        name = qtype.name + ".quantised"
        writer.add_tensor(name, raw, raw_dtype=qtype)
        expected[name] = gguf.quants.dequantize(raw, qtype)
    cube = np.arange(2 * 3 * 64, dtype=np.float32).reshape(2, 3, 64)
    writer.add_tensor("F32.3d", cube)
    expected["F32.3d"] = cube
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in expected.items()},
              os.path.join(OUT, "quants.expected.safetensors"))


def permute(weights, heads):
    """llama.cpp's converter: each head's rows from [first halves, second halves] to interleaved pairs."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def write_tiny_llama():
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=160, max_position_embeddings=256, rms_norm_eps=1e-5,
                         rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config).eval()
    state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    # Norm weights are ones at initialisation; make them tell layers apart.
    for name in state:
        if "norm" in name:
            state[name] = (1 + 0.1 * np.random.default_rng(len(name)).standard_normal(state[name].shape)).astype(np.float32)

    path = os.path.join(OUT, "tiny-llama.gguf")
    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_name("tiny llama")
    writer.add_context_length(256)
    writer.add_embedding_length(64)
    writer.add_block_count(2)
    writer.add_feed_forward_length(96)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(16)
    writer.add_vocab_size(160)
    writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    writer.add_rope_scaling_factor(2.0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    names = {"model.embed_tokens.weight": ("token_embd.weight", Q.F16), "model.norm.weight": ("output_norm.weight", Q.F32),
             "lm_head.weight": ("output.weight", Q.Q8_0)}
    per_layer = {"self_attn.q_proj": ("attn_q", Q.F32), "self_attn.k_proj": ("attn_k", Q.Q8_0),
                 "self_attn.v_proj": ("attn_v", Q.Q4_0), "self_attn.o_proj": ("attn_output", Q.Q5_1),
                 "mlp.gate_proj": ("ffn_gate", Q.F16), "mlp.up_proj": ("ffn_up", Q.Q8_0), "mlp.down_proj": ("ffn_down", Q.Q4_0),
                 "input_layernorm": ("attn_norm", Q.F32), "post_attention_layernorm": ("ffn_norm", Q.F32)}
    for layer in range(2):
        for hf, (short, qtype) in per_layer.items():
            names[f"model.layers.{layer}.{hf}.weight"] = (f"blk.{layer}.{short}.weight", qtype)
    # The first layer's K in F32 too, so the un-permuted result can be checked exactly.
    names["model.layers.0.self_attn.k_proj.weight"] = ("blk.0.attn_k.weight", Q.F32)
    for hf, (name, qtype) in names.items():
        data = state[hf]
        if ".q_proj." in hf:
            data = permute(data, 4)
        if ".k_proj." in hf:
            data = permute(data, 2)
        if qtype == Q.F32:
            writer.add_tensor(name, data)
        elif qtype == Q.F16:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    loaded = AutoModelForCausalLM.from_pretrained(OUT, gguf_file="tiny-llama.gguf", dtype=torch.float32)
    loaded_state = {k: v.detach().numpy() for k, v in loaded.state_dict().items()}
    for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight",
                 "model.layers.0.self_attn.k_proj.weight"]:
        assert np.array_equal(loaded_state[name], state[name]), f"{name} did not come back equal"
    loaded_config = AutoConfig.from_pretrained(OUT, gguf_file="tiny-llama.gguf").to_dict()
    expected = {
        "tensors": {name: {"shape": list(array.shape), "sha256": sha256(array), "first": array.reshape(-1)[:6].tolist()}
                    for name, array in sorted(loaded_state.items())},
        "config": {key: loaded_config[key] for key in CONFIG_KEYS if key in loaded_config},
    }
    with open(os.path.join(OUT, "tiny-llama.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


CONFIG_KEYS = ["model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "head_dim", "rms_norm_eps", "max_position_embeddings", "vocab_size",
               "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id"]


def write_smollm2():
    from transformers import AutoConfig, AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(SMOLLM2, gguf_file=SMOLLM2_FILE, dtype=torch.float32)
    state = model.state_dict()
    chosen = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
              "model.layers.0.self_attn.v_proj.weight", "model.layers.0.input_layernorm.weight",
              "model.layers.29.mlp.down_proj.weight", "model.embed_tokens.weight", "model.norm.weight"]
    config = AutoConfig.from_pretrained(SMOLLM2, gguf_file=SMOLLM2_FILE).to_dict()
    # transformers keeps rope_theta inside rope_parameters in version 5.
    rope = config.get("rope_parameters") or {}
    expected = {
        "tensors": {name: {"shape": list(state[name].shape), "sha256": sha256(state[name].numpy()),
                           "first": state[name].numpy().reshape(-1)[:8].tolist()} for name in chosen},
        "config": {key: config[key] for key in CONFIG_KEYS if key in config},
        "rope_theta": rope.get("rope_theta", config.get("rope_theta")),
        "tensor_count": len(state),
    }
    with open(os.path.join(OUT, "smollm2.expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    write_quants(np.random.default_rng(14))
    write_tiny_llama()
    if os.path.exists(os.path.join(SMOLLM2, SMOLLM2_FILE)):
        write_smollm2()
    else:
        print("Models/SmolLM2-135M-Instruct is missing (run make setup): smollm2.expected.json not written")
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
