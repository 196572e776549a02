#!/usr/bin/env python3
"""A fuzz campaign through the command line, as a user would meet a bad file: seeded mutations of
the files of a tiny model folder (config.json, weights as safetensors and as pytorch_model.bin,
tokenizer.json), of trace files, experiment files and .npy arrays, each run with the release binary.

Every case must end with exit status 0, 1 or 2 within the time limit (no signal, no hang); a
failure must be one `error:` line; and nothing half-written may be left: no output file after a
failure, no temporary file (`.tmp-`, `.partial-`) anywhere, a run folder only when it is whole
(manifest.json and report.html).

    python3 Tools/fuzz/cli_campaign.py --binary .build/release/attnlab --cases 3000 [--seed 11]

Failing cases are copied to `.build/fuzz/cli/<family>-<n>/` with the command and what went wrong.
"""
import argparse, json, os, random, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPT2 = os.path.join(ROOT, "Tests/attnlabTests/Fixtures/models/gpt2")
INTERESTING = [b"0", b"-1", b"1", b"65536", b"4294967296", b"9223372036854775807", b"-9223372036854775808",
               b"1e308", b"NaN", b"99999999999999999999", b"0.5", b"[]", b"{}", b"null", b"\"\""]


def mutate(data: bytes, rng: random.Random, text: bool = False) -> bytes:
    """One to four mutations. Text files mostly get a number or value replaced (so that most cases
    stay parseable and reach the checks behind the parser); binary files mostly change in place (so
    that offsets still point where they did)."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 2) if text else rng.randint(1, 4)):
        if text and rng.random() < 0.7:
            op = 6
        elif not text and rng.random() < 0.6:
            op = rng.choice([0, 1, 7])
        else:
            op = rng.randrange(9)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.choice([0, 0xFF, 0x7F, 0x80, 0x0A, 0x22, 0x7B, 0x5B, 0x2D])
        elif op == 2 and b:
            i = rng.randrange(len(b)); del b[i:i + rng.randint(1, 64)]
        elif op == 3:
            i = rng.randrange(len(b) + 1); b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4 and b:
            i = rng.randrange(len(b)); piece = b[i:i + rng.randint(1, 8)]
            b[rng.randrange(len(b) + 1):0] = piece * rng.choice([10, 100, 1000])
        elif op == 5 and b:
            del b[len(b) - rng.randint(1, min(len(b), 512)):]
        elif op == 6:
            digits = [i for i, c in enumerate(b) if 0x30 <= c <= 0x39]
            if digits:
                s = e = rng.choice(digits)
                while s > 0 and (0x30 <= b[s - 1] <= 0x39 or b[s - 1] == 0x2E): s -= 1
                while e < len(b) and (0x30 <= b[e] <= 0x39 or b[e] == 0x2E): e += 1
                b[s:e] = rng.choice(INTERESTING)
        elif op == 7 and len(b) >= 8:
            i = rng.randrange(len(b) - 7); b[i:i + 8] = rng.choice([b"\xff" * 8, b"\x00" * 8, b"\xff\xff\xff\x7f\x00\x00\x00\x00"])
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(b)


def torch_zip(safetensors_path: str) -> bytes:
    """The tensors of a float32 safetensors file as torch.save writes them: a zip of data.pkl (a
    state dict of _rebuild_tensor_v2 calls) and one raw storage per tensor."""
    import io, struct, zipfile
    with open(safetensors_path, "rb") as f: data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    def text(t): b = t.encode(); return b"X" + struct.pack("<I", len(b)) + b
    def glob(m, name): return b"c" + f"{m}\n{name}\n".encode()
    def integer(v): return b"J" + struct.pack("<i", v)
    pickle, storages = b"\x80\x02}(", []
    for index, (name, info) in enumerate(sorted((k, v) for k, v in header.items() if k != "__metadata__")):
        assert info["dtype"] == "F32"
        shape, (begin, end) = info["shape"], info["data_offsets"]
        strides = [1] * len(shape)
        for d in range(len(shape) - 2, -1, -1): strides[d] = strides[d + 1] * max(shape[d + 1], 1)
        pickle += text(name) + glob("torch._utils", "_rebuild_tensor_v2") + b"((" + text("storage") + glob("torch", "FloatStorage")
        pickle += text(str(index)) + text("cpu") + integer((end - begin) // 4) + b"tQ" + integer(0)
        pickle += b"(" + b"".join(map(integer, shape)) + b"t(" + b"".join(map(integer, strides)) + b"t\x89"
        pickle += glob("collections", "OrderedDict") + b")RtR"
        storages.append(data[8 + n + begin:8 + n + end])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("archive/data.pkl", pickle + b"u.")
        z.writestr("archive/byteorder", "little")
        for index, storage in enumerate(storages): z.writestr(f"archive/data/{index}", storage)
    return buffer.getvalue()


def families():
    """(name, setup) pairs; setup(work, rng) writes the mutated input and returns (command, outputs)."""
    def model_family(source, name):
        def setup(work, rng):
            folder = os.path.join(work, "model")
            shutil.copytree(source, folder)
            if name == "pytorch_model.bin":
                weights = os.path.join(folder, "model.safetensors")
                with open(os.path.join(folder, name), "wb") as f: f.write(torch_zip(weights))
                os.remove(weights)
            path = os.path.join(folder, name)
            with open(path, "rb") as f: data = f.read()
            with open(path, "wb") as f: f.write(mutate(data, rng, text=name.endswith(".json")))
            out = os.path.join(work, "out.safetensors")
            return ["trace", "--model", folder, "--text", "hello there, how are you?", "--out", out], [out]
        return setup

    def trace_family(command):
        def setup(work, rng):
            seed = os.path.join(work, "seed.safetensors")
            subprocess.run([BINARY, "trace", "--model", GPT2, "--text", "the cat sat", "--capture", "attention,qkv,hidden",
                            "--out", seed], capture_output=True, timeout=60)
            with open(seed, "rb") as f: data = f.read()
            os.remove(seed)
            path = os.path.join(work, "x.safetensors")
            with open(path, "wb") as f: f.write(mutate(data, rng))
            out = os.path.join(work, "out." + ("html" if command == "view" else "png"))
            args = {"view": ["view", path, "--view", rng.choice(["head", "model", "neuron"]), "--out", out],
                    "figure": ["figure", path, "--kind", rng.choice(["heatmap", "overview", "regions"]), "--out", out]}[command]
            return args, [out]
        return setup

    def experiment(work, rng):
        # The model is copied beside the file, so that no number in its path is mutated.
        shutil.copytree(GPT2, os.path.join(work, "model"))
        text = f"""name: small
models: [{{id: ./model, name: tiny, task: causal-lm, top_k: 3}}]
inputs:
  - {{id: one, a: "the cat sat on the mat"}}
  - {{id: two, a: "dogs bark at night"}}
perturbations:
  - {{id: dog, replace: {{cat: dog}}}}
  - {{id: gone, delete: night}}
views: [head, model]
figures: [heatmap, compare]
""".encode()
        path = os.path.join(work, "x.yaml")
        with open(path, "wb") as f: f.write(mutate(text, rng, text=True))
        return ["run", path, "--runs", os.path.join(work, "runs"), "--threads", "1"], []

    def npy(work, rng):
        header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 3), }"
        header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
        data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(range(72))
        path = os.path.join(work, "x.npy")
        with open(path, "wb") as f: f.write(mutate(data, rng))
        out = os.path.join(work, "out.png")
        return ["figure", "--array", path, "--kind", rng.choice(["heatmap", "stability"]), "--out", out], [out]

    return [("config.json", model_family(GPT2, "config.json")), ("model.safetensors", model_family(GPT2, "model.safetensors")),
            ("tokenizer.json", model_family(GPT2, "tokenizer.json")), ("pytorch_model.bin", model_family(GPT2, "pytorch_model.bin")),
            ("view", trace_family("view")), ("figure", trace_family("figure")), ("experiment", experiment), ("npy", npy)]


def check(work, result, outputs, elapsed, limit):
    problems = []
    if elapsed > limit:
        problems.append(f"took {elapsed:.1f} s (hang)")
    if result is None:
        return problems
    if result.returncode not in (0, 1, 2):
        problems.append(f"exit status {result.returncode} (signal)")
    # `run` reports its progress on standard error, one line a variant, when that is not a terminal.
    lines = [l for l in result.stderr.decode(errors="replace").split("\n") if l and not l.startswith("traced ")]
    # One error line; an experiment file's problems follow it, one indented line each (documented).
    one_error = lines and lines[0].startswith("error: ") and all(l.startswith("  ") for l in lines[1:])
    if result.returncode == 1 and not one_error and b"FAIL" not in result.stdout:
        problems.append("not one error line: " + repr(lines[:3]))
    if result.returncode != 0:
        problems += [f"output left after a failure: {o}" for o in outputs if os.path.exists(o)]
    for folder, _, files in os.walk(work):
        for name in files + [os.path.basename(folder)]:
            if ".tmp-" in name or ".partial-" in name or ".attnlab-new-" in name:
                problems.append(f"temporary file left: {os.path.join(folder, name)}")
    runs = os.path.join(work, "runs", "small")
    if os.path.isdir(runs):
        for run in os.listdir(runs):
            for needed in ["manifest.json", "report.html"]:
                if not os.path.exists(os.path.join(runs, run, needed)):
                    problems.append(f"run {run} without {needed}")
    return sorted(set(problems))


def main():
    global BINARY
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/attnlab"))
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--show", action="store_true", help="print every case's status and first error line")
    parser.add_argument("--families", help="comma-separated families to run (default: all)")
    args = parser.parse_args()
    BINARY = os.path.abspath(args.binary)
    rng = random.Random(args.seed)
    kept = os.path.join(ROOT, ".build/fuzz/cli")
    counts = {}
    chosen = [f for f in families() if not args.families or f[0] in args.families.split(",")]
    for index in range(args.cases):
        name, setup = chosen[index % len(chosen)]
        work = tempfile.mkdtemp(prefix="attnlab-cli-fuzz-")
        try:
            command, outputs = setup(work, rng)
            start = time.time()
            try:
                result = subprocess.run([BINARY] + command, capture_output=True, timeout=args.timeout, cwd=work)
            except subprocess.TimeoutExpired:
                result = None
            elapsed = time.time() - start
            problems = check(work, result, outputs, elapsed if result else args.timeout + 1, args.timeout)
            tally = counts.setdefault(name, {"cases": 0, "ok": 0, "error": 0, "usage": 0, "problems": 0})
            tally["cases"] += 1
            if result is not None:
                tally[{0: "ok", 1: "error", 2: "usage"}.get(result.returncode, "problems")] += 0 if result.returncode not in (0, 1, 2) else 1
            if args.show and result is not None:
                print(f"{name} #{index}: {result.returncode} {result.stderr.decode(errors='replace').strip()[:160]}")
            if problems:
                tally["problems"] += 1
                target = os.path.join(kept, f"{name}-{index}")
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(work, target, symlinks=True)
                with open(os.path.join(target, "PROBLEM.txt"), "w") as f:
                    f.write(" ".join(command) + "\n" + "\n".join(problems) + "\n")
                    if result is not None: f.write(result.stderr.decode(errors="replace"))
                print(f"{name} #{index}: " + "; ".join(problems), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(counts, indent=1))
    return 1 if any(c["problems"] for c in counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
