#!/usr/bin/env python3
"""The peer of `attnlab bench --scan`: the case study's head scan done the way a notebook does it
with PyTorch forward hooks (TransformerLens-style activation patching, the naive loop).

all-MiniLM-L6-v2, similarity of "the eminem tune was totally awesome." with "dude, that song from
eminem was sick!" (the target), each head's output patched from "… was terrific!" (the source).
Similarity is sentence-transformers': each sentence run on its own, tokens mean-pooled, L2-normalised,
cosine. Sentence A is the same in target and source, so it is run once; then:
  1. the target's sentence B, once, for the unpatched value;
  2. the source's sentence B, once, with a forward pre-hook on each layer's output projection
     keeping its input (the heads' outputs side by side, head h in columns h·d … (h+1)·d);
  3. for each layer × head: one full forward pass of the target's sentence B with a pre-hook on that
     layer's output projection replacing head h's columns by the source's.
Timed end to end (1 to 3), repeated; each thread count in its own torch.set_num_threads.

Run with the reference venv, from anywhere:
    /work/refenv/bin/python Tools/bench/scan_hooks.py --model Models/sentence-transformers/all-MiniLM-L6-v2 --threads 1,2
It prints one JSON object: per thread count the median and best seconds (and the median CPU seconds
of the process, all threads), and the effects
(patched − target) as [layers][heads], which `attnlab bench --scan` compares with its own.
"""
import argparse
import json
import statistics
import time

import torch
import transformers

A = "the eminem tune was totally awesome."
TARGET_B = "dude, that song from eminem was sick!"
SOURCE_B = "dude, that song from eminem was terrific!"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="the all-MiniLM-L6-v2 folder")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent per thread count (at least 3 scans)")
    args = parser.parse_args()

    tokenizer = transformers.AutoTokenizer.from_pretrained(args.model)
    model = transformers.AutoModel.from_pretrained(args.model, attn_implementation="eager").eval()
    layers = model.config.num_hidden_layers
    heads = model.config.num_attention_heads
    size = model.config.hidden_size // heads
    projections = [model.encoder.layer[i].attention.output.dense for i in range(layers)]

    def embedding(text):
        encoded = tokenizer(text, return_tensors="pt")
        hidden = model(**encoded).last_hidden_state[0]
        mask = encoded["attention_mask"][0].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(0) / mask.sum()
        return torch.nn.functional.normalize(pooled, dim=0)

    def scan():
        with torch.inference_mode():
            a = embedding(A)
            target = float(a @ embedding(TARGET_B))
            kept = {}
            handles = [projections[i].register_forward_pre_hook(
                lambda module, inputs, i=i: kept.__setitem__(i, inputs[0].clone())) for i in range(layers)]
            source = float(a @ embedding(SOURCE_B))
            for handle in handles:
                handle.remove()
            effects = []
            for layer in range(layers):
                row = []
                for head in range(heads):
                    columns = slice(head * size, (head + 1) * size)

                    def patch(module, inputs, layer=layer, columns=columns):
                        patched = inputs[0].clone()
                        patched[..., columns] = kept[layer][..., columns]
                        return (patched,)

                    handle = projections[layer].register_forward_pre_hook(patch)
                    row.append(float(a @ embedding(TARGET_B)) - target)
                    handle.remove()
                effects.append(row)
        return target, source, effects

    result = {"torch": torch.__version__, "transformers": transformers.__version__, "threads": {}}
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        scan()  # warm-up
        samples, cpu = [], []
        start = time.perf_counter()
        while len(samples) < 3 or (time.perf_counter() - start < args.seconds and len(samples) < 100):
            begin, begin_cpu = time.perf_counter(), time.process_time()
            target, source, effects = scan()
            samples.append(time.perf_counter() - begin)
            cpu.append(time.process_time() - begin_cpu)
        result["threads"][str(threads)] = {"median": statistics.median(samples), "best": min(samples), "runs": len(samples),
                                           "cpu": statistics.median(cpu)}
        result.update(target=target, source=source, effects=effects, cells=layers * heads, forwards=layers * heads + 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
