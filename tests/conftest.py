"""Shared fixtures: tiny randomly initialised backbones with tokenizers, and small text data."""

from __future__ import annotations

import os
import random

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "a man woman child dog cat plays runs sits sleeps eats guitar ball music food park "
    "street house red blue big small happy sad good bad great awful not nobody someone "
    "is are the in on with at outside inside movie film book story loved hated boring "
    "fun entailment contradiction neutral positive negative relation text sentiment has "
    "this about sport science 0 1 2 3 4 5 6 7 8 9"
).split()


def _vocab():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?", "'"]
    return {tok: i for i, tok in enumerate(specials + sorted(set(WORDS)))}


def make_tiny_bert(folder, **overrides):
    """Save a 2-layer BERT (d=32) with a word-level vocabulary to ``folder``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab=_vocab(), model_max_length=64)
    settings = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    settings.update(overrides)
    torch.manual_seed(0)
    model = BertModel(BertConfig(**settings))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """Path of a tiny random BERT backbone folder."""
    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))


def make_pairs(n=48, seed=0):
    """Synthetic NLI-like pairs whose label depends on the words used."""
    rng = random.Random(seed)
    subjects = ["a man", "a woman", "a child", "the dog", "the cat"]
    verbs = ["plays", "runs", "sits", "sleeps", "eats"]
    X, y = [], []
    for i in range(n):
        s, v = rng.choice(subjects), rng.choice(verbs)
        premise = f"{s} {v} in the park."
        label = ["entailment", "contradiction", "neutral"][i % 3]
        if label == "entailment":
            hyp = f"{s} {v}."
        elif label == "contradiction":
            hyp = f"nobody {v}."
        else:
            hyp = f"{s} is happy."
        X.append((premise, hyp))
        y.append(label)
    return X, y


def make_texts(n=40, seed=0):
    """Synthetic single-text sentiment data."""
    rng = random.Random(seed)
    good, bad = ["loved", "great", "fun", "good"], ["hated", "awful", "boring", "bad"]
    X, y = [], []
    for i in range(n):
        positive = i % 2 == 0
        word = rng.choice(good if positive else bad)
        X.append(f"the movie is {word} .")
        y.append("positive" if positive else "negative")
    return X, y


@pytest.fixture(scope="session")
def pairs():
    return make_pairs()


@pytest.fixture(scope="session")
def texts():
    return make_texts()


@pytest.fixture(scope="session")
def minilm():
    """The packaged MiniLM-L6 backbone handle (slow tests only)."""
    from sklearn_ltuning.backbones.loading import load_backbone

    return load_backbone("minilm-l6")
