"""examples/quickstart.ipynb executed headless (nbclient), as a person runs it: every cell runs, each
view cell shows one self-contained iframe, and the page inside works in headless Chromium (the views'
self-tests pass inside the frame; the report loads), with the frame fitted to the page."""
import html
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from chromium import run_cell

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed(binary):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return notebook


def view_cells(notebook):
    return [cell for cell in notebook.cells if "view" in cell.metadata.get("tags", [])]


def test_every_cell_runs_and_says_what_it_found(executed):
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for cell in code for o in cell.outputs)
    assert "tokens (21): [CLS] the emi ##nem tune" in text
    assert "similarity 0.8088" in text and "terrific → awesome, layer 5, head 4: 0.351" in text
    assert "('city'," in text
    assert text.count("True") >= 8 and "False" not in text


def test_the_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    assert len(view_cells(notebook)) == 5


@pytest.mark.parametrize("index", range(5))
def test_each_view_works_inside_its_output_cell(executed, index, tmp_path):
    cell = view_cells(executed)[index]
    shown = [o for o in cell.outputs if "text/html" in o.get("data", {})]
    assert len(shown) == 1, f"cell {cell.source!r} should show one HTML output"
    output = shown[0].data["text/html"]
    frames = re.findall(r'<iframe\b[^>]*\bsrcdoc="([^"]*)"', output)
    assert len(frames) == 1
    page = html.unescape(frames[0])
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert not re.search(r'<(script|link|img)\b[^>]*\b(src|href)="https?:', page), "the page loads nothing from the network"
    is_view = 'id="attnlab-payload"' in page
    result = run_cell(output, tmp_path, selftest=is_view)
    assert result["frames"] == 1 and result["contentHeight"] > 200
    assert abs(result["frameHeight"] - min(result["contentHeight"] + 2, 1000)) <= 2, result
    if is_view:
        selftest = result["selftest"]
        assert selftest["errors"] == [] and [c for c in selftest["checks"] if not c["passed"]] == []
        assert selftest["passed"] and selftest["view"] in cell.source
