"""`attnlab.from_transformers`: a `Trace` from a Hugging Face model run in PyTorch (or anything that
gives the same objects), so that models AttnLab does not run natively still get every view, diff,
figure and snapshot.

Nothing here imports torch or transformers: tensors are recognised by their methods and turned into
numpy arrays; numpy arrays, lists and plain dicts work as well.
"""
import numpy as np

from .errors import TraceFileError
from .trace import PACKAGE_VERSION, Token, Trace

SPACE = "\u2423"   # ␣, how a token made only of spaces is shown, as AttnLab's tokenizers show it


def from_transformers(outputs, tokenizer, encoding, *, decoder_encoding=None, qkv=None, model=None, text=None,
                      pair=None, decoder_text=None, task=None, task_outputs=None, top_k=5, batch_index=0):
    """A `Trace` from a transformers forward pass.

    outputs: the model's output, run with `output_attentions=True` (and `attn_implementation="eager"`,
        which returns the attention probabilities); `output_hidden_states=True` adds hidden states.
        Every stack is read: `attentions` (encoder-only and decoder-only models: the `encoder` stack,
        as AttnLab keeps GPT-2's), `encoder_attentions`, `decoder_attentions`, `cross_attentions`.
    tokenizer: the model's tokenizer (tokens, display forms, special tokens).
    encoding: what `tokenizer(text, pair, return_tensors="pt")` gave (a fast tokenizer's encoding
        adds word ids and sentence ids; `return_offsets_mapping=True` adds character spans), or a dict
        of arrays with `input_ids` (and `token_type_ids`, `attention_mask`, `offset_mapping`).
        Padding (`attention_mask` 0) is left out of the trace.
    decoder_encoding: for an encoder-decoder, the decoder's input ids as the model read them (the
        `decoder_input_ids` you passed; with `labels` only, the labels shifted right), or an encoding.
    qkv: per-head queries, keys and values, `{"query": q, "key": k, "value": v}` (the encoder stack)
        or `{"encoder": {...}, "decoder": {...}, "cross": {...}}`; each a list with one tensor per
        layer, `[batch, n, heads × head_dim]` (a projection's output, as a forward hook sees it) or
        `[batch, heads, n, head_dim]`. Queries and keys must be what the scores use (after rotary
        positions, for models that have them). See the README for hooks that collect them.
    model: the transformers model, for the provenance (`config._name_or_path`, `model_type`) and the
        class names of a classifier (`config.id2label`).
    text, pair, decoder_text: the input texts (default: decoded from the ids).
    task: the outputs' task (default: classification for `[batch, classes]` logits, masked-lm when the
        input holds the mask token, seq2seq for encoder-decoders, causal-lm when the attention is
        causal, otherwise attention only). task_outputs: outputs to set, e.g. `{"similarity": 0.81}`.
    top_k: predictions kept per position (masked-lm, causal-lm, seq2seq).
    batch_index: which example of the batch.
    """
    encoder = present(field(outputs, "encoder_attentions"))
    stacks = {"encoder": encoder if encoder is not None else present(field(outputs, "attentions")),
              "decoder": present(field(outputs, "decoder_attentions")),
              "cross": present(field(outputs, "cross_attentions"))}
    if stacks["encoder"] is None:
        raise TraceFileError("the outputs hold no attention: load the model with attn_implementation=\"eager\" "
                             "(other implementations return none) and run it with output_attentions=True")
    ids, keep = input_ids(encoding, batch_index)
    tokens = encoder_tokens(tokenizer, encoding, ids, keep, batch_index)
    decoder_ids, decoder_keep, decoder_tokens = None, None, None
    if stacks["decoder"] is not None or stacks["cross"] is not None:
        if decoder_encoding is None:
            raise TraceFileError("these outputs have decoder attention: pass decoder_encoding=, the decoder input ids "
                                 "the model read (decoder_input_ids, or the labels shifted right)")
        decoder_ids, decoder_keep = input_ids(decoder_encoding, batch_index)
        decoder_tokens = encoder_tokens(tokenizer, decoder_encoding, decoder_ids, decoder_keep, batch_index)

    # Which positions each stack keeps along (queries, keys), and how many the model saw.
    positions = {"encoder": (keep, keep), "decoder": (decoder_keep, decoder_keep), "cross": (decoder_keep, keep)}
    lengths = {"encoder": (len(ids), len(ids))}
    if decoder_ids is not None:
        lengths.update(decoder=(len(decoder_ids), len(decoder_ids)), cross=(len(decoder_ids), len(ids)))
    attention = {name: per_layer(layers, batch_index, *positions[name], lengths[name], name)
                 for name, layers in stacks.items() if layers is not None}
    query, key, value = read_qkv(qkv, attention, positions, batch_index)
    hidden = read_hidden(outputs, attention, positions, batch_index)

    logits = field(outputs, "logits")
    logits = None if logits is None else to_numpy(logits)[batch_index]   # [classes] or [n, vocabulary]
    config = getattr(model, "config", None)
    task = task or infer_task(logits, ids[keep], tokenizer, attention)
    predicted = keep if decoder_keep is None else decoder_keep
    results, kept_logits = task_results(task, logits, tokenizer, ids[keep], predicted, config, top_k)
    results.update(task_outputs or {})

    type_ids = array_field(encoding, "token_type_ids")
    provenance = {
        "model": str(getattr(config, "_name_or_path", "") or getattr(tokenizer, "name_or_path", "") or "imported"),
        "architecture": str(getattr(config, "model_type", "") or "unknown"),
        "task": task, "attnlab_version": PACKAGE_VERSION, "dtype": dtype_name(stacks["encoder"]),
        "capture": (["qkv"] if query or key or value else []) + (["hidden"] if hidden else []),
    }
    trace = Trace(attention, tokens, query=query, key=key, value=value, hidden=hidden, decoder_tokens=decoder_tokens,
                  token_type_ids=None if type_ids is None else select(type_ids, batch_index, 2)[keep].tolist(),
                  inputs=input_texts(tokenizer, tokens, decoder_tokens, text, pair, decoder_text),
                  outputs=results, logits=kept_logits, provenance=provenance)
    trace.validate(where="from_transformers")
    return trace


def read_qkv(qkv, attention, positions, batch_index):
    """(query, key, value) dicts by stack, each `[layers, heads, n, head_dim]`."""
    query, key, value = {}, {}, {}
    for name, parts in qkv_stacks(qkv).items():
        if name not in attention:
            raise TraceFileError(f"qkv has a {name!r} stack but the outputs have no {name} attention")
        heads = attention[name].shape[1]
        for what, store in (("query", query), ("key", key), ("value", value)):
            if parts.get(what) is not None:
                rows = positions[name][0] if what == "query" else positions[name][1]
                head_dim = query[name].shape[-1] if name in query else None
                store[name] = per_head(parts[what], batch_index, rows, heads, name, what, head_dim)
    return query, key, value


def read_hidden(outputs, attention, positions, batch_index):
    """Hidden states `[layers + 1, n, hidden]` by stack, when the model was run with output_hidden_states."""
    hidden = {}
    for name, source in (("encoder", "encoder_hidden_states"), ("encoder", "hidden_states"),
                         ("decoder", "decoder_hidden_states")):
        states = field(outputs, source)
        if states is not None and len(states) and name not in hidden and name in attention:
            hidden[name] = np.stack([select(to_numpy(s), batch_index, 3)[positions[name][0]] for s in states])
    return hidden


def input_texts(tokenizer, tokens, decoder_tokens, text, pair, decoder_text):
    """The trace's inputs: the texts given, or the ids decoded."""
    def decoded(selected):
        return decode(tokenizer, [t.id for t in selected if not t.special])

    inputs = {"a": text if text is not None else decoded(t for t in tokens if t.segment == 0)}
    if pair is not None or any(t.segment == 1 for t in tokens):
        inputs["b"] = pair if pair is not None else decoded(t for t in tokens if t.segment == 1)
    if decoder_tokens is not None:
        inputs["decoder"] = decoder_text if decoder_text is not None else decoded(decoder_tokens)
    return inputs


# ---- reading the objects ----

def field(container, name):
    """`container.name` or `container[name]` (transformers' ModelOutput and BatchEncoding allow both), or None."""
    value = getattr(container, name, None)
    if value is None and hasattr(container, "get"):
        try:
            value = container.get(name)
        except Exception:
            value = None
    return value


def present(layers):
    """A stack's attention, or None when the outputs have none for it (None, an empty tuple, or only
    None entries: transformers gives those for stacks a model lacks or does not return)."""
    if layers is None:
        return None
    if isinstance(layers, (list, tuple)) and all(layer is None for layer in layers):
        return None
    return layers


def to_numpy(value):
    """A torch tensor (any device or dtype, bfloat16 included), a numpy array or a list as numpy."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def array_field(container, name):
    value = field(container, name)
    return None if value is None else to_numpy(value)


def select(array, batch_index, batched_rank):
    """One example of a batch: the array as is when it has one dimension fewer than a batch."""
    if array.ndim == batched_rank:
        return array[batch_index]
    if array.ndim == batched_rank - 1:
        return array
    raise TraceFileError(f"expected an array of rank {batched_rank} (with the batch) or {batched_rank - 1}, "
                         f"got shape {list(array.shape)}")


def input_ids(encoding, batch_index):
    """(all ids of the example, the positions kept: those the attention mask does not pad)."""
    if hasattr(encoding, "shape") or isinstance(encoding, (list, tuple)):
        ids = select(to_numpy(encoding), batch_index, 2)
        return ids.astype(np.int64), np.arange(len(ids))
    raw = array_field(encoding, "input_ids")
    if raw is None:
        raise TraceFileError("the encoding has no input_ids")
    ids = select(raw, batch_index, 2).astype(np.int64)
    mask = array_field(encoding, "attention_mask")
    keep = np.arange(len(ids)) if mask is None else np.flatnonzero(select(mask, batch_index, 2))
    return ids, keep


def method_result(encoding, name, batch_index):
    """A fast tokenizer's `encoding.word_ids(i)` / `sequence_ids(i)`, or None when not available."""
    method = getattr(encoding, name, None)
    if not callable(method):
        return None
    try:
        return list(method(batch_index))
    except Exception:   # slow tokenizers raise; a plain dict has no such method
        return None


def words(encoding, batch_index, keep):
    found = method_result(encoding, "word_ids", batch_index)
    return None if found is None else [found[i] for i in keep]


def display_form(tokenizer, text, special):
    """The token as a person reads it (`##nem` → `nem`, `Ġworld` → `world`, `▁` → `␣`), from the
    tokenizer's own decoding of the single token."""
    if special:
        return text
    try:
        shown = tokenizer.convert_tokens_to_string([text])
    except Exception:
        return text
    if not isinstance(shown, str) or shown == "":
        return SPACE if text.strip() == "" or text in ("\u2581", "\u0120") else text
    prefix = continuation_prefix(tokenizer)
    if shown.startswith(prefix) and len(shown) > len(prefix):
        shown = shown[len(prefix):]   # WordPiece drops `##` only when joining to the token before
    if shown.strip() == "":
        return SPACE * max(1, shown.count(" ")) if "\n" not in shown and "\t" not in shown else escape(shown)
    return escape(shown.strip())


def continuation_prefix(tokenizer):
    """WordPiece's prefix of a word's later pieces (`##`): the fast tokenizer's decoder says."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    prefix = getattr(decoder, "prefix", None)
    return prefix if isinstance(prefix, str) and prefix else "##"


def escape(text):
    return text.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def special_ids(tokenizer):
    return set(int(i) for i in (getattr(tokenizer, "all_special_ids", None) or []))


def encoder_tokens(tokenizer, encoding, ids, keep, batch_index):
    """An input's tokens with segment, word, span and whether they are special, from whatever the
    encoding tells (ids alone: special tokens are the tokenizer's)."""
    kept = ids[keep]
    texts = tokenizer.convert_ids_to_tokens([int(i) for i in kept])
    sequence_ids = method_result(encoding, "sequence_ids", batch_index)
    sequence_ids = None if sequence_ids is None else [sequence_ids[i] for i in keep]
    word_ids = words(encoding, batch_index, keep)
    mask = array_field(encoding, "special_tokens_mask")
    if mask is not None:
        special = [bool(x) for x in select(mask, batch_index, 2)[keep]]
    elif sequence_ids is not None:
        special = [s is None for s in sequence_ids]
    else:
        specials = special_ids(tokenizer)
        special = [int(i) in specials for i in kept]
    segments = token_segments(array_field(encoding, "token_type_ids"), sequence_ids, special, keep, batch_index)
    offsets = array_field(encoding, "offset_mapping")
    offsets = None if offsets is None else select(offsets, batch_index, 3)[keep]
    tokens = []
    for n, (i, text) in enumerate(zip(kept, texts)):
        token = Token(text=text, display=display_form(tokenizer, text, special[n]), id=int(i),
                      segment=segments[n], special=special[n])
        if not special[n]:
            if word_ids is not None and word_ids[n] is not None:
                token.word = int(word_ids[n])
            if offsets is not None:
                token.start, token.end = int(offsets[n][0]), int(offsets[n][1])
        tokens.append(token)
    return tokens


def token_segments(type_ids, sequence_ids, special, keep, batch_index):
    """0 for sentence A, 1 for B: the token type ids when they tell the sentences apart (BERT),
    otherwise the tokenizer's sequence ids, a special token belonging to the sentence it follows
    (0 before any), as AttnLab's tokenizers assign them."""
    if type_ids is not None:
        types = [int(t) for t in select(type_ids, batch_index, 2)[keep]]
        if any(types):
            return [min(t, 1) for t in types]
    if sequence_ids is None:
        return [0] * len(keep)
    out, current = [], 0
    for n, sequence in enumerate(sequence_ids):
        if sequence is not None:
            current = int(sequence)
            out.append(current)
            continue
        # In a run of special tokens between A and B (RoBERTa's `</s></s>`), the first ends A and the
        # others open B.
        following = next((int(s) for s in sequence_ids[n + 1:] if s is not None), None)
        opens_next = n > 0 and sequence_ids[n - 1] is None and following is not None and following != current
        out.append(following if opens_next else current)
    return out


def per_layer(layers, batch_index, rows, columns, lengths, name):
    """One stack's attention `[layers, heads, rows, columns]` from a tuple of `[batch, heads, q, k]`
    (or an array `[layers, batch, heads, q, k]`, or one example's `[layers, heads, q, k]`)."""
    if any(layer is None for layer in layers):
        raise TraceFileError(f"the {name} attention holds None for some layers: load the model with "
                             "attn_implementation=\"eager\", which returns every layer's attention probabilities")
    stacked = np.stack([select(to_numpy(layer), batch_index, 4) for layer in layers]).astype(np.float32)
    if stacked.shape[2:] != lengths:
        raise TraceFileError(f"the {name} attention is {stacked.shape[2]} × {stacked.shape[3]} (queries × keys) but the "
                             f"encodings have {lengths[0]} × {lengths[1]} tokens; pass the encodings the model read")
    return stacked[:, :, rows][:, :, :, columns]


def qkv_stacks(qkv):
    """`{"query": …}` or `{"encoder": {"query": …}, …}` as the second form."""
    if not qkv:
        return {}
    if any(k in qkv for k in ("query", "key", "value")):
        return {"encoder": qkv}
    return dict(qkv)


def per_head(layers, batch_index, rows, heads, name, what, head_dim=None):
    """`[layers, heads', n, head_dim]` from one tensor per layer, `[batch, n, heads' × head_dim]` (a
    projection's output) or `[batch, heads', n, head_dim]`. Grouped-query keys and values keep their
    fewer heads (query head h reads h // (heads // heads')), as AttnLab's traces keep them; their head
    size is the queries' (`head_dim`)."""
    out = []
    for layer in layers:
        array = to_numpy(layer).astype(np.float32)
        if array.ndim == 4:
            array = array[batch_index]                                       # [heads', n, d]
        elif array.ndim == 3:
            flat = array[batch_index]                                        # [n, heads' × d]
            size = head_dim or flat.shape[-1] // heads
            if size == 0 or flat.shape[-1] % size:
                raise TraceFileError(f"{name}.{what}: cannot split width {flat.shape[-1]} into heads of {size}")
            array = flat.reshape(flat.shape[0], -1, size).transpose(1, 0, 2)  # [heads', n, d]
        else:
            raise TraceFileError(f"{name}.{what}: each layer must be [batch, n, heads × head_dim] or "
                                 f"[batch, heads, n, head_dim], not {list(array.shape)}")
        if heads % array.shape[0] or (what == "query" and array.shape[0] != heads):
            raise TraceFileError(f"{name}.{what} has {array.shape[0]} heads, which do not divide the {heads} attention heads"
                                 if what != "query" else f"{name}.query has {array.shape[0]} heads for {heads} attention heads")
        out.append(array[:, rows])
    return np.stack(out)


# ---- outputs ----

def infer_task(logits, ids, tokenizer, attention):
    """The task the outputs answer, as AttnLab would choose it for the model."""
    if logits is None:
        return "attention"
    if logits.ndim == 1:
        return "classification"
    if "decoder" in attention:
        return "seq2seq"
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is not None and int(mask_id) in set(int(i) for i in ids):
        return "masked-lm"
    encoder = attention["encoder"]
    if np.allclose(np.triu(encoder, k=1), 0):
        return "causal-lm"
    return "attention"


def softmax(row):
    row = np.asarray(row, dtype=np.float64)
    exps = np.exp(row - row.max())
    return exps / exps.sum()


def task_results(task, logits, tokenizer, ids, positions, config, top_k):
    """(outputs, logits to keep) for the task, computed as AttnLab computes them."""
    if logits is None or task in ("attention", "similarity"):
        return {}, None
    if task == "classification":
        if logits.ndim != 1:
            raise TraceFileError(f"classification needs logits [batch, classes], got {list(logits.shape)}")
        labels = getattr(config, "id2label", None) or {}
        names = [str(labels.get(i, labels.get(str(i), f"LABEL_{i}"))) for i in range(len(logits))]
        return {"labels": names, "probabilities": softmax(logits).tolist()}, logits.astype(np.float32)
    if logits.ndim != 2:
        raise TraceFileError(f"{task} needs logits [batch, n, vocabulary], got {list(logits.shape)}")
    logits = logits[positions]
    if task == "masked-lm":
        mask_id = getattr(tokenizer, "mask_token_id", None)
        rows = [n for n, i in enumerate(ids) if mask_id is not None and int(i) == int(mask_id)]
    else:
        rows = list(range(len(logits)))
    predictions = []
    for row in rows:
        probabilities = softmax(logits[row])
        # Highest probability first; equal ones by id, so the order never depends on the sort.
        best = [int(i) for i in np.lexsort((np.arange(len(probabilities)), -probabilities))[:top_k]]
        names = tokenizer.convert_ids_to_tokens(best)
        predictions.append({"position": row, "candidates": [
            {"token": name, "id": int(i), "probability": float(probabilities[i])} for name, i in zip(names, best)]})
    return {"topk": predictions}, None


def decode(tokenizer, ids):
    """The text of some ids (the tokenizer's decoding, or the tokens joined when it has none)."""
    try:
        return tokenizer.decode(ids)
    except Exception:
        return " ".join(tokenizer.convert_ids_to_tokens(ids))


def dtype_name(layers):
    """The element type the attention came in (`float32`, `bfloat16`, …)."""
    first = layers[0] if isinstance(layers, (list, tuple)) else layers
    name = str(getattr(first, "dtype", "float32"))
    return name.replace("torch.", "")
