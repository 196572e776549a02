"""Shared fixtures: the repository, the binary under test ($ATTNLAB, as `make python-test` sets it)
and traces written by it."""
import os
import subprocess
from pathlib import Path

import pytest

import attnlab

REPOSITORY = Path(__file__).resolve().parents[2]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
EMINEM_A = "the eminem tune was totally awesome."
EMINEM_B = "dude, that song from eminem was sick!"

# `make python-test` gives $ATTNLAB relative to the repository; tests change folders (and the notebook
# runs in its own), so it is made absolute once.
if os.environ.get("ATTNLAB"):
    os.environ["ATTNLAB"] = os.path.abspath(os.environ["ATTNLAB"])


@pytest.fixture(scope="session")
def binary():
    """The attnlab binary (tests fail, never skip, when it is missing)."""
    return attnlab.find_binary()


def run_binary(binary, *arguments, check=True):
    """Runs the binary from the repository as a user would; returns the completed process."""
    completed = subprocess.run([binary, *map(str, arguments)], cwd=REPOSITORY, capture_output=True, text=True)
    if check:
        assert completed.returncode == 0, f"attnlab {' '.join(map(str, arguments))} failed: {completed.stderr}"
    return completed


@pytest.fixture(scope="session")
def eminem_file(binary, tmp_path_factory):
    """The paraphrase pair traced by the binary with queries, keys, values and hidden states."""
    path = tmp_path_factory.mktemp("traces") / "eminem.safetensors"
    run_binary(binary, "trace", f"--model={MINILM}", f"--text={EMINEM_A}", f"--pair={EMINEM_B}",
               "--capture=attention,qkv,hidden", f"--out={path}")
    return path


@pytest.fixture(params=["native", "safetensors"])
def backend(request):
    """Both ways of reading and writing safetensors; `make python-test` installs the library."""
    if request.param == "safetensors":
        assert attnlab.safetensors_file.have_library(), "the safetensors package is not installed (make python-test installs it)"
    return request.param


