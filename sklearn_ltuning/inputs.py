"""Validate and coerce X (text pairs or single texts), tokenize it, and collate batches."""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping

import numpy as np


def _is_missing(value):
    if value is None or type(value).__name__ in {"NAType", "NaTType"}:
        return True
    return isinstance(value, numbers.Real) and bool(np.isnan(value))


def _check_text(value, where, name):
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(
                f"{name} has an empty or whitespace-only text at {where}; every text must "
                "contain at least one non-space character. Drop or fill such rows first."
            )
        return value
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(
            f"{name} holds bytes at {where}; decode texts to str first "
            "(e.g. value.decode('utf-8', errors='replace'))."
        )
    if _is_missing(value):
        raise ValueError(
            f"{name} has a missing text (None/NaN) at {where}; drop or fill missing rows first."
        )
    raise TypeError(f"{name} must hold strings; found {type(value).__name__} {value!r} at {where}.")


def check_frame_columns(estimator, X):
    """At predict time, check a DataFrame's column names against those seen in ``fit``.

    sklearn's own check (``validate_data`` without its array part), as its estimators
    run it; other inputs have no names to check.
    """
    from sklearn.utils.validation import validate_data

    if hasattr(X, "columns"):
        validate_data(estimator, X, skip_check_array=True, reset=False)


def validate_texts(X, *, name="X"):
    """Check X and return its text columns.

    Not sklearn's ``validate_data``: with ``skip_check_array=True`` it checks only
    DataFrame column names and counts (the estimators call it for DataFrames at predict
    time), it cannot count the columns of a list of texts, and it has no checks for texts
    (missing, empty, bytes, ragged pairs), each of which gets a message naming the fix
    here.

    Parameters
    ----------
    X : list of (str, str), array-like of shape (n_samples, 2), DataFrame with 2 columns,
        or 1-D list / array / Series / 1-column DataFrame of str
        Text pairs (premise, hypothesis) or single texts.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    columns : list of list of str
        One list (single texts) or two lists (pairs), each of length n_samples.
    feature_names : numpy.ndarray of str or None
        Column names, when X is a DataFrame with string column names.

    Raises
    ------
    TypeError
        For containers that are not text (dicts, generators, sparse matrices, bytes,
        numbers) or a bare string.
    ValueError
        For empty input, wrong number of columns, ragged rows, missing or empty texts.
    """
    feature_names = None
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} must be a sequence of texts or of (premise, hypothesis) pairs, not a "
            f"single {type(X).__name__}; wrap one text as [text]."
        )
    if isinstance(X, Mapping):
        raise TypeError(
            f"{name} must be a list, array or DataFrame of texts; got a dict. Pass "
            "list(zip(d['premise'], d['hypothesis'])) or pandas.DataFrame(d) instead."
        )
    if isinstance(X, Iterator):
        raise TypeError(
            f"{name} is an iterator or generator; estimators need its length and may read it "
            "more than once. Pass list(X) instead."
        )
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(
            f"{name} is a sparse matrix; sklearn_ltuning reads raw texts, not vectorized "
            "features. Pass the texts themselves."
        )
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # pandas DataFrame
        feature_names = np.asarray([str(c) for c in X.columns], dtype=object)
        if not all(isinstance(c, str) for c in X.columns):
            feature_names = None
        rows = X.to_numpy(dtype=object)
    elif hasattr(X, "iloc"):  # pandas Series
        rows = X.to_numpy(dtype=object)
    elif isinstance(X, np.ndarray):
        rows = X.astype(object)
    else:
        try:
            rows = list(X)
        except TypeError as exc:
            raise TypeError(
                f"{name} must be a list, array or DataFrame of texts; got {type(X).__name__}."
            ) from exc
        if rows and all(isinstance(r, (tuple, list, np.ndarray)) for r in rows):
            widths = {len(r) for r in rows}
            if len(widths) > 1:
                raise ValueError(
                    f"{name} has rows of different lengths {sorted(widths)}; every row must "
                    "be one text or a (premise, hypothesis) pair."
                )
            if widths == {0}:
                raise ValueError(f"{name} has empty rows; expected 1 or 2 texts per row.")
            tmp = np.empty((len(rows), widths.pop()), dtype=object)
            for i, r in enumerate(rows):
                tmp[i, :] = list(r)
            rows = tmp
        else:
            for i, r in enumerate(rows):
                if isinstance(r, (tuple, list, np.ndarray)):
                    raise ValueError(
                        f"{name} mixes texts and pairs (row {i} is a sequence); use one form."
                    )
            tmp = np.empty(len(rows), dtype=object)
            tmp[:] = rows
            rows = tmp
    rows = np.asarray(rows, dtype=object)
    if rows.ndim == 2 and rows.shape[1] == 1:
        rows = rows[:, 0]
    if rows.ndim == 0 or rows.ndim > 2:
        raise ValueError(f"{name} must be 1-D (texts) or 2-D (pairs); got {rows.ndim} dimensions.")
    if rows.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one sample is required.")
    if rows.ndim == 2 and rows.shape[1] != 2:
        raise ValueError(
            f"{name} has {rows.shape[1]} columns; expected 1 (single texts) or 2 "
            "(premise, hypothesis). Select the text columns first, e.g. with a "
            "ColumnTransformer or df[['premise', 'hypothesis']]."
        )
    if rows.ndim == 1:
        columns = [[_check_text(v, f"row {i}", name) for i, v in enumerate(rows)]]
    else:
        columns = [
            [_check_text(v, f"row {i}, column {j}", name) for i, v in enumerate(rows[:, j])]
            for j in range(2)
        ]
    return columns, feature_names


def single_text_frame(tokenizer):
    """Special-token ids the tokenizer puts before and after a single text.

    Returns
    -------
    head, tail : list of int
    """
    probe = tokenizer("x", add_special_tokens=False)["input_ids"]
    framed = tokenizer("x", add_special_tokens=True)["input_ids"]
    for start in range(len(framed) - len(probe) + 1):
        if framed[start : start + len(probe)] == probe:
            return framed[:start], framed[start + len(probe) :]
    return [], []


def _fit_pair(len_a, len_b, room):
    """Longest-first truncation of two lengths to at most ``room`` tokens."""
    if len_a + len_b <= room:
        return len_a, len_b
    half = room // 2
    if len_a <= half:
        return len_a, room - len_a
    if len_b <= half:
        return room - len_b, len_b
    return room - half, half


def _tokenize_pairs_with_separator(tokenizer, first, second, max_length):
    """Pairs for tokenizers without a pair template (decoders): ``a + "\n" + b``.

    GPT-2, Llama and Qwen2 tokenizers would glue the two texts with no boundary.
    """
    head, tail = single_text_frame(tokenizer)
    sep = tokenizer("\n", add_special_tokens=False)["input_ids"]
    if not sep and tokenizer.eos_token_id is not None:
        sep = [tokenizer.eos_token_id]  # tokenizers that drop whitespace entirely
    # verbose=False: these untruncated calls are cut just below, not fed as they are.
    a_ids = tokenizer(first, add_special_tokens=False, verbose=False)["input_ids"]
    b_ids = tokenizer(second, add_special_tokens=False, verbose=False)["input_ids"]
    room = max(max_length - len(head) - len(tail) - len(sep), 2)
    ids, segments = [], []
    for a, b in zip(a_ids, b_ids, strict=True):
        len_a, len_b = _fit_pair(len(a), len(b), room)
        ids.append(head + a[:len_a] + sep + b[:len_b] + tail)
        segments.append(
            [0] * len(head) + [1] * len_a + [0] * len(sep) + [2] * len_b + [0] * len(tail)
        )
    return {
        "input_ids": ids,
        "attention_mask": [[1] * len(r) for r in ids],
        "segment_ids": segments,
    }


def tokenize(tokenizer, columns, max_length):
    """Tokenize texts or pairs without padding.

    Pairs use the tokenizer's own pair template ([CLS] a [SEP] b [SEP] for BERT)
    when it has a separator token; otherwise (decoders) the two texts are joined by
    a newline between the tokenizer's usual special tokens.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerBase
    columns : list of list of str
        As returned by :func:`validate_texts`.
    max_length : int
        Longest token sequence kept (pairs are truncated longest-first).

    Returns
    -------
    encoding : dict of str to list of list of int
        ``input_ids``, ``attention_mask``, ``token_type_ids`` where the tokenizer makes
        them, and for pairs ``segment_ids`` (0 special token, 1 first text, 2 second
        text), which pair-aware pooling reads.
    """
    if len(columns) == 2 and tokenizer.sep_token is None:
        return _tokenize_pairs_with_separator(tokenizer, columns[0], columns[1], max_length)
    second = columns[1] if len(columns) == 2 else None
    enc = tokenizer(
        columns[0],
        second,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=True,
        return_special_tokens_mask=second is not None,
    )
    out = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
    if second is not None:
        out["segment_ids"] = [segments_from_special_mask(m) for m in enc["special_tokens_mask"]]
    return out


def segments_from_special_mask(special):
    """Segment of every position of a pair encoded with a tokenizer's pair template.

    Pair templates put special tokens around and between the two texts ([CLS] a [SEP]
    b [SEP] for BERT, <s> a </s></s> b </s> for RoBERTa), so the first run of ordinary
    tokens is the first text and every ordinary token after it is the second. This
    needs no ``token_type_ids``, which RoBERTa-style tokenizers do not make.

    Parameters
    ----------
    special : list of int
        1 for a special token, 0 for a token of either text.

    Returns
    -------
    segments : list of int
        0 for special tokens, 1 for the first text, 2 for the second.
    """
    out, segment = [], 0
    for flag in special:
        if flag:
            if segment == 1:
                segment = 2
            out.append(0)
        else:
            segment = max(segment, 1)
            out.append(segment)
    return out


def pad(encoding, pad_id, rows=None):
    """Right-pad token lists to the longest selected row.

    Not the tokenizer's ``pad``: it pads only the keys it knows and leaves the pairs'
    ``segment_ids`` ragged.

    Parameters
    ----------
    encoding : dict of str to list of list of int
    pad_id : int
    rows : array-like of int, optional
        Which rows to take, in this order (all by default).

    Returns
    -------
    arrays : dict of str to numpy.ndarray of shape (n_rows, longest)
        Plus ``length`` of shape (n_rows,): the number of real tokens per row.
    """
    ids = encoding["input_ids"]
    rows = np.arange(len(ids)) if rows is None else np.asarray(rows)
    lengths = np.fromiter((len(ids[r]) for r in rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max()) if len(rows) else 0
    out = {"length": lengths}
    for key, values in encoding.items():
        fill = pad_id if key == "input_ids" else 0
        arr = np.full((len(rows), width), fill, dtype=np.int64)
        for i, r in enumerate(rows):
            arr[i, : lengths[i]] = values[r]
        out[key] = arr
    return out


def collate(batch):
    """Stack dataset rows and trim padding to the longest row of this batch.

    Parameters
    ----------
    batch : list of (dict of numpy.ndarray, label)
        Rows of a skorch ``Dataset`` built from :func:`pad` output.

    Returns
    -------
    X : dict of str to torch.Tensor of shape (batch, longest_in_batch)
    y : torch.Tensor of shape (batch,)
    """
    from torch.utils.data import default_collate

    X, y = default_collate(batch)
    width = int(X.pop("length").max())
    return {k: v[:, :width] for k, v in X.items()}, y


def length_grouped_batches(lengths, batch_size, generator, *, group=50):
    """Shuffled batches of similar lengths, so little of each batch is padding.

    Not transformers' ``LengthGroupedSampler``: it keeps each group's batches in
    descending length order (the longest first), a fixed pattern within every epoch;
    these batches are shuffled again.

    Rows are shuffled, cut into groups of ``group * batch_size``,
    sorted by length within each group and cut into batches; the batch order is
    shuffled again so long and short batches alternate randomly.

    Parameters
    ----------
    lengths : numpy.ndarray of shape (n_rows,)
    batch_size : int
    generator : torch.Generator
        The only source of randomness, so a seeded generator repeats the batches.
    group : int, default=50

    Returns
    -------
    batches : list of list of int
    """
    import torch

    n = len(lengths)
    order = torch.randperm(n, generator=generator).numpy()
    span = max(batch_size * group, batch_size)
    batches = []
    for start in range(0, n, span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size))
    perm = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in perm]


class LengthGroupedBatchSampler:
    """Batch sampler that draws new :func:`length_grouped_batches` at every epoch.

    Parameters
    ----------
    lengths : numpy.ndarray of shape (n_rows,)
    batch_size : int
    generator : torch.Generator
        Drawn from at the start of each pass, so a generator reseeded per epoch
        gives each epoch its own reproducible order.
    """

    def __init__(self, lengths, batch_size, generator):
        self.lengths = np.asarray(lengths)
        self.batch_size = int(batch_size)
        self.generator = generator

    def __iter__(self):
        return iter(length_grouped_batches(self.lengths, self.batch_size, self.generator))

    def __len__(self):
        return -(-len(self.lengths) // self.batch_size)


def check_target_type(y):
    """sklearn's refusal of a continuous (regression) target, before X is read."""
    if y is None or isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
        return  # validate_targets names these problems
    values = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if values.dtype.kind == "f" and not np.isnan(values).any():
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(values)


def validate_targets(y, n_samples):
    """Check y and return it as a 1-D array of str or int64 labels.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
    n_samples : int
        Rows of X.

    Returns
    -------
    y : numpy.ndarray of shape (n_samples,)
        An object array of the exact strings, or int64.

    Raises
    ------
    TypeError, ValueError
        Naming the problem (missing, mixed or non-label values, wrong shape or length).
    """
    if y is None:
        raise ValueError("y is required: one class label per sample.")
    if isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
        raise TypeError(f"y must be an array-like of class labels; got {type(y).__name__}.")
    values = y.to_numpy() if hasattr(y, "to_numpy") else y
    y = np.asarray(values, dtype=object)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample); got shape {y.shape}.")
    if len(y) != n_samples:
        raise ValueError(
            f"X and y have different lengths: X has {n_samples} samples, y has {len(y)}."
        )
    kinds = set()
    for i, v in enumerate(y):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise ValueError(f"y has a missing label (None/NaN) at position {i}.")
        if isinstance(v, str):
            kinds.add("str")
        elif isinstance(v, (numbers.Integral, np.bool_, bool)):
            kinds.add("int")
        else:
            raise TypeError(
                f"y must hold strings or integers; found {type(v).__name__} {v!r} at position {i}."
            )
    if len(kinds) > 1:
        raise TypeError("y mixes strings and integers; use one type for all labels.")
    # Strings stay Python objects: a fixed-width unicode array would drop trailing NUL
    # characters, so a class "a\x00" would come back as "a" and no longer match its
    # label_texts key.
    return y if kinds == {"str"} else y.astype(np.int64)
