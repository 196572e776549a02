"""`attnlab.run`: run an experiment file with the binary and read back its run folder."""
import json
from pathlib import Path

from . import binary
from .errors import AttnLabError


def _lines(path):
    """The JSON objects of a JSON Lines file, or [] when there is none."""
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


class RunResult:
    """A finished run: `folder` (runs/<experiment>/<run-id>), `manifest` (manifest.json as a dict:
    experiment, models, each expectation's counts, timing), `variants` (variants.jsonl: each with its
    outputs and label), `expectations` (results.jsonl: each check with line, model, variant,
    expectation, passed, actual), `passed`, `report` (report.html) and `summary` (what `attnlab run`
    printed)."""

    def __init__(self, folder, summary=""):
        self.folder = Path(folder)
        with open(self.folder / "manifest.json", encoding="utf-8") as file:
            self.manifest = json.load(file)
        self.summary = summary
        self._variants = None
        self._expectations = None

    @property
    def expectations(self):
        """Every check of an expectation on a variant (results.jsonl; the manifest's in older runs)."""
        if self._expectations is None:
            self._expectations = _lines(self.folder / "results.jsonl") if "format" in self.manifest \
                else self.manifest.get("expectations", [])
        return self._expectations

    @property
    def passed(self):
        return bool(self.manifest.get("passed"))

    @property
    def variants(self):
        """The variant records (model, variant, trace, tokens, outputs, label): variants.jsonl, read once."""
        if self._variants is None:
            self._variants = _lines(self.folder / "variants.jsonl") if "format" in self.manifest \
                else self.manifest.get("variants", [])
        return self._variants

    @property
    def report(self):
        return self.folder / "report.html"

    def trace(self, variant, model=None):
        """The `Trace` of a variant ("input/variant", e.g. "eminem/terrific"), of `model` (its short
        name) when the experiment has several."""
        from .trace import load
        records = [r for r in self.variants if variant_path(r) == variant and (model is None or r["model"] == model)]
        if not records:
            known = sorted({variant_path(r) for r in self.variants})
            raise KeyError(f"no variant {variant!r}{'' if model is None else f' of model {model!r}'} in this run; "
                           f"variants: {', '.join(known)}")
        if len(records) > 1:
            raise KeyError(f"variant {variant!r} ran on several models ({', '.join(r['model'] for r in records)}); "
                           "name one with model=")
        return load(self.folder / records[0]["trace"])

    def show(self):
        """The run's report, inline."""
        from .views import show
        return show(self)

    def __repr__(self):
        passed = sum(1 for e in self.expectations if e.get("passed"))
        return (f"<attnlab.RunResult {self.manifest['experiment']['name']}: {len(self.variants)} variants, "
                f"expectations {passed} of {len(self.expectations)} passed, {self.folder}>")


def variant_path(record):
    """A manifest record's "input/variant"."""
    return f"{record['variant']['input']}/{record['variant']['name']}"


def run(experiment, runs=None, threads=None, cwd=None):
    """Runs an experiment file (`attnlab run`) and returns its `RunResult`. A failed expectation is a
    result (`passed` is False), not an exception; a file with problems raises AttnLabError with the
    binary's `error:` line."""
    arguments = ["run", str(experiment)]
    if runs is not None:
        arguments.append(f"--runs={runs}")
    if threads is not None:
        arguments.append(f"--threads={int(threads)}")
    completed = binary.run(arguments, cwd=cwd, accept=(0, 1))
    folder = None
    for line in completed.stdout.splitlines():
        if line.startswith("run: "):
            folder = line[len("run: "):].strip()
    if folder is None:
        raise AttnLabError(binary.error_line(completed.stderr), command=arguments, returncode=completed.returncode,
                           stderr=completed.stderr)
    folder = Path(folder)
    if not folder.is_absolute():
        folder = Path(cwd or ".").resolve() / folder
    return RunResult(folder, summary=completed.stdout)
