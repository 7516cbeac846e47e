"""Shared fixtures: tiny randomly initialised backbones with tokenizers, and small text data."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# CI runs the property tests with a fixed sequence of examples (HYPOTHESIS_PROFILE=ci,
# set by .ci/run), so a CI result can be reproduced; local runs keep drawing new ones.
# print_blob prints the failing example's reproduction blob either way.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

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


def _byte_level_tokenizer(bos="<s>", eos="</s>"):
    """A GPT-2-style byte-level BPE tokenizer trained on the test words (no pad, no sep)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[bos, eos, "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [" ".join(WORDS), *WORDS, "a man plays in the park.", "the movie is good ."]
    core.train_from_iterator(corpus * 3, trainer=trainer)
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, core.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=bos, eos_token=eos, model_max_length=64
    )


def _tiny_config(arch, vocab_size):
    import transformers as T

    common = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    if arch == "bert":
        return T.BertConfig(**common)
    if arch == "roberta":
        return T.RobertaConfig(
            **{**common, "max_position_embeddings": 66}, pad_token_id=0, type_vocab_size=1
        )
    if arch == "distilbert":
        return T.DistilBertConfig(
            vocab_size=vocab_size,
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=64,
            max_position_embeddings=64,
            pad_token_id=0,
        )
    if arch == "mpnet":
        return T.MPNetConfig(**{**common, "max_position_embeddings": 66}, pad_token_id=0)
    if arch == "deberta-v2":
        return T.DebertaV2Config(
            **common,
            relative_attention=True,
            position_biased_input=False,
            pos_att_type=["p2c", "c2p"],
            position_buckets=16,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
            type_vocab_size=0,
            pad_token_id=0,
        )
    if arch == "modernbert":
        return T.ModernBertConfig(
            **common,
            global_attn_every_n_layers=2,
            local_attention=16,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            cls_token_id=2,
            sep_token_id=3,
        )
    if arch == "albert":
        return T.AlbertConfig(**common, embedding_size=16, pad_token_id=0)
    if arch == "gpt2":
        return T.GPT2Config(
            vocab_size=vocab_size,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=64,
            bos_token_id=0,
            eos_token_id=1,
        )
    if arch == "llama":
        return T.LlamaConfig(**common, num_key_value_heads=2, bos_token_id=0, eos_token_id=1)
    if arch == "qwen2":
        return T.Qwen2Config(**common, num_key_value_heads=2, bos_token_id=0, eos_token_id=1)
    if arch == "gemma3":
        # A sliding window shorter than the test sentences, mixed with a global layer,
        # so that prefixes are exercised on both layer kinds.
        return T.Gemma3TextConfig(
            **common,
            num_key_value_heads=2,
            head_dim=8,
            sliding_window=4,
            layer_types=["sliding_attention", "full_attention"],
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=2,
        )
    raise KeyError(arch)


ENCODERS = ["bert", "roberta", "distilbert", "mpnet", "deberta-v2", "modernbert"]
#: Encoders whose layers cannot take a prefix (ALBERT shares one layer across depth).
PROMPT_ONLY = ["albert"]
DECODERS = ["gpt2", "llama", "qwen2", "gemma3"]
ARCHITECTURES = ENCODERS + DECODERS


def make_tiny_backbone(folder, arch):
    """Save a tiny random backbone of architecture ``arch`` with a tokenizer."""
    import torch
    from transformers import AutoModel, BertTokenizer

    if arch == "bert":
        return make_tiny_bert(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if arch in ENCODERS + PROMPT_ONLY:
        tokenizer = BertTokenizer(vocab=_vocab(), model_max_length=64)
        if arch in {"roberta", "distilbert", "mpnet", "modernbert"}:
            tokenizer.model_input_names = ["input_ids", "attention_mask"]
    else:
        tokenizer = _byte_level_tokenizer()
    torch.manual_seed(0)
    model = AutoModel.from_config(_tiny_config(arch, len(tokenizer)))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_backbones(tmp_path_factory):
    """Lazily built tiny backbones: ``tiny_backbones(arch) -> folder path``."""
    built = {}

    def get(arch):
        if arch not in built:
            built[arch] = str(make_tiny_backbone(tmp_path_factory.mktemp(f"tiny-{arch}"), arch))
        return built[arch]

    return get


def last_rows_valid(n_rows, n_valid):
    """skorch ``train_split``: the last ``n_valid`` of ``n_rows`` rows validate."""
    from sklearn.model_selection import PredefinedSplit
    from skorch.dataset import ValidSplit

    return ValidSplit(PredefinedSplit([-1] * (n_rows - n_valid) + [0] * n_valid))


@pytest.fixture
def label_reads(monkeypatch):
    """Spy on the backbone reads of label texts: the list of rows read per call."""
    from sklearn_ltuning import labels

    calls = []
    real = labels._read_label_tokens

    def spy(handle, ids):
        calls.append(len(ids))
        return real(handle, ids)

    monkeypatch.setattr(labels, "_read_label_tokens", spy)
    return calls


#: scikit-learn estimator checks that fit on numeric arrays (random floats, NaN- or
#: complex-filled arrays, 1- to 10-column matrices). The package's estimators read raw
#: text and refuse numbers with a message naming the fix (tests/test_inputs.py), so
#: these checks cannot pass for any of them; each test module adds its own.
NUMERIC_X_CHECKS = (
    "check_complex_data",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit1d",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_requires_y_none",
)
#: Checks that feed sparse or empty X, refused with the package's own wording.
WORDING_CHECKS = {
    "check_estimator_sparse_array": (
        "sparse X is refused with a TypeError that says so, but the check expects "
        "check_array's wording for numeric sparse data"
    ),
    "check_estimator_sparse_matrix": (
        "sparse X is refused with a TypeError that says so, but the check expects "
        "check_array's wording for numeric sparse data"
    ),
    "check_estimators_empty_data_messages": (
        "an empty X is refused ('X is empty' / 'X has 0 columns'), not with "
        "check_array's '0 feature(s)' wording"
    ),
}
