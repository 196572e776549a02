"""AttnLab against PyTorch, interleaved in one run, on the shapes of the speed table.

Runs `attnlab bench --json` (a release build) and PyTorch + transformers (eager attention, the same
float32 weights, `torch.set_num_threads(n)`) in turn, row by row and round by round, and prints
each side's median time, the ratio PyTorch / AttnLab (above 1: AttnLab is faster), AttnLab's share
of the OpenBLAS sgemm measured in the same run, and its speed-up from 1 to 2 threads.

Both sides capture what a person debugging attention asks for: AttnLab every layer's attention,
queries, keys, values and hidden states (`attnlab bench`'s "median"); PyTorch
`output_attentions=True, output_hidden_states=True`.

The random models (GPT-2, t5-small and bert-base shapes) are written with transformers into a
temporary folder that is removed at the end; nothing is committed.

    swift build -c release
    /work/refenv/bin/python Tools/bench/compare.py                      # every row, 1 and 2 threads
    /work/refenv/bin/python Tools/bench/compare.py --rows minilm-32,gpt2-128 --rounds 5
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

# name → (shape, tokens)
ROWS = {
    "minilm-16": ("minilm", 16),
    "minilm-32": ("minilm", 32),
    "minilm-128": ("minilm", 128),
    "minilm-512": ("minilm", 512),
    "gpt2-128": ("gpt2", 128),
    "t5small-128": ("t5small", 128),
    "bertbase-128": ("bertbase", 128),
    "bertbase-512": ("bertbase", 512),
}

LABELS = {
    "minilm": "all-MiniLM-L6-v2",
    "gpt2": "GPT-2 shape (12 × 12 × 768)",
    "t5small": "t5-small shape (128 + 128)",
    "bertbase": "bert-base shape",
}


def random_model(shape, folder):
    """Writes a random model of one of the table's shapes into `folder` (safetensors, float32)."""
    torch.manual_seed(0)
    if shape == "gpt2":
        model = transformers.GPT2Model(transformers.GPT2Config(n_layer=12, n_head=12, n_embd=768, n_positions=1024))
    elif shape == "t5small":
        config = transformers.T5Config(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8,
                                       vocab_size=32128, feed_forward_proj="relu", decoder_start_token_id=0)
        model = transformers.T5Model(config)
    elif shape == "bertbase":
        model = transformers.BertModel(transformers.BertConfig(), add_pooling_layer=False)
    else:
        raise ValueError(shape)
    model.save_pretrained(folder, safe_serialization=True)


def load_torch(shape, folder):
    classes = {"minilm": transformers.BertModel, "bertbase": transformers.BertModel,
               "gpt2": transformers.GPT2Model, "t5small": transformers.T5Model}
    model = classes[shape].from_pretrained(folder, attn_implementation="eager", torch_dtype=torch.float32)
    return model.eval()


def time_torch(model, shape, tokens, threads, seconds):
    """Median seconds of one forward pass with attentions and hidden states, after a warm-up."""
    torch.set_num_threads(threads)
    vocabulary = model.config.vocab_size
    generator = torch.Generator().manual_seed(42)
    ids = torch.randint(1000 % vocabulary, min(30000, vocabulary), (1, tokens), generator=generator)
    kwargs = dict(input_ids=ids, output_attentions=True, output_hidden_states=True)
    if shape == "t5small":
        kwargs["decoder_input_ids"] = ids
    samples = []
    with torch.inference_mode():
        model(**kwargs)
        start = time.perf_counter()
        while len(samples) < 5 or (time.perf_counter() - start < seconds and len(samples) < 1000):
            t0 = time.perf_counter()
            model(**kwargs)
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def time_attnlab(binary, folder, tokens, threads, seconds):
    """`attnlab bench --json` on one length: {threads: row}."""
    command = [binary, "bench", "--model", folder, "--tokens", str(tokens),
               "--threads", ",".join(map(str, threads)), "--seconds", str(seconds), "--json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command)} failed: {result.stderr.strip()}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return {row["threads"]: row for row in report["rows"]}, report["blas"]


def load_average():
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attnlab", default=os.path.join(ROOT, ".build", "release", "attnlab"))
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated, from: " + ", ".join(ROWS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are taken over them")
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement, on each side")
    parser.add_argument("--json", help="also write every sample to this file")
    parser.add_argument("--models", help="a folder to keep the random models in (made if absent), instead of a temporary one")
    parser.add_argument("--baseline", help="another attnlab binary (an earlier build) timed in the same rounds, for a before/after table")
    args = parser.parse_args()

    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    threads = [int(t) for t in args.threads.split(",")]
    if not os.path.exists(args.attnlab):
        sys.exit(f"error: {args.attnlab} does not exist; run `swift build -c release` first")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    scratch = tempfile.mkdtemp(prefix="attnlab-compare-")
    try:
        folders = {}
        for shape in sorted({ROWS[r][0] for r in rows}):
            if shape == "minilm":
                folders[shape] = MINILM
            else:
                folders[shape] = os.path.join(args.models or scratch, shape)
                if not os.path.exists(os.path.join(folders[shape], "model.safetensors")):
                    random_model(shape, folders[shape])
        models = {shape: load_torch(shape, folder) for shape, folder in folders.items()}

        # samples[(row, threads)] = {"attnlab": [...], "torch": [...], "sgemm": [...], "rss": [...]}
        samples = {(r, t): {"attnlab": [], "torch": [], "sgemm": [], "rss": [], "baseline": [], "baseline_rss": []}
                   for r in rows for t in threads}
        loads = []
        blas = "?"
        for round_index in range(args.rounds):
            for r in rows:
                shape, tokens = ROWS[r]
                loads.append(load_average())
                # Alternate which side goes first, so that neither always runs on a warmer machine.
                order = ["attnlab", "torch"] if round_index % 2 == 0 else ["torch", "attnlab"]
                if args.baseline:
                    order.insert(1, "baseline")
                for side in order:
                    if side == "baseline":
                        result, _ = time_attnlab(args.baseline, folders[shape], tokens, threads, args.seconds)
                        for t in threads:
                            samples[(r, t)]["baseline"].append(result[t]["median"])
                            samples[(r, t)]["baseline_rss"].append(result[t]["peak_rss_bytes"])
                    elif side == "attnlab":
                        result, blas = time_attnlab(args.attnlab, folders[shape], tokens, threads, args.seconds)
                        for t in threads:
                            samples[(r, t)]["attnlab"].append(result[t]["median"])
                            samples[(r, t)]["sgemm"].append(result[t]["gflops"] / result[t]["sgemm_gflops"])
                            samples[(r, t)]["rss"].append(result[t]["peak_rss_bytes"])
                    else:
                        for t in threads:
                            samples[(r, t)]["torch"].append(time_torch(models[shape], shape, tokens, t, args.seconds))
            print(f"round {round_index + 1}/{args.rounds} done (load {loads[-1]:.2f})", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def ms(seconds):
        return f"{seconds * 1000:.1f} ms"

    print(f"PyTorch {torch.__version__}, transformers {transformers.__version__} (eager attention); "
          f"AttnLab with OpenBLAS {blas} kernels; {args.rounds} interleaved rounds, medians; "
          f"load average {min(loads):.2f}–{max(loads):.2f}")
    print()
    header = ["shape", "tokens"]
    for t in threads:
        header += [f"AttnLab {t}t", f"PyTorch {t}t", f"ratio {t}t", f"sgemm share {t}t"]
    if 1 in threads and 2 in threads:
        header += ["AttnLab 1→2", "PyTorch 1→2"]
    header += ["peak RSS"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    records = []
    for r in rows:
        shape, tokens = ROWS[r]
        cells = [LABELS[shape], str(tokens)]
        medians = {}
        for t in threads:
            s = samples[(r, t)]
            a, p = statistics.median(s["attnlab"]), statistics.median(s["torch"])
            medians[t] = (a, p)
            cells += [ms(a), ms(p), f"{p / a:.2f}", f"{100 * statistics.median(s['sgemm']):.0f}%"]
            records.append({"row": r, "threads": t, **s})
        if 1 in threads and 2 in threads:
            cells += [f"{medians[1][0] / medians[2][0]:.2f}×", f"{medians[1][1] / medians[2][1]:.2f}×"]
        cells.append(f"{max(max(samples[(r, t)]['rss']) for t in threads) / 1e6:.0f} MB")
        print("| " + " | ".join(cells) + " |")
    if args.baseline:
        print()
        print(f"Before ({args.baseline}), same rounds:")
        print()
        header = ["shape", "tokens"] + [f"{w} {t}t" for t in threads for w in ("before", "after", "ratio to PyTorch before")]
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for r in rows:
            shape, tokens = ROWS[r]
            cells = [LABELS[shape], str(tokens)]
            for t in threads:
                s = samples[(r, t)]
                b, a, p = statistics.median(s["baseline"]), statistics.median(s["attnlab"]), statistics.median(s["torch"])
                cells += [ms(b), ms(a), f"{p / b:.2f}"]
            print("| " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"loads": loads, "rows": records}, handle, indent=1)


if __name__ == "__main__":
    main()
