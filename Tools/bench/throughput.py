"""Experiment throughput: `attnlab run` against a PyTorch user who batches the same variants.

Runs Tools/bench/throughput-200.yaml (200 variants on all-MiniLM-L6-v2, similarity task) with
`attnlab run` and reads the variants per second its manifest records (in process: from the start
of the run to its end, the models' loading included), and the same after loading (the manifest's
`load_seconds` taken off), which is what the peer's figure counts. The PyTorch peer traces the
same 200 variants (their texts read from that manifest) as a person would with transformers (eager
attention, float32; the model loaded and warmed up before the clock starts): padded batches of
`--batch` pairs, the joint pair with `output_attentions=True`, and each sentence on its own,
mean-pooled and normalised, for the similarity. Rounds alternate between the two; medians.

    swift build -c release
    /work/refenv/bin/python Tools/bench/throughput.py --threads 2 --rounds 3
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MINILM = os.path.join(ROOT, "Models", "sentence-transformers", "all-MiniLM-L6-v2")
EXPERIMENT = os.path.join(ROOT, "Tools", "bench", "throughput-200.yaml")


def run_attnlab(binary, threads, runs):
    """One `attnlab run`: (variants per second in process, the manifest)."""
    command = [binary, "run", EXPERIMENT, "--threads", str(threads), "--runs", runs]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if result.returncode not in (0, 1):   # 1: an expectation failed; the run is complete
        sys.exit(f"error: {' '.join(command)} failed: {result.stderr.strip()}")
    manifests = []
    for folder, _, files in os.walk(runs):
        if "manifest.json" in files:
            manifests.append(os.path.join(folder, "manifest.json"))
    newest = max(manifests, key=os.path.getmtime)
    with open(newest) as handle:
        manifest = json.load(handle)
    # The variants, their texts and outputs, are one JSON line each beside the manifest.
    with open(os.path.join(os.path.dirname(newest), "variants.jsonl")) as handle:
        manifest["variants"] = [json.loads(line) for line in handle if line.strip()]
    shutil.rmtree(runs, ignore_errors=True)
    timing = manifest["timing"]
    after_loading = manifest["variant_count"] / (timing["seconds"] - timing.get("load_seconds", 0.0))
    return timing["variants_per_second"], after_loading, manifest


def torch_pass(model, tokenizer, a, b, batch):
    """Similarities of pairs (a[i], b[i]), traced the way a transformers user batches them."""
    similarities = []
    for start in range(0, len(a), batch):
        left, right = a[start:start + batch], b[start:start + batch]
        joint = tokenizer(left, right, padding=True, return_tensors="pt")
        model(**joint, output_attentions=True)           # the attention a trace keeps
        pooled = []
        for sentences in (left, right):
            encoded = tokenizer(sentences, padding=True, return_tensors="pt")
            hidden = model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled.append(torch.nn.functional.normalize(mean, dim=-1))
        similarities += (pooled[0] * pooled[1]).sum(-1).tolist()
    return similarities


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attnlab", default=os.path.join(ROOT, ".build", "release", "attnlab"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="pairs per PyTorch batch")
    args = parser.parse_args()
    if not os.path.exists(args.attnlab):
        sys.exit(f"error: {args.attnlab} does not exist; run `swift build -c release` first")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    tokenizer = transformers.AutoTokenizer.from_pretrained(MINILM)
    model = transformers.BertModel.from_pretrained(MINILM, attn_implementation="eager").eval()

    scratch = tempfile.mkdtemp(prefix="attnlab-throughput-")
    attnlab, attnlab_loaded, peer, loads = [], [], [], []
    worst = 0.0
    try:
        for round_index in range(args.rounds):
            with open("/proc/loadavg") as handle:
                loads.append(float(handle.read().split()[0]))
            rate, loaded_rate, manifest = run_attnlab(args.attnlab, args.threads, os.path.join(scratch, f"runs-{round_index}"))
            attnlab.append(rate)
            attnlab_loaded.append(loaded_rate)
            variants = manifest["variants"]
            a = [v["variant"]["a"] for v in variants]
            b = [v["variant"]["b"] for v in variants]
            with torch.inference_mode():
                torch_pass(model, tokenizer, a[:args.batch], b[:args.batch], args.batch)   # warm-up
                start = time.perf_counter()
                similarities = torch_pass(model, tokenizer, a, b, args.batch)
                peer.append(len(a) / (time.perf_counter() - start))
            theirs = [v["outputs"]["similarity"] for v in variants]
            worst = max(worst, max(abs(x - y) for x, y in zip(similarities, theirs)))
            print(f"round {round_index + 1}: AttnLab {rate:.0f}/s ({loaded_rate:.0f}/s after loading), PyTorch {peer[-1]:.0f}/s",
                  file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    a_median, l_median, p_median = statistics.median(attnlab), statistics.median(attnlab_loaded), statistics.median(peer)
    print(f"throughput-200 on {args.threads} thread(s), {args.rounds} interleaved rounds, medians "
          f"(load average {min(loads):.2f}–{max(loads):.2f}):")
    print(f"  AttnLab `attnlab run`, whole run:    {a_median:6.1f} variants/s")
    print(f"  AttnLab, after loading the model:    {l_median:6.1f} variants/s")
    print(f"  PyTorch, batches of {args.batch} pairs:       {p_median:6.1f} variants/s (after loading)")
    print(f"  ratio AttnLab / PyTorch, whole run:  {a_median / p_median:6.2f}")
    print(f"  ratio after loading, both:           {l_median / p_median:6.2f}")
    print(f"  largest similarity difference:       {worst:.1e}")


if __name__ == "__main__":
    main()
