#!/usr/bin/env python3
"""Runs `attnlab bench` (release build) and its PyTorch peer (llm_peer.py) in turn, round after round,
on the same model, input lengths and thread counts, and prints both side by side.

    python Tools/bench/llm_vs_pytorch.py --model Models/SmolLM2-135M-Instruct --tokens 128,512 --threads 1,2 --rounds 3

Each run is its own process measuring its own forward passes (full capture, loading excluded) for
`--seconds`; the two alternate (AttnLab, PyTorch, AttnLab, …) so that a machine whose speed drifts
slows both alike. Reported: the median over rounds of each side's median, the ratio PyTorch/AttnLab
(the median of the rounds' ratios), each side's median CPU time per pass (every thread; waiting for
a busy machine does not count) and their ratio, and each side's peak resident memory (loading
included). The load average is printed before and after: on a shared machine, quote it with the figures.
Run it with the reference venv's python (torch, transformers, gguf).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ATTNLAB = os.path.join(ROOT, ".build", "release", "attnlab")
PEER = os.path.join(os.path.dirname(__file__), "llm_peer.py")


def attnlab(model, n, threads, seconds):
    out = subprocess.run([ATTNLAB, "bench", "--model", model, "--tokens", str(n), "--threads", str(threads),
                          "--seconds", str(seconds), "--json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    rows = [r for r in json.loads(out)["rows"] if r["tokens"] == n and r["threads"] == threads]
    if not rows:
        raise RuntimeError("no row for %d tokens, %d threads in:\n%s" % (n, threads, out))
    r = rows[0]   # seconds and bytes; this script prints milliseconds and megabytes
    return {"median": r["median"] * 1000, "best": r["best"] * 1000, "gflops": r["gflops"],
            "peak": r["peak_rss_bytes"] / 1e6, "cpu": r["cpu_median"] * 1000}


def peer(model, n, threads, seconds):
    out = subprocess.run([sys.executable, PEER, "--model", model, "--tokens", str(n), "--threads", str(threads),
                          "--seconds", str(seconds)], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    match = re.search(r"tokens %d threads %d median_ms ([\d.]+) best_ms ([\d.]+) runs (\d+) peak_mb (\d+) cpu_ms ([\d.]+)" % (n, threads), out)
    if not match:
        raise RuntimeError("the peer printed no figure:\n" + out)
    return {"median": float(match.group(1)), "best": float(match.group(2)), "peak": float(match.group(4)),
            "cpu": float(match.group(5))}


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="Models/SmolLM2-135M-Instruct")
    parser.add_argument("--tokens", default="128,512")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    lengths = [int(t) for t in args.tokens.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    print(f"load average before: {load()}", flush=True)
    results = {}
    for round_ in range(args.rounds):
        for n in lengths:
            for t in thread_counts:
                a = attnlab(args.model, n, t, args.seconds)
                p = peer(args.model, n, t, args.seconds)
                results.setdefault((n, t), []).append((a, p))
                print(f"round {round_ + 1}: {n} tokens, {t} thread(s): AttnLab {a['median']:.1f} ms, "
                      f"PyTorch {p['median']:.1f} ms (load {load()})", flush=True)
    print(f"load average after: {load()}\n")
    print("| tokens | threads | AttnLab median | PyTorch eager median | PyTorch / AttnLab | AttnLab CPU | PyTorch CPU "
          "| CPU ratio | AttnLab GFLOP/s | AttnLab peak | PyTorch peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (n, t), pairs in sorted(results.items()):
        a = statistics.median(x["median"] for x, _ in pairs)
        p = statistics.median(y["median"] for _, y in pairs)
        ratio = statistics.median(y["median"] / x["median"] for x, y in pairs)
        gflops = statistics.median(x["gflops"] for x, _ in pairs)
        cpu_a = statistics.median(x["cpu"] for x, _ in pairs)
        cpu_p = statistics.median(y["cpu"] for _, y in pairs)
        cpu_ratio = statistics.median(y["cpu"] / x["cpu"] for x, y in pairs)
        peak_a = max(x["peak"] for x, _ in pairs)
        peak_p = max(y["peak"] for _, y in pairs)
        print(f"| {n} | {t} | {a:.0f} ms | {p:.0f} ms | {ratio:.2f}× | {cpu_a:.0f} ms | {cpu_p:.0f} ms | {cpu_ratio:.2f}× "
              f"| {gflops:.0f} | {peak_a:.0f} MB | {peak_p:.0f} MB |")


if __name__ == "__main__":
    main()
