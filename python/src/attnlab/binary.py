"""Finding the `attnlab` binary and running it.

The package holds no model code: tracing, views and runs are the binary's work. It is found, in
order: `$ATTNLAB`, `attnlab` on PATH, then the build of the repository the package came from
(`.build/release/attnlab`, then `.build/debug/attnlab`), located through the path recorded when
the package was installed, the package's own folder (an editable install), or the current folder
and its parents.
"""
import os
import shutil
import subprocess
from pathlib import Path

from .errors import AttnLabError, BinaryNotFoundError

BUILD_PRODUCTS = (".build/release/attnlab", ".build/debug/attnlab")


def is_repository(folder):
    """True when `folder` is an AttnLab checkout (its Swift package, with the command's sources)."""
    folder = Path(folder)
    return (folder / "Package.swift").is_file() and (folder / "Sources" / "attnlab").is_dir()


def repository_candidates():
    """Folders that may be the AttnLab repository, most specific first."""
    starts = []
    try:
        from ._source import SOURCE  # written by setup.py when the package is installed
        starts.append(Path(SOURCE))
    except ImportError:
        pass
    starts.append(Path(__file__).resolve().parent)
    starts.append(Path.cwd())
    seen, out = set(), []
    for start in starts:
        for folder in (start, *start.parents):
            if folder not in seen:
                seen.add(folder)
                out.append(folder)
    return out


def find_repository():
    """The AttnLab repository the package belongs to (or the current folder is in), or None."""
    for folder in repository_candidates():
        if is_repository(folder):
            return folder
    return None


def find_binary():
    """The path of the `attnlab` binary; raises BinaryNotFoundError saying how to get one."""
    configured = os.environ.get("ATTNLAB")
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path.resolve())
        raise BinaryNotFoundError(
            f"$ATTNLAB is {configured!r}, which is not an executable file; "
            "point it at the binary (e.g. .build/debug/attnlab after `swift build`) or unset it")
    on_path = shutil.which("attnlab")
    if on_path:
        return on_path
    repository = find_repository()
    if repository is not None:
        for product in BUILD_PRODUCTS:
            path = repository / product
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
        raise BinaryNotFoundError(
            f"the attnlab binary is not built in {repository}: run `make build` (or `swift build`) there, "
            "or set $ATTNLAB to the binary")
    raise BinaryNotFoundError(
        "cannot find the attnlab binary: set $ATTNLAB to it, put it on PATH, or build it in the AttnLab "
        "repository with `make build` (it becomes .build/debug/attnlab)")


def environment():
    """The binary's environment: ours, with the repository's `Models/` added to `$ATTNLAB_MODELS`
    so that the bundled models are found by id from any folder (a notebook's, say)."""
    env = dict(os.environ)
    repository = find_repository()
    if repository is not None and (repository / "Models").is_dir():
        models = str(repository / "Models")
        parts = [p for p in env.get("ATTNLAB_MODELS", "").split(":") if p]
        if models not in parts:
            env["ATTNLAB_MODELS"] = ":".join(parts + [models])
    return env


def error_line(stderr):
    """The binary's `error: …` line without the prefix (with the indented lines that continue it, such
    as the problems of an experiment file), or for bad usage its `Error: …` line."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.lower().startswith("error:"):
            message = [line[len("error:"):].strip()]
            message += [following.strip() for following in lines[index + 1:] if following.startswith((" ", "\t"))]
            return "\n".join(message)
    return lines[-1].strip() if lines else "attnlab failed without a message"


def run(arguments, cwd=None, accept=(0,)):
    """Runs `attnlab ARGUMENTS`; returns the completed process, or raises AttnLabError carrying the
    binary's `error:` line when it exits with a status not in `accept`."""
    command = [find_binary(), *[str(a) for a in arguments]]
    completed = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True,
                               encoding="utf-8", errors="replace")
    if completed.returncode not in accept:
        raise AttnLabError(error_line(completed.stderr), command=command, returncode=completed.returncode,
                           stderr=completed.stderr)
    return completed
