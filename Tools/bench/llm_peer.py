#!/usr/bin/env python3
"""The PyTorch peer of `attnlab bench` for a GGUF decoder: the same float32 weights (transformers
dequantises the GGUF, `gguf_file=`), eager attention, full capture (every layer's attention, the
hidden states, and each layer's queries, keys and values as the scores use them), on the same
token ids as `attnlab bench` (its SplitMix64 sequence), the next-token logits after the last
position only (`logits_to_keep=1`, as AttnLab's causal-lm task computes them).

    python Tools/bench/llm_peer.py --model Models/SmolLM2-135M-Instruct --tokens 128,512 --threads 1 --seconds 10

Prints one line per length: `tokens N threads T median_ms M best_ms B runs R peak_mb P cpu_ms C`, where
the peak is the process's resident maximum (ru_maxrss), loading included, as attnlab bench reports it,
and C the median CPU time of the process per pass (every thread), as attnlab bench's "CPU time".
Needs torch, transformers and gguf (the reference venv).
"""
import argparse
import glob
import os
import resource
import statistics
import time

import torch


def splitmix64(seed):
    mask = (1 << 64) - 1
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        yield z ^ (z >> 31)


def bench_ids(n, vocabulary):
    """BenchCommand.input(length:vocabulary:): the ids attnlab bench runs."""
    generator = splitmix64(42)
    ids = []
    for i in range(n):
        if i == 0:
            ids.append(101 % vocabulary)
        elif i == n - 1:
            ids.append(102 % vocabulary)
        else:
            ids.append(next(generator) % min(vocabulary, 30000 - 1000) + 1000 % vocabulary)
    return ids


class QKVCapture:
    """Keeps each layer's queries and keys after the rotation and its values, as AttnLab's full capture does."""

    def __init__(self, module):
        self.store = {}
        original = module.eager_attention_forward

        def wrapper(attention, query, key, value, *args, **kwargs):
            self.store[attention.layer_idx] = (query.detach().clone(), key.detach().clone(), value.detach().clone())
            return original(attention, query, key, value, *args, **kwargs)

        module.eager_attention_forward = wrapper


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="Models/SmolLM2-135M-Instruct")
    parser.add_argument("--tokens", default="128,512")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM
    from transformers.models.llama import modeling_llama

    folder, file = (args.model, None) if os.path.isdir(args.model) else os.path.split(args.model)
    file = file or os.path.basename(glob.glob(os.path.join(folder, "*.gguf"))[0])
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32, attn_implementation="eager").eval()
    capture = QKVCapture(modeling_llama)
    vocabulary = model.config.vocab_size
    for n in [int(t) for t in args.tokens.split(",")]:
        ids = torch.tensor([bench_ids(n, vocabulary)])

        def forward():
            with torch.no_grad():
                out = model(input_ids=ids, output_attentions=True, output_hidden_states=True, logits_to_keep=1)
            return out, capture.store

        forward()  # warm-up
        samples, cpu = [], []
        start = time.perf_counter()
        while len(samples) < 5 or (time.perf_counter() - start < args.seconds and len(samples) < 1000):
            t0, c0 = time.perf_counter(), time.process_time()
            forward()
            samples.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"tokens {n} threads {args.threads} median_ms {statistics.median(samples) * 1000:.2f} "
              f"best_ms {min(samples) * 1000:.2f} runs {len(samples)} peak_mb {peak / 1e6:.0f} "
              f"cpu_ms {statistics.median(cpu) * 1000:.2f}", flush=True)


if __name__ == "__main__":
    main()
