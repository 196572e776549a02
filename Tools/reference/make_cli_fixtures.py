#!/usr/bin/env python3
"""Writes tiny random models of every architecture, each with a real tokenizer of the right
vocabulary, for the command-line tests (`attnlab trace` on every architecture). Their numbers are
checked by the parity fixtures; these only need to run end to end, so they are saved as
safetensors with the transformers version's own config.json.

    python Tools/reference/make_cli_fixtures.py
"""
import json
import os
import shutil

import torch
import transformers
from transformers import (AlbertConfig, AlbertForMaskedLM, BartConfig, BartForConditionalGeneration, DistilBertConfig,
                          DistilBertForMaskedLM, GPT2Config, GPT2LMHeadModel, MarianConfig, MarianMTModel,
                          RobertaConfig, RobertaForMaskedLM, T5Config, T5ForConditionalGeneration)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZERS = os.path.join(ROOT, "Tests", "AttnModelsTests", "Fixtures", "tokenizer")
OUT = os.path.join(ROOT, "Tests", "attnlabTests", "Fixtures", "models")


def vocabulary(folder):
    path = os.path.join(folder, "tokenizer.json")
    if os.path.exists(path):
        data = json.load(open(path))
        ids = list(data["model"]["vocab"].values()) if isinstance(data["model"]["vocab"], dict) else list(range(len(data["model"]["vocab"])))
        ids += [t["id"] for t in data.get("added_tokens", [])]
        return max(ids) + 1
    return len(json.load(open(os.path.join(folder, "vocab.json"))))


def write(name, model, tokenizer_folder):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    model.eval().save_pretrained(folder, safe_serialization=True)
    for file in os.listdir(tokenizer_folder):
        shutil.copy(os.path.join(tokenizer_folder, file), folder)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"wrote {os.path.relpath(folder, ROOT)} ({size} bytes)")


small = dict(num_hidden_layers=2, num_attention_heads=2)
torch.manual_seed(0)
gpt2_tok = os.path.join(TOKENIZERS, "bpe", "gpt2")
write("gpt2", GPT2LMHeadModel(GPT2Config(vocab_size=vocabulary(gpt2_tok), n_embd=16, n_layer=2, n_head=2, n_positions=64,
                                         bos_token_id=0, eos_token_id=0)), gpt2_tok)
roberta_tok = os.path.join(TOKENIZERS, "bpe", "roberta")
write("roberta", RobertaForMaskedLM(RobertaConfig(vocab_size=vocabulary(roberta_tok), hidden_size=16, intermediate_size=32,
                                                  max_position_embeddings=66, pad_token_id=1, **small)), roberta_tok)
write("distilbert", DistilBertForMaskedLM(DistilBertConfig(vocab_size=vocabulary(os.path.join(TOKENIZERS, "tiny", "bert-uncased")),
                                                           dim=16, hidden_dim=32, n_layers=2, n_heads=2, max_position_embeddings=64)),
      os.path.join(TOKENIZERS, "tiny", "bert-uncased"))
write("albert", AlbertForMaskedLM(AlbertConfig(vocab_size=vocabulary(os.path.join(TOKENIZERS, "tiny", "bert-uncased")),
                                               embedding_size=8, hidden_size=16, intermediate_size=32, max_position_embeddings=64,
                                               **small)),
      os.path.join(TOKENIZERS, "tiny", "bert-uncased"))
write("bart", BartForConditionalGeneration(BartConfig(vocab_size=vocabulary(roberta_tok), d_model=16, encoder_layers=2, decoder_layers=2,
                                                      encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                                      decoder_ffn_dim=32, max_position_embeddings=64)), roberta_tok)
t5_tok = os.path.join(TOKENIZERS, "unigram", "t5")
write("t5", T5ForConditionalGeneration(T5Config(vocab_size=vocabulary(t5_tok), d_model=16, d_kv=8, d_ff=32, num_layers=2,
                                                num_heads=2, decoder_start_token_id=0)), t5_tok)
marian_tok = os.path.join(TOKENIZERS, "marian")
write("marian", MarianMTModel(MarianConfig(vocab_size=vocabulary(marian_tok), d_model=16, encoder_layers=2, decoder_layers=2,
                                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                                           decoder_ffn_dim=32, max_position_embeddings=64, pad_token_id=vocabulary(marian_tok) - 1,
                                           decoder_start_token_id=vocabulary(marian_tok) - 1)), marian_tok)
