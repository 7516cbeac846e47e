"""Input validation, tokenization, padding and length-grouped batching."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sklearn_ltuning.inputs import collate, length_grouped_batches, pad, validate_texts

PAIRS = [("a man plays.", "someone plays."), ("a dog runs.", "nobody runs.")]


@pytest.mark.parametrize(
    "X",
    [
        PAIRS,
        [list(p) for p in PAIRS],
        np.array(PAIRS, dtype=object),
        np.array(PAIRS),
        pd.DataFrame(PAIRS, columns=["premise", "hypothesis"]),
    ],
    ids=["tuples", "lists", "object-array", "str-array", "dataframe"],
)
def test_pair_forms_give_two_columns(X):
    columns, _ = validate_texts(X)
    assert columns == [["a man plays.", "a dog runs."], ["someone plays.", "nobody runs."]]


@pytest.mark.parametrize(
    "X",
    [
        ["good film", "bad film"],
        np.array(["good film", "bad film"]),
        pd.Series(["good film", "bad film"]),
        pd.DataFrame({"text": ["good film", "bad film"]}),
        ("good film", "bad film"),
    ],
    ids=["list", "array", "series", "1-col-frame", "tuple"],
)
def test_single_text_forms_give_one_column(X):
    columns, _ = validate_texts(X)
    assert columns == [["good film", "bad film"]]


def test_dataframe_feature_names_are_kept():
    _, names = validate_texts(pd.DataFrame(PAIRS, columns=["premise", "hypothesis"]))
    assert list(names) == ["premise", "hypothesis"]


@pytest.mark.parametrize(
    "X, error, match",
    [
        ([("a", "b", "c")], ValueError, "3 columns"),
        ([("a", "b"), ("a",)], ValueError, "different lengths"),
        ([("a", None)], ValueError, "missing text"),
        ([("a", float("nan"))], ValueError, "missing text"),
        ([("a", 3)], TypeError, "must hold strings"),
        ([("a", "")], ValueError, "empty or whitespace"),
        (["   "], ValueError, "empty or whitespace"),
        ({"premise": ["a"]}, TypeError, "dict"),
        ((t for t in ["a", "b"]), TypeError, "generator"),
        (sp.csr_matrix(np.ones((2, 2))), TypeError, "sparse"),
        ([b"bytes text"], TypeError, "bytes"),
        ("just one string", TypeError, "single str"),
        ([], ValueError, "empty"),
        (["a", ("a", "b")], ValueError, "mixes texts and pairs"),
        (np.zeros((2, 2, 2), dtype=object), ValueError, "dimensions"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(X, error, match):
    with pytest.raises(error, match=match) as info:
        validate_texts(X)
    assert "X" in str(info.value)


def test_pad_and_collate_trim_to_the_longest_row_of_the_batch():
    import torch

    encoding = {
        "input_ids": [[5, 6, 7], [5], [5, 6, 7, 8, 9]],
        "attention_mask": [[1] * 3, [1], [1] * 5],
    }
    arrays = pad(encoding, pad_id=0)
    assert arrays["input_ids"].shape == (3, 5)
    assert list(arrays["length"]) == [3, 1, 5]
    assert list(arrays["input_ids"][1]) == [5, 0, 0, 0, 0]
    rows = [({k: v[i] for k, v in arrays.items()}, 0) for i in (0, 1)]
    X, y = collate(rows)
    assert X["input_ids"].shape == (2, 3)
    assert "length" not in X
    assert torch.equal(X["attention_mask"][1], torch.tensor([1, 0, 0]))


def test_length_grouped_batches_cover_every_row_once_and_group_lengths():
    import torch

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=1000)
    batches = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(0))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    # Within a batch lengths are close: padding is a small share of the tokens.
    real = sum(lengths[b].sum() for b in batches)
    processed = sum(lengths[b].max() * len(b) for b in batches)
    assert real / processed > 0.85
    # A random batching of the same rows would pad far more.
    random_batches = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    random_processed = sum(lengths[b].max() * len(b) for b in random_batches)
    assert processed < 0.7 * random_processed


def test_length_grouped_batches_are_reproducible_with_a_seeded_generator():
    import torch

    lengths = np.arange(100) % 17
    a = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(1))
    b = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(1))
    c = length_grouped_batches(lengths, 8, torch.Generator().manual_seed(2))
    assert a == b
    assert a != c
