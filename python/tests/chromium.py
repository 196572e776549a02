"""Headless Chromium for the tests: an output cell's HTML is put in a host page, as a notebook puts
it, and the view inside the iframe runs its self-test (a frame named `attnlab-selftest` runs it and
posts the result to its parent), as Tests/AttnViewsTests/Chromium.swift does for pages on their own."""
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HOST = """<!doctype html>
<html><head><meta charset="utf-8"><title>notebook output</title></head>
<body style="margin:0;width:1100px">
<div id="cell">{cell}</div>
<pre id="host-result">waiting</pre>
<script>
const frame = document.querySelector('#cell iframe');
const result = {{ frames: document.querySelectorAll('#cell iframe').length }};
function publish() {{ document.getElementById('host-result').textContent = JSON.stringify(result); }}
window.addEventListener('message', (event) => {{
  if (!event.data || !event.data.attnlabSelftest) return;
  result.selftest = event.data.attnlabSelftest;
  publish();
}});
// After the page has started and the frame has fitted itself, measure both; again once the
// self-test is done (it redraws); each time until two readings 250 ms apart agree, so that a
// redraw whose resize the frame has not yet followed is not what is measured.
function measure(tries) {{
  const reading = {{ frameHeight: frame ? frame.getBoundingClientRect().height : null }};
  try {{ reading.contentHeight = frame.contentDocument.documentElement.offsetHeight; }} catch (error) {{ result.contentError = String(error); }}
  const stable = reading.frameHeight === result.frameHeight && reading.contentHeight === result.contentHeight;
  Object.assign(result, reading);
  result.measured = true;
  publish();
  if (!stable && tries > 0) setTimeout(() => measure(tries - 1), 250);
}}
setTimeout(() => measure(20), {settle});
window.addEventListener('message', (event) => {{
  if (event.data && event.data.attnlabSelftest) setTimeout(() => measure(20), 500);
}});
</script>
</body></html>
"""


def executable():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("chromium is not installed, and the notebook tests need it: run `make test`, "
                         "which installs it (Debian package `chromium`)")


def dump_dom(page, budget_ms=60000, timeout=180):
    """The DOM of `page` (a file) after its scripts ran for `budget_ms` of virtual time."""
    with tempfile.TemporaryDirectory(prefix="attnlab-chromium-") as profile:
        completed = subprocess.run(
            [executable(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
             "--window-size=1100,900", "--dump-dom", Path(page).resolve().as_uri()],
            capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout)
    return completed.stdout


def run_cell(cell_html, folder, selftest=True, settle_ms=4000):
    """Opens an output cell's HTML in a host page; returns what the host saw: `frames`, the view's
    `selftest` result (when `selftest`), `frameHeight` and `contentHeight` after `settle_ms`."""
    if selftest:
        cell_html = cell_html.replace("<iframe ", '<iframe name="attnlab-selftest" ', 1)
    page = Path(folder) / "host.html"
    page.write_text(HOST.format(cell=cell_html, settle=settle_ms), encoding="utf-8")
    dom = dump_dom(page)
    match = re.search(r'<pre id="host-result">(.*?)</pre>', dom, re.S)
    assert match, f"the host page wrote no result; its DOM begins {dom[:500]!r}"
    text = html.unescape(match.group(1))
    assert text != "waiting", "the host page's scripts did not run"
    return json.loads(text)
