#!/usr/bin/env python3
"""Writes the byte-level BPE and Unigram tokenizer fixtures under Tests/AttnModelsTests/Fixtures/tokenizer/.

Run from the repository root with the reference venv (needs `tokenizers`, `transformers`,
`sentencepiece` and `protobuf`):

    /opt/refvenv/bin/python Tools/reference/make_tokenizer_fixtures_bpe_unigram.py

It writes:
  bpe/<variant>/tokenizer.json      small byte-level BPE tokenizers (GPT-2, RoBERTa, prefix-space and
                                    Llama-3-like variants) and two SentencePiece-style BPE ones (an
                                    end-of-word suffix; Llama-2's byte fallback), vocabularies and merges
                                    learnt here by a deterministic BPE trainer
  bpe-files/<variant>/              the same GPT-2 and RoBERTa tokenizers as vocab.json + merges.txt +
                                    tokenizer_config.json (the layout of models without tokenizer.json)
  unigram/<variant>/tokenizer.json  Unigram tokenizers converted from SentencePiece models trained here:
                                    T5 (the full nmt_nfkc charsmap), a T5 file in the older layout, byte
                                    fallback with Metaspace "first" and no split
  marian/                           a Marian folder: source.spm, target.spm, vocab.json, tokenizer_config.json
  parity-bpe.json, parity-unigram.json
                                    what Hugging Face's `tokenizers` gives for the corpus with each of them
  parity-marian.json                what transformers' MarianTokenizer gives (ids and tokens; it has no spans)
  unicode-blocks-bpe-unigram.json   per block of 4096 code points, a hash of the ByteLevel pre-tokenizer's
                                    and the nmt_nfkc Precompiled normalizer's output

SentencePiece training runs on one thread with a fixed seed; the committed files are the reference:
re-running the script rewrites them, and the tests must then still pass. The Swift tests read these
files only; they never need Python.
"""

import base64
import collections
import json
import os
import sys
import tempfile
import unicodedata

import sentencepiece as spm
import tokenizers
from sentencepiece import sentencepiece_model_pb2 as sp_pb2
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE, Unigram

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tokenizer_fixtures as base  # noqa: E402  (the WordPiece fixtures' corpus and helpers)

OUT = base.OUT

# The WordPiece corpus (less its WordPiece-only cases: special tokens in brackets, 100-character
# words), and what matters more to byte-level and SentencePiece tokenizers.
SENTENCES = [s for s in base.SENTENCES if "[MASK]" not in s and "[SEP]" not in s and "XYZZY" not in s
             and len(s) < 200 and "abcdefghij" * 10 not in s] + [
    "I'll've you'd they're we've she's 'S 'LL it's",
    "word  two   three    four",
    "  indented\n    code\n\tline",
    "    def f(x):\n        return x  # trailing   \n",
    "price: $1,234.56 (v2.0.1) 12345678901234567890",
    "Hello <mask> world and <mask>.",
    "<s> typed </s> tokens <pad> <unk>",
    "<|endoftext|>The end<|endoftext|>",
    "ĠĊ Ġ Ċ already byte-level characters",
    "▁ already ▁metaspace▁ characters",
    "Zürich, São Paulo, Kraków, Reykjavík",
    "emoji🙂 mid-word and 👍🏽👍🏽 repeated",
    "a\u00a0b\u2009c\u200bd",
    "\ufb01nance \u2460 \uff21\uff22 \u3000ideographic space",
]

PAIRS = base.PAIRS + [
    ("  spaces before", "and after  ", None),
    ("Hello <mask>", "Bonjour le monde", None),
]

SINGLE_TRUNCATED = base.SINGLE_TRUNCATED

# A shorter corpus for the variants of a layout already checked on the whole one (fixture size):
# accents, CJK, emoji, whitespace runs, digits, code, empty input, special tokens, pairs.
FOCUSED = [
    "Hello world", "The quick brown fox jumps over the lazy dog.", "Café naïve résumé", "CAFÉ NAÏVE RÉSUMÉ",
    "我爱北京天安门", "Tokyo東京Tokyo and 𠀀𠀁 (CJK extension B)", "Emoji 😀👍🏽 test 🥲 🫠",
    "   leading and trailing spaces   ", "many     spaces\t\ttabs\n\nnewlines\r\nand\u000bvertical\u000cform feed",
    "\u00a0non-breaking\u2003em space\u3000ideographic\u2028line\u2029para",
    "1234567890 3.14159 1,000,000 2024-01-01 ½ ² ①", "def foo(x): return x**2 + 1  # comment",
    "    def f(x):\n        return x  # trailing   \n", "I'll've you'd they're we've she's 'S 'LL it's",
    "ＡＢＣ１２３ ﬁnance ﬂow ㍿", "e\u0301 a\u0308 o\u0323\u0302 a\u0301\u0323 x\u0323\u0301",
    "Hello <mask> world and <mask>.", "<s> typed </s> tokens <pad> <unk>", "ĠĊ Ġ Ċ already byte-level characters",
    "▁ already ▁metaspace▁ characters", "supercalifragilisticexpialidocious", "", " ", "\u0000\u0001\u0002",
]
FOCUSED_PAIRS = [p for p in PAIRS if p[2] is not None or p[0] in ("", "only a", "Café naïve", "  spaces before")]

TRAINING_TEXT = base.TRAINING_TEXT + """
It's what they'll say: we're sure you've heard I'd rather go. Don't won't can't isn't.
    def tokenize(text):
        return [piece for piece in text.split() if piece]
for i in range(10): print(i * 2, "value", 3.14159, 1_000_000)
Zürich São Paulo Kraków Reykjavík Åland Ørsted Ærø
The year 2024 had 366 days; 12 months, 52 weeks and 1,234.56 dollars.
Hello world! Hello there. Hello again, my old friend.
"""

MARIAN_TARGET_TEXT = """
Le renard brun rapide saute par-dessus le chien paresseux. Bonjour le monde, bonjour à tous !
La bibliothèque est là-bas, à côté de l'église. Ça va très bien, merci beaucoup.
Où est la gare ? Je voudrais un café et un croissant, s'il vous plaît.
L'équipe de l'école a gagné le match. Les élèves étudient la théorie des transformeurs.
Un deux trois quatre cinq six sept huit neuf dix onze douze treize.
"""


# ---------------------------------------------------------------------------------------------
# A deterministic BPE trainer (the library's breaks ties in hash order)

def train_bpe(words, merges_wanted, min_count=2, join=lambda a, b: a + b):
    """BPE merges learnt from `words` (a Counter of symbol tuples): the most frequent adjacent pair
    is merged (into `join(a, b)`), ties broken by the pair's text. Returns the merges in order."""
    words = {tuple(w): c for w, c in words.items()}
    merges = []
    for _ in range(merges_wanted):
        pairs = collections.Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        if best[1] < min_count:
            break
        (a, b), _ = best
        merges.append((a, b))
        merged = {}
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(join(a, b))
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    return merges


def byte_level_words(lines, add_prefix_space):
    split = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    counter = collections.Counter()
    for line in lines:
        for word, _ in split.pre_tokenize_str(line):
            counter[tuple(word)] += 1
    return counter


def byte_level_vocabulary(specials_front, specials_back, merges):
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    bytes_to_unicode = sorted(alphabet, key=lambda c: byte_of_character(c))
    vocab = {}
    for token in specials_front + bytes_to_unicode + [a + b for a, b in merges] + specials_back:
        if token not in vocab:
            vocab[token] = len(vocab)
    return vocab


def byte_of_character(c):
    """GPT-2's byte-to-unicode map, inverted."""
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    code = ord(c)
    if code in printable:
        return code
    others = [b for b in range(256) if b not in printable]
    return others[code - 256]


def training_lines():
    lines = [line for line in TRAINING_TEXT.strip().splitlines() if line.strip()]
    return lines + [line.lower() for line in lines]


def byte_level_bpe(add_prefix_space, merges_wanted=700):
    words = byte_level_words(training_lines(), add_prefix_space=False)
    words.update(byte_level_words(training_lines(), add_prefix_space=True))
    return train_bpe(words, merges_wanted)


def bpe_variants():
    """(name, purpose, tokenizer) for each BPE tokenizer."""
    merges = byte_level_bpe(False)
    variants = []

    vocab = byte_level_vocabulary([], ["<|endoftext|>"], merges)
    t = Tokenizer(BPE(vocab, merges))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    variants.append(("gpt2", "GPT-2: ByteLevel pre-tokenizer without prefix space, ByteLevel post-processor "
                     "(trim_offsets false), <|endoftext|>", t))

    vocab = byte_level_vocabulary(["<s>", "<pad>", "</s>", "<unk>"], ["<mask>"], merges)

    def roberta(add_prefix_space):
        t = Tokenizer(BPE(vocab, merges))
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
        t.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]),
                                                        trim_offsets=True, add_prefix_space=add_prefix_space)
        t.decoder = decoders.ByteLevel()
        t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ["<s>", "<pad>", "</s>", "<unk>"]])
        t.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
        return t

    variants.append(("roberta", "RoBERTa: RobertaProcessing with trim_offsets, <mask> with lstrip", roberta(False)))
    variants.append(("roberta-prefix-space", "RoBERTa/BART with add_prefix_space true (pre-tokenizer and "
                     "post-processor)", roberta(True)))

    vocab = byte_level_vocabulary([], ["<|endoftext|>"], merges)
    t = Tokenizer(BPE(vocab, merges))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    t.post_processor = processors.ByteLevel(trim_offsets=True, add_prefix_space=True)
    t.decoder = decoders.ByteLevel()
    variants.append(("gpt2-prefix-space-trim", "ByteLevel with add_prefix_space and a ByteLevel post-processor "
                     "that trims offsets", t))

    llama3_pattern = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                      r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    vocab = byte_level_vocabulary([], ["<|begin_of_text|>", "<|end_of_text|>"], merges)
    t = Tokenizer(BPE(vocab, merges, ignore_merges=True))
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(llama3_pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                      special_tokens=[("<|begin_of_text|>", vocab["<|begin_of_text|>"])])])
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ["<|begin_of_text|>", "<|end_of_text|>"]])
    variants.append(("llama3-split", "Llama 3 layout: Split with a regular expression, ByteLevel without regex, "
                     "ignore_merges, Sequence post-processor", t))

    # SentencePiece-style BPE with an end-of-word suffix (CLIP / original GPT): lowercase words.
    counter = collections.Counter()
    for line in training_lines():
        for word, _ in pre_tokenizers.Whitespace().pre_tokenize_str(line.lower()):
            counter[tuple(word[:-1]) + (word[-1] + "</w>",)] += 1
    suffix_merges = train_bpe(counter, 400)
    characters = sorted({c.replace("</w>", "") for word in counter for c in word})
    tokens = ["<unk>"] + characters + [c + "</w>" for c in characters] + [a + b for a, b in suffix_merges]
    vocab = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    t = Tokenizer(BPE(vocab, suffix_merges, unk_token="<unk>", end_of_word_suffix="</w>"))
    t.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    t.pre_tokenizer = pre_tokenizers.Whitespace()
    variants.append(("bpe-word-suffix", "BPE with end_of_word_suffix </w> and an unknown token, NFC + Lowercase, "
                     "Whitespace pre-tokenizer, no post-processor", t))

    # WordPiece-like BPE: "##" before every character but a word's first.
    counter = collections.Counter()
    for line in training_lines():
        for word, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(line):
            counter[(word[0],) + tuple("##" + c for c in word[1:])] += 1
    join = lambda a, b: a + b[2:]
    prefix_merges = train_bpe(counter, 400, join=join)
    characters = sorted({c for word in counter for c in word})
    tokens = ["[UNK]", "[CLS]", "[SEP]"] + characters + [join(a, b) for a, b in prefix_merges]
    vocab = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    t = Tokenizer(BPE(vocab, prefix_merges, unk_token="[UNK]", continuing_subword_prefix="##", fuse_unk=True))
    t.normalizer = normalizers.BertNormalizer(lowercase=False)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    t.decoder = decoders.WordPiece()
    t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ["[UNK]", "[CLS]", "[SEP]"]])
    variants.append(("bpe-subword-prefix", "BPE with continuing_subword_prefix ## and fuse_unk, BERT normalizer, "
                     "pre-tokenizer and post-processor", t))

    # Llama 2: ▁ for spaces by the normalizer, byte fallback, decoders Replace/ByteFallback/Fuse/Strip.
    counter = collections.Counter()
    for line in training_lines():
        for word in ("▁" + line.replace(" ", "▁")).split("▁"):
            if word:
                counter[tuple("▁" + word)] += 1
    llama_merges = train_bpe(counter, 400)
    characters = sorted({c for word in counter for c in word})
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + characters + [a + b for a, b in llama_merges]
    vocab = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    t = Tokenizer(BPE(vocab, llama_merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s>:1 $B:1",
                                                     special_tokens=[("<s>", vocab["<s>"])])
    t.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                   decoders.Strip(content=" ", left=1, right=0)])
    t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ["<unk>", "<s>", "</s>"]])
    variants.append(("llama2-byte-fallback", "Llama 2 layout: Prepend and Replace normalizers, no pre-tokenizer, "
                     "BPE with byte_fallback and fuse_unk", t))
    return variants


def write_bpe_files(name, tokenizer, config):
    """The vocab.json + merges.txt + tokenizer_config.json layout of the same tokenizer."""
    model = json.loads(tokenizer.to_str())["model"]
    folder = os.path.join(OUT, "bpe-files", name)
    vocab = dict(model["vocab"])
    for added in json.loads(tokenizer.to_str())["added_tokens"]:
        vocab[added["content"]] = added["id"]
    base.write(os.path.join(folder, "vocab.json"), json.dumps(vocab, ensure_ascii=False) + "\n")
    base.write(os.path.join(folder, "merges.txt"),
               "#version: 0.2\n" + "".join("%s %s\n" % tuple(m) for m in model["merges"]))
    base.write(os.path.join(folder, "tokenizer_config.json"), json.dumps(config, ensure_ascii=False, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# SentencePiece models

def small_rules_tsv():
    """nmt_nfkc's rules for a few hundred characters: NFKC of Latin-1 and Latin Extended-A, spaces,
    ligatures, full-width forms, circled numbers and some composing sequences; controls removed and
    whitespace made a space, as nmt_nfkc does. Enough for the corpus, far smaller than the full map."""
    rules = {}
    code_points = list(range(0xA0, 0x180)) + list(range(0x2000, 0x2070)) + list(range(0xFB00, 0xFB07)) \
        + list(range(0xFF01, 0xFF5F)) + list(range(0x2460, 0x2474)) + [0x3000, 0x2126, 0x212B, 0x1E9E, 0x01C4, 0x01C5]
    for c in code_points:
        target = unicodedata.normalize("NFKC", chr(c))
        if target != chr(c):
            rules[chr(c)] = target
    for c in list(range(0x01, 0x20)) + [0x7F]:  # NUL cannot be a key of the trie
        rules[chr(c)] = " " if chr(c) in "\t\n\r" else ""
    for c in [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]:
        rules[chr(c)] = ""
    for c in [0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x202F,
              0x205F, 0x3000, 0xA0]:
        rules[chr(c)] = " "
    for letter in "aeiouncAEIOUNC":
        for mark in "\u0300\u0301\u0302\u0303\u0308\u0327":
            composed = unicodedata.normalize("NFC", letter + mark)
            if len(composed) == 1:
                rules[letter + mark] = composed
    lines = []
    for source, target in sorted(rules.items()):
        lines.append(" ".join("%X" % ord(c) for c in source) + "\t" + " ".join("%X" % ord(c) for c in target))
    return "\n".join(lines) + "\n"


def train_spm(prefix, text, vocab_size, rule, **options):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write(text)
        arguments = dict(input=corpus, model_prefix=os.path.join(tmp, "m"), vocab_size=vocab_size,
                         model_type="unigram", num_threads=1, seed_sentencepiece_size=100000,
                         hard_vocab_limit=False, minloglevel=2, character_coverage=1.0, shuffle_input_sentence=False)
        if rule == "small":
            tsv = os.path.join(tmp, "rules.tsv")
            with open(tsv, "w", encoding="utf-8") as f:
                f.write(small_rules_tsv())
            arguments["normalization_rule_tsv"] = tsv
        else:
            arguments["normalization_rule_name"] = rule
        arguments.update(options)
        spm.SentencePieceTrainer.train(**arguments)
        with open(os.path.join(tmp, "m.model"), "rb") as f:
            proto = spm_proto(f.read())
    # The trainer records its temporary paths; keep the file the same from run to run.
    proto.trainer_spec.input[:] = ["corpus.txt"]
    proto.trainer_spec.model_prefix = prefix
    if proto.normalizer_spec.normalization_rule_tsv:
        proto.normalizer_spec.normalization_rule_tsv = "rules.tsv"
    return proto.SerializeToString(deterministic=True)


def spm_proto(data):
    proto = sp_pb2.ModelProto()
    proto.ParseFromString(data)
    return proto


def unigram_training_text():
    lines = training_lines()
    return "\n".join(lines * 3) + "\n" + "\n".join(s for s in base.SENTENCES[:12]) + "\n"


def unigram_variants():
    """(name, purpose, tokenizer) for each Unigram tokenizer."""
    variants = []
    text = unigram_training_text()

    # T5: <pad> 0, </s> 1, <unk> 2; the full nmt_nfkc charsmap; as transformers 5's T5Tokenizer builds it.
    t5_model = spm_proto(train_spm("t5", text, 400, "nmt_nfkc", pad_id=0, eos_id=1, unk_id=2, bos_id=-1))
    vocab = [(p.piece, p.score) for p in t5_model.pieces]
    extra = ["<extra_id_%d>" % i for i in reversed(range(3))]
    t = Tokenizer(Unigram(vocab + [(e, 0.0) for e in extra], unk_id=2, byte_fallback=False))
    t.normalizer = normalizers.Precompiled(t5_model.normalizer_spec.precompiled_charsmap)
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                               pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    t.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                     special_tokens=[("</s>", 1)])
    t.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ["<pad>", "</s>", "<unk>"] + extra])
    variants.append(("t5", "T5: Precompiled nmt_nfkc, WhitespaceSplit + Metaspace, $A </s>, extra ids", t))

    # The hub's older T5 layout: Precompiled + Strip + Replace, legacy Metaspace (add_prefix_space).
    small = spm_proto(train_spm("small", text, 400, "small", pad_id=0, eos_id=1, unk_id=2, bos_id=-1))
    vocab = [(p.piece, p.score) for p in small.pieces]
    t = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=False))
    t.normalizer = normalizers.Sequence([normalizers.Precompiled(small.normalizer_spec.precompiled_charsmap),
                                         normalizers.Strip(left=False, right=True),
                                         normalizers.Replace(Regex(" {2,}"), "▁")])
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    t.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                     special_tokens=[("</s>", 1)])
    t.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ["<pad>", "</s>", "<unk>"]])
    legacy = json.loads(t.to_str())
    # Files written before tokenizers 0.19 say add_prefix_space instead of prepend_scheme.
    for section in ("pre_tokenizer", "decoder"):
        legacy[section].pop("prepend_scheme")
        legacy[section].pop("split", None)
        legacy[section]["add_prefix_space"] = True
    variants.append(("t5-legacy", "older T5 layout: Precompiled (small rules) + Strip + Replace {2,}, Metaspace with "
                     "add_prefix_space", Tokenizer.from_str(json.dumps(legacy))))

    # Byte fallback, Metaspace "first" without split, NFKC: pieces may span words.
    fallback = spm_proto(train_spm("fallback", text, 500, "identity", byte_fallback=True, unk_id=0, bos_id=1, eos_id=2))
    vocab = [(p.piece, p.score) for p in fallback.pieces]
    t = Tokenizer(Unigram(vocab, unk_id=0, byte_fallback=True))
    t.normalizer = normalizers.NFKC()
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    t.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                     special_tokens=[("<s>", 1), ("</s>", 2)])
    t.decoder = decoders.Sequence([decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False),
                                   decoders.ByteFallback(), decoders.Fuse()])
    t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ["<unk>", "<s>", "</s>"]])
    variants.append(("unigram-byte-fallback", "Unigram with byte_fallback, NFKC, Metaspace prepend_scheme first "
                     "and split false", t))
    return variants


def marian_folder():
    """A Marian model's tokenizer files: two SentencePiece models (the small rules), one vocab.json."""
    folder = os.path.join(OUT, "marian")
    source = train_spm("source", unigram_training_text(), 300, "small", unk_id=1, eos_id=0, bos_id=-1, pad_id=-1)
    target_text = "\n".join([line for line in MARIAN_TARGET_TEXT.strip().splitlines()] * 4) + "\n"
    target = train_spm("target", target_text, 200, "small", unk_id=1, eos_id=0, bos_id=-1, pad_id=-1)
    vocab = {"</s>": 0, "<unk>": 1, ">>fra<<": 2, ">>deu<<": 3}
    for data in (source, target):
        for piece in spm_proto(data).pieces:
            if piece.type == 1:  # NORMAL
                vocab.setdefault(piece.piece, len(vocab))
    vocab["<pad>"] = len(vocab)
    os.makedirs(folder, exist_ok=True)
    for name, data in (("source.spm", source), ("target.spm", target)):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    base.write(os.path.join(folder, "vocab.json"), json.dumps(vocab, ensure_ascii=False, indent=1) + "\n")
    config = {"source_lang": "en", "target_lang": "fr", "separate_vocabs": False, "unk_token": "<unk>",
              "eos_token": "</s>", "pad_token": "<pad>", "model_max_length": 512, "tokenizer_class": "MarianTokenizer"}
    base.write(os.path.join(folder, "tokenizer_config.json"), json.dumps(config, indent=1) + "\n")
    return folder


def marian_cases(folder):
    import warnings
    from transformers import MarianTokenizer
    warnings.simplefilter("ignore")
    tokenizer = MarianTokenizer(os.path.join(folder, "source.spm"), os.path.join(folder, "target.spm"),
                                os.path.join(folder, "vocab.json"), source_lang="en", target_lang="fr")
    sentences = [s for s in SENTENCES if "<" not in s] + [">>fra<< Hello world", ">>deu<<Guten Tag", "</s> typed eos"]
    cases = []
    for side in ("source", "target"):
        for sentence in sentences + MARIAN_TARGET_TEXT.strip().splitlines()[:3]:
            if side == "source":
                ids = tokenizer(sentence)["input_ids"]
            else:
                ids = tokenizer(text_target=sentence)["input_ids"]
            cases.append({"side": side, "a": sentence, "ids": ids,
                          "tokens": tokenizer.convert_ids_to_tokens(ids)})
    return cases, len(tokenizer.encoder)


# ---------------------------------------------------------------------------------------------
# Every code point

def unicode_blocks(charsmap):
    starts = [s for lo, hi in base.BLOCK_RANGES for s in range(lo, hi, base.BLOCK)]
    result = {"block_size": base.BLOCK, "starts": starts, "normalizers": {}, "pre_tokenizers": {}}
    precompiled = normalizers.Precompiled(charsmap)
    hashes = []
    for s in starts:
        hashes.append("%016x" % base.fnv1a(precompiled.normalize_str(base.block_text(s)).encode("utf-8")))
    result["normalizers"]["Precompiled(nmt_nfkc)"] = hashes
    # Each character alone, so that graphemes do not depend on their neighbours.
    hashes = []
    for s in starts:
        text = " ".join(c for c in base.block_text(s))
        hashes.append("%016x" % base.fnv1a(precompiled.normalize_str(text).encode("utf-8")))
    result["normalizers"]["Precompiled(nmt_nfkc) spaced"] = hashes
    # SentencePiece's own normalizer (Marian's spm files): longest rule, spaces collapsed and escaped.
    sentencepiece = spm.SentencePieceNormalizer(rule_name="nmt_nfkc")
    assert sentencepiece.serialized_normalizer_spec(), "no nmt_nfkc rules"
    for name, spaced in (("SentencePiece(nmt_nfkc)", False), ("SentencePiece(nmt_nfkc) spaced", True)):
        hashes = []
        for s in starts:
            text = base.block_text(s)
            if spaced:
                text = " ".join(text)
            hashes.append("%016x" % base.fnv1a(sentencepiece.normalize(text).encode("utf-8")))
        result["normalizers"][name] = hashes
    splitter = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hashes = []
    for s in starts:
        # Each character after an "a" and before a space, so that its class shows in the words.
        text = "".join("a" + chr(c) + " " for c in range(s, s + base.BLOCK) if not 0xD800 <= c <= 0xDFFF)
        h = 0xCBF29CE484222325
        for piece, _ in splitter.pre_tokenize_str(text):
            h = base.fnv1a(piece.encode("utf-8") + b"\xff", h)
        hashes.append("%016x" % h)
    result["pre_tokenizers"]["ByteLevel"] = hashes
    return result


def encode_cases(tokenizer, focused=False):
    saved = (base.SENTENCES, base.PAIRS, base.SINGLE_TRUNCATED)
    if focused:
        base.SENTENCES, base.PAIRS, base.SINGLE_TRUNCATED = FOCUSED, FOCUSED_PAIRS, SINGLE_TRUNCATED[:2]
    else:
        base.SENTENCES, base.PAIRS, base.SINGLE_TRUNCATED = SENTENCES, PAIRS, SINGLE_TRUNCATED
    try:
        return base.encode_cases(tokenizer)
    finally:
        base.SENTENCES, base.PAIRS, base.SINGLE_TRUNCATED = saved


def document(generator, entries):
    head = json.dumps(generator, separators=(",", ":"))
    body = ",\n".join(
        "{" + ",".join('"%s":%s' % (k, json.dumps(v, ensure_ascii=False)) for k, v in e.items() if k != "cases")
        + ',"cases":' + base.dump_cases(e["cases"]) + "}" for e in entries)
    return '{"generator":%s,\n"tokenizers":[\n%s\n]}\n' % (head, body)


def tokenizer_json(tokenizer):
    """tokenizer.json indented, but the vocabulary and the merges one entry a line (fixture size)."""
    root = json.loads(tokenizer.to_str())
    model = root["model"]
    compact = {key: model.pop(key) for key in ("vocab", "merges") if key in model}
    text = json.dumps(root, ensure_ascii=False, indent=1)
    for key, value in compact.items():
        if isinstance(value, dict):
            body = ",\n".join("  %s:%s" % (json.dumps(k, ensure_ascii=False), json.dumps(v)) for k, v in value.items())
            rendered = "{\n" + body + "\n }"
        else:
            body = ",\n".join("  " + json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in value)
            rendered = "[\n" + body + "\n ]"
        text = text.replace('\n "model": {', '\n "model": {\n  %s: %s,' % (json.dumps(key), rendered), 1)
    assert json.loads(text)["model"].keys() >= compact.keys()
    return text + "\n"


def save_variants(folder, variants, focused=()):
    entries = []
    for name, purpose, tokenizer in variants:
        path = os.path.join(OUT, folder, name, "tokenizer.json")
        base.write(path, tokenizer_json(tokenizer))
        reloaded = Tokenizer.from_file(path)
        assert reloaded.to_str() == Tokenizer.from_str(tokenizer.to_str()).to_str(), name
        entries.append({"name": name, "file": os.path.relpath(path, OUT), "purpose": purpose,
                        "vocab_size": reloaded.get_vocab_size(), "cases": encode_cases(reloaded, name in focused)})
    return entries


def main():
    generator = {"script": "Tools/reference/make_tokenizer_fixtures_bpe_unigram.py", "tokenizers": tokenizers.__version__,
                 "sentencepiece": spm.__version__}

    variants = bpe_variants()
    entries = save_variants("bpe", variants, focused={"roberta-prefix-space", "gpt2-prefix-space-trim", "llama3-split",
                                                      "bpe-word-suffix", "bpe-subword-prefix", "llama2-byte-fallback"})
    by_name = {name: t for name, _, t in variants}
    write_bpe_files("gpt2", by_name["gpt2"], {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False,
                                              "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                              "unk_token": "<|endoftext|>"})
    write_bpe_files("roberta", by_name["roberta"], {
        "tokenizer_class": "RobertaTokenizer", "add_prefix_space": False, "bos_token": "<s>", "eos_token": "</s>",
        "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "mask_token": {"content": "<mask>", "lstrip": True, "rstrip": False, "normalized": False, "single_word": False}})
    write_bpe_files("roberta-prefix-space", by_name["roberta-prefix-space"], {
        "tokenizer_class": "BartTokenizer", "add_prefix_space": True, "mask_token": "<mask>"})
    base.write(os.path.join(OUT, "parity-bpe.json"), document(generator, entries))

    variants = unigram_variants()
    entries = save_variants("unigram", variants, focused={"t5-legacy", "unigram-byte-fallback"})
    base.write(os.path.join(OUT, "parity-unigram.json"), document(generator, entries))

    folder = marian_folder()
    cases, size = marian_cases(folder)
    marian = {"generator": generator, "folder": os.path.relpath(folder, OUT), "vocab_size": size}
    base.write(os.path.join(OUT, "parity-marian.json"),
               json.dumps(marian, ensure_ascii=False)[:-1] + ',\n"cases":' + base.dump_cases(cases) + "}\n")

    t5 = json.loads(open(os.path.join(OUT, "unigram", "t5", "tokenizer.json"), encoding="utf-8").read())
    charsmap = base64.b64decode(t5["normalizer"]["precompiled_charsmap"])
    blocks = unicode_blocks(charsmap)
    blocks["generator"] = generator
    base.write(os.path.join(OUT, "unicode-blocks-bpe-unigram.json"), json.dumps(blocks, indent=0) + "\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
