"""AttnLab from Python and Jupyter.

    import attnlab
    t = attnlab.trace("sentence-transformers/all-MiniLM-L6-v2", "the eminem tune was totally awesome.",
                      pair="dude, that song from eminem was sick!", capture=("attention", "qkv"))
    t.attention["encoder"]        # numpy [layers, heads, queries, keys]
    t.head_view(layer=5)          # inline in Jupyter, VS Code and Colab

The `attnlab` binary does the work (found through $ATTNLAB, PATH, or the repository's build); this
package reads and writes trace files as numpy arrays and shows the binary's pages in notebooks.
"""
from .binary import find_binary
from .errors import AttnLabError, BinaryNotFoundError, TraceFileError
from .runs import RunResult, run
from .trace import Token, Trace, load
from .tracing import trace
from .transformers_import import from_transformers
from .views import View, show

__version__ = "0.1.0"
__all__ = ["AttnLabError", "BinaryNotFoundError", "RunResult", "Token", "Trace", "TraceFileError", "View",
           "find_binary", "from_transformers", "load", "run", "show", "trace"]
