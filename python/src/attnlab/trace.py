"""`Trace`: one forward pass as numpy arrays, read from and written to AttnLab's trace file.

A trace file is a safetensors file with tensors named `<stack>.<what>` (`encoder.attention`
`[layers, heads, queries, keys]`, `encoder.query`/`key`/`value` `[layers, heads, n, head_dim]`,
`encoder.hidden` `[layers + 1, n, hidden]`, the same for `decoder` and `cross`, and
`outputs.logits`) and everything else as JSON under the metadata key `attnlab.trace`.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import safetensors_file
from .errors import TraceFileError

METADATA_KEY = "attnlab.trace"
FORMAT_VERSION = 1
STACKS = ("encoder", "decoder", "cross")
PER_STACK = ("attention", "query", "key", "value", "hidden")
PACKAGE_VERSION = "0.1.0"


@dataclass
class Token:
    """One token: the vocabulary's spelling (`text`, `##nem`), its display form (`nem`), its id, its
    character span in its sentence (`start`, `end`), its word index in that sentence, its segment
    (0 for sentence A, 1 for B) and whether the tokenizer added it (`[CLS]`)."""
    text: str
    display: str = None
    id: int = -1
    start: int = None
    end: int = None
    word: int = None
    segment: int = 0
    special: bool = False

    def __post_init__(self):
        if self.display is None:
            self.display = self.text

    @classmethod
    def from_json(cls, value):
        """A token from the trace file: a plain string or an object."""
        if isinstance(value, Token):
            return value
        if isinstance(value, str):
            return cls(text=value)
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise TraceFileError(f"a token must be a string or an object with a text, not {value!r}")
        known = {k: value[k] for k in ("text", "display", "id", "start", "end", "word", "segment", "special") if k in value}
        return cls(**known)

    def to_json(self):
        """The object the trace file holds (spans and word only when known)."""
        out = {"text": self.text, "display": self.display, "id": int(self.id),
               "segment": int(self.segment), "special": bool(self.special)}
        for key in ("start", "end", "word"):
            value = getattr(self, key)
            if value is not None:
                out[key] = int(value)
        return out

    def __getitem__(self, key):
        """`token["text"]` as well as `token.text`."""
        return asdict(self)[key]


class Trace:
    """Everything a view, a diff or a snapshot needs from one forward pass.

    - `attention["encoder"]`: `[layers, heads, queries, keys]` float32 (also `"decoder"`, `"cross"`
      for encoder-decoders: queries of both are decoder tokens, keys of `cross` are `tokens`);
    - `query`, `key`, `value` (`[layers, heads, n, head_dim]`) and `hidden` (`[layers + 1, n, hidden]`):
      dicts by stack, empty when not captured;
    - `tokens` (and `decoder_tokens`): lists of `Token`; `token_type_ids`;
    - `inputs` (`a`, `b`, `decoder`), `outputs` (`similarity`, `labels` + `probabilities`, `topk`),
      `logits` (classification), `provenance` (model, architecture, hashes, task, capture, version);
    - `geometry`: by stack, how the attention was computed, when known (`scales` per layer,
      `key_value_heads`, `causal`, `sliding_window`, `position_bias`, `rotary`). With grouped-query
      attention, `key` and `value` have `key_value_heads` heads: query head h reads key/value head
      h // (heads // key_value_heads).
    """

    def __init__(self, attention, tokens, *, query=None, key=None, value=None, hidden=None, decoder_tokens=None,
                 token_type_ids=None, inputs=None, outputs=None, logits=None, provenance=None, geometry=None, path=None):
        if not isinstance(attention, dict):
            attention = {"encoder": attention}
        self.attention = {k: np.asarray(v, dtype=np.float32) for k, v in attention.items()}
        self.query, self.key, self.value, self.hidden = (
            {k: np.asarray(v, dtype=np.float32) for k, v in (d or {}).items()} for d in (query, key, value, hidden))
        self.tokens = [Token.from_json(t) for t in tokens]
        self.decoder_tokens = None if decoder_tokens is None else [Token.from_json(t) for t in decoder_tokens]
        self.token_type_ids = None if token_type_ids is None else [int(t) for t in token_type_ids]
        self.inputs = dict(inputs) if inputs else {"a": " ".join(t.text for t in self.tokens)}
        self.outputs = dict(outputs or {})
        self.logits = None if logits is None else np.asarray(logits, dtype=np.float32)
        self.provenance = complete_provenance(provenance)
        self.geometry = {k: dict(v) for k, v in (geometry or {}).items()}
        self.path = None if path is None else Path(path)

    # ---- reading and writing ----

    @classmethod
    def load(cls, path, backend="auto"):
        """Reads a trace file (from `attnlab trace`, a run folder, a snapshot, or Python)."""
        tensors, metadata = safetensors_file.read(path, backend=backend)
        if METADATA_KEY not in metadata:
            raise TraceFileError(f"{path}: not an AttnLab trace: the safetensors metadata has no {METADATA_KEY!r} entry "
                                 "(write one with attnlab.trace, Trace.save or `attnlab trace --out`)")
        try:
            document = json.loads(metadata[METADATA_KEY])
        except ValueError as error:
            raise TraceFileError(f"{path}: the trace metadata is not valid JSON: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("tokens"), list):
            raise TraceFileError(f"{path}: the trace metadata has no list of tokens")
        version = document.get("format_version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise TraceFileError(f"{path}: trace format version {version} is newer than this package reads "
                                 f"({FORMAT_VERSION}); update attnlab")
        parts = {what: {} for what in PER_STACK}
        for name, array in tensors.items():
            stack, _, what = name.partition(".")
            if stack in STACKS and what in PER_STACK:
                parts[what][stack] = array
        if not parts["attention"]:
            raise TraceFileError(f"{path}: the trace has no attention (no tensor named encoder.attention, "
                                 "decoder.attention or cross.attention)")
        trace = cls(parts["attention"], document["tokens"], query=parts["query"], key=parts["key"],
                    value=parts["value"], hidden=parts["hidden"], decoder_tokens=document.get("decoder_tokens"),
                    token_type_ids=document.get("token_type_ids"), inputs=document.get("inputs"),
                    outputs=document.get("outputs"), logits=tensors.get("outputs.logits"),
                    provenance=document.get("provenance"),
                    geometry={k: v for k, v in (document.get("stacks") or {}).items() if k in parts["attention"]}, path=path)
        if trace.token_type_ids is not None and len(trace.token_type_ids) != len(trace.tokens):
            trace.token_type_ids = None
        trace.validate(where=str(path))
        return trace

    def save(self, path, backend="auto"):
        """Writes the trace file atomically; `attnlab view/figure/diff` read it. Returns the path."""
        self.validate(where=str(path))
        tensors = {}
        for what in PER_STACK:
            for stack, array in getattr(self, what).items():
                tensors[f"{stack}.{what}"] = np.ascontiguousarray(array, dtype=np.float32)
        if self.logits is not None:
            tensors["outputs.logits"] = np.ascontiguousarray(self.logits, dtype=np.float32)
        document = {
            "format_version": FORMAT_VERSION,
            "inputs": self.inputs,
            "tokens": [t.to_json() for t in self.tokens],
            "outputs": self.outputs,
            "provenance": self.provenance,
        }
        if self.decoder_tokens is not None:
            document["decoder_tokens"] = [t.to_json() for t in self.decoder_tokens]
        if self.token_type_ids is not None:
            document["token_type_ids"] = self.token_type_ids
        if self.geometry:
            document["stacks"] = self.geometry
        try:
            text = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=plain,
                              allow_nan=False)
        except (TypeError, ValueError) as error:
            raise TraceFileError(f"{path}: the trace's inputs, outputs or provenance cannot be stored as JSON: {error}") from None
        safetensors_file.write(path, tensors, {METADATA_KEY: text}, backend=backend)
        return Path(path)

    def validate(self, where="the trace"):
        """Raises TraceFileError unless every tensor agrees with the tokens, as AttnLab requires."""
        if not self.attention:
            raise TraceFileError(f"{where}: the trace has no attention")
        for stack in [*self.attention, *self.query, *self.key, *self.value, *self.hidden]:
            if stack not in STACKS:
                raise TraceFileError(f"{where}: unknown stack {stack!r}; stacks are {', '.join(STACKS)}")
            if stack not in self.attention:
                raise TraceFileError(f"{where}: {stack} has queries, keys, values or hidden states but no attention")
        if self.decoder_tokens is None and any(s in self.attention for s in ("decoder", "cross")):
            raise TraceFileError(f"{where}: decoder and cross attention need decoder_tokens (their queries)")
        for stack, attention in self.attention.items():
            queries, keys = len(self.query_tokens(stack)), len(self.key_tokens(stack))
            if attention.ndim != 4 or attention.shape[2] != queries or attention.shape[3] != keys:
                raise TraceFileError(f"{where}: {stack}.attention has shape {list(attention.shape)} but the trace has "
                                     f"{queries} query and {keys} key tokens; attention must be [layers, heads, queries, keys]")
            if not np.isfinite(attention).all():
                raise TraceFileError(f"{where}: {stack}.attention holds NaN or infinite values")
            layers, heads = attention.shape[:2]
            geometry = self.geometry.get(stack)
            if geometry is not None:
                check_geometry(geometry, stack, layers, where)
            key = self.key.get(stack)
            key_value_heads = (geometry or {}).get("key_value_heads") or (key.shape[1] if key is not None and key.ndim == 4 else heads)
            if not 1 <= key_value_heads <= heads or heads % key_value_heads:
                raise TraceFileError(f"{where}: {stack} has {key_value_heads} key/value heads for {heads} query heads; "
                                     "the query heads must be a multiple of the key/value heads")
            for what in ("query", "key", "value"):
                array = getattr(self, what).get(stack)
                n = queries if what == "query" else keys
                expected = heads if what == "query" else key_value_heads
                if array is not None and (array.ndim != 4 or array.shape[:3] != (layers, expected, n)):
                    raise TraceFileError(f"{where}: {stack}.{what} has shape {list(array.shape)}, "
                                         f"expected [{layers}, {expected}, {n}, head_dim]")
            query = self.query.get(stack)
            if query is not None and key is not None and query.shape[3] != key.shape[3]:
                raise TraceFileError(f"{where}: {stack}.query has width {query.shape[3]} but {stack}.key has {key.shape[3]}")
            hidden = self.hidden.get(stack)
            if hidden is not None and (hidden.ndim != 3 or hidden.shape[1] != queries):
                raise TraceFileError(f"{where}: {stack}.hidden has shape {list(hidden.shape)}, "
                                     f"expected [layers + 1, {queries}, hidden]")
        if not isinstance(self.inputs.get("a"), str):
            raise TraceFileError(f"{where}: inputs must hold the text of sentence A as 'a'")
        check_outputs(self.outputs, where)

    # ---- what the trace holds ----

    def query_tokens(self, stack="encoder"):
        """The tokens along the query axis of a stack."""
        return self.tokens if stack == "encoder" else (self.decoder_tokens or [])

    def key_tokens(self, stack="encoder"):
        """The tokens along the key axis of a stack."""
        return (self.decoder_tokens or []) if stack == "decoder" else self.tokens

    @property
    def stacks(self):
        """The stacks the trace holds, in the order encoder, decoder, cross."""
        return [s for s in STACKS if s in self.attention]

    @property
    def is_pair(self):
        """True when the input is a sentence pair."""
        return any(t.segment == 1 for t in self.tokens)

    def __repr__(self):
        stacks = ", ".join(f"{s} {'×'.join(map(str, self.attention[s].shape))}" for s in self.stacks)
        lines = [f"<attnlab.Trace {self.provenance.get('model')} ({self.provenance.get('architecture')}), {stacks}>",
                 f"tokens ({len(self.tokens)}): " + " ".join(t.text for t in self.tokens)]
        if self.decoder_tokens is not None:
            lines.append(f"decoder tokens ({len(self.decoder_tokens)}): " + " ".join(t.text for t in self.decoder_tokens))
        if self.outputs:
            lines.append("outputs: " + json.dumps(self.outputs, ensure_ascii=False, default=plain)[:300])
        captured = [w for w in ("query", "key", "value", "hidden") if getattr(self, w)]
        if captured:
            lines.append("captured: attention, " + ", ".join(captured))
        return "\n".join(lines)

    # ---- views ----

    def head_view(self, **options):
        """The head view (BertViz's), inline in a notebook; see `attnlab.views.render` for options."""
        from .views import render
        return render(self, "head", **options)

    def model_view(self, **options):
        """Every layer × head as thumbnails, inline in a notebook."""
        from .views import render
        return render(self, "model", **options)

    def neuron_view(self, **options):
        """Queries, keys, q×k, α and ‖α·v‖ of one head; needs q/k/v (`capture=("attention", "qkv")`)."""
        from .views import render
        return render(self, "neuron", **options)


GEOMETRY_FIELDS = ("scales", "key_value_heads", "causal", "position_bias", "rotary")


def check_geometry(geometry, stack, layers, where):
    """Raises TraceFileError for a stack geometry AttnLab could not read back."""
    missing = [f for f in GEOMETRY_FIELDS if f not in geometry]
    if missing:
        raise TraceFileError(f"{where}: the {stack} geometry lacks {', '.join(missing)} "
                             f"(it needs {', '.join(GEOMETRY_FIELDS)}; sliding_window is optional)")
    scales = geometry["scales"]
    if not isinstance(scales, list) or len(scales) != layers or not np.isfinite(np.asarray(scales, dtype=float)).all():
        raise TraceFileError(f"{where}: the {stack} geometry needs one finite score scale per layer ({layers})")
    window = geometry.get("sliding_window")
    if window is not None and (not isinstance(window, int) or window < 1):
        raise TraceFileError(f"{where}: the {stack} sliding window is {window!r}")


def check_outputs(outputs, where):
    """Raises TraceFileError for outputs AttnLab could not read back."""
    def number(x):
        return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)
    if "similarity" in outputs and not number(outputs["similarity"]):
        raise TraceFileError(f"{where}: outputs.similarity must be a number")
    if "labels" in outputs and not all(isinstance(x, str) for x in outputs["labels"]):
        raise TraceFileError(f"{where}: outputs.labels must be a list of strings")
    if "probabilities" in outputs and not all(number(x) for x in outputs["probabilities"]):
        raise TraceFileError(f"{where}: outputs.probabilities must be a list of numbers")
    for prediction in outputs.get("topk") or []:
        candidates = prediction.get("candidates") if isinstance(prediction, dict) else None
        if (not isinstance(candidates, list) or not isinstance(prediction.get("position"), (int, np.integer))
                or not all(isinstance(c, dict) and isinstance(c.get("token"), str) and number(c.get("id"))
                           and number(c.get("probability")) for c in candidates)):
            raise TraceFileError(f"{where}: outputs.topk entries must be {{position, candidates: [{{token, id, probability}}]}}")


def complete_provenance(provenance):
    """Provenance with every field AttnLab's reader requires (defaults for an imported trace)."""
    out = {"model": "imported", "architecture": "unknown", "weights_hash": "", "tokenizer_hash": "", "task": "",
           "dtype": "float32", "attnlab_version": PACKAGE_VERSION, "capture": []}
    out.update(provenance or {})
    return out


def plain(value):
    """numpy scalars and arrays as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def load(path, backend="auto"):
    """Reads a trace file into a `Trace`."""
    return Trace.load(path, backend=backend)
