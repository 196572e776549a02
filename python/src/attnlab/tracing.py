"""`attnlab.trace`: run a model natively with the binary (`attnlab trace … --out`) and read the file."""
import tempfile
from pathlib import Path

from . import binary
from .trace import Trace

CAPTURES = ("attention", "qkv", "hidden", "all")


def capture_list(capture):
    """("attention", "qkv") or "attention,qkv" as the binary's comma-separated list, checked here so
    that a typo fails before a model is loaded."""
    items = capture.split(",") if isinstance(capture, str) else list(capture)
    items = [str(item).strip() for item in items if str(item).strip()]
    for item in items:
        if item not in CAPTURES:
            raise ValueError(f"unknown capture {item!r}; choose from {', '.join(CAPTURES)}")
    return ",".join(items or ["attention"])


def trace(model, text, pair=None, decoder=None, capture=("attention",), task=None, *, truncate=False, top_k=None,
          threads=None, cwd=None):
    """Runs `model` on `text` (and sentence B `pair`, or the decoder input `decoder`) with the
    `attnlab` binary and returns the `Trace`.

    model: a model folder, an id or name under `Models/` or `$ATTNLAB_MODELS` (the repository's
    `Models/` is always searched), or a Hugging Face id in the HF cache.
    capture: what to keep besides attention: "qkv" (per-head queries, keys, values), "hidden".
    task: similarity, classification, masked-lm, causal-lm, seq2seq or attention (default: the model's).
    truncate: cut an input longer than the model takes instead of failing; top_k: predictions kept per
    position; threads: for the forward pass; cwd: the folder the binary runs in (for relative paths).
    Raises AttnLabError with the binary's `error:` line when it fails.
    """
    arguments = ["trace", f"--model={model}", f"--text={text}", f"--capture={capture_list(capture)}"]
    if pair is not None:
        arguments.append(f"--pair={pair}")
    if decoder is not None:
        arguments.append(f"--decoder-text={decoder}")
    if task is not None:
        arguments.append(f"--task={task}")
    if truncate:
        arguments.append("--truncate")
    if top_k is not None:
        arguments.append(f"--top-k={int(top_k)}")
    if threads is not None:
        arguments.append(f"--threads={int(threads)}")
    with tempfile.TemporaryDirectory(prefix="attnlab-trace-") as folder:
        out = Path(folder) / "trace.safetensors"
        binary.run([*arguments, f"--out={out}"], cwd=cwd)
        result = Trace.load(out)
    result.path = None
    return result
