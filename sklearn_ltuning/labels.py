"""Label texts (verbalizers) and their encoding, once, by the frozen backbone."""

from __future__ import annotations

import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

#: Label encodings kept per (backbone, device, texts, length), least recently used
#: first out: a grid search reuses a handful, while every predict(X, labels=...) with
#: new texts adds one, which must not grow the process without bound.
ENCODED_CACHE_SIZE = 64
_ENCODED: OrderedDict[tuple, object] = OrderedDict()
_WARNED: set[tuple[str, int]] = set()
_LOCK = threading.Lock()


def default_label_text(label):
    """Text read for a class when no label text is given: its name made readable.

    Identifier-like names become words: ``_`` and ``-`` are spaces, and a CamelCase
    name is split at its capitals and lower-cased (``"card_arrival"`` and
    ``"CardArrival"`` both read ``"card arrival"``; ``"getATMCard"`` reads ``"get atm
    card"``). A name that is already words keeps its case.

    Examples
    --------
    >>> default_label_text("not_entailment")
    'not entailment'
    >>> default_label_text("CardArrival")
    'card arrival'
    """
    text = str(label).replace("_", " ").replace("-", " ")
    words = []
    for word in text.split():
        parts = _CAMEL.findall(word)
        if len(parts) > 1 and "".join(parts) == word:
            words.extend(p.lower() for p in parts)
        else:
            words.append(word)
    return " ".join(words) or str(label)


#: The words of a CamelCase identifier: "getATMCard" -> get, ATM, Card.
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def resolve_labels(labels, classes=None, *, name="labels"):
    """Label names and the text read for each: the one parser of label specifications.

    At fit (``classes`` given, ``name="label_texts"``) the specification must cover
    exactly the classes; at predict (``classes=None``, ``predict(X, labels=...)``)
    it defines new labels.

    Parameters
    ----------
    labels : None, str, dict, callable or list of str
        ``None``: each class's name made readable (:func:`default_label_text`).
        A ``str`` with ``{label}``: a template, e.g. ``"The relation is {label}."``.
        A ``dict``: label -> text. A callable (fit only): class -> text, e.g.
        ``lambda c: f"The customer asks about {c.replace('_', ' ')}."``. A list (predict
        only): texts that are their own names.
    classes : array-like, optional
        The fitted classes, in ``classes_`` order; None at predict.
    name : str
        The argument's name in error messages.

    Returns
    -------
    names : numpy.ndarray
        ``classes`` at fit; at predict the dict's keys (object array) or the texts.
    texts : list of str
        One non-empty, distinct text per name.

    Raises
    ------
    TypeError, ValueError
        Naming the argument and the offending label or text.
    """
    if classes is None:
        if isinstance(labels, Mapping):
            names, texts = list(labels), list(labels.values())
            kind = object
        elif isinstance(labels, (list, tuple, np.ndarray)):
            names = texts = list(labels)
            kind = object  # exact strings (a fixed-width array drops trailing NULs)
        else:
            raise ValueError(
                f"{name} must be a dict {{label: text}} or a list of label texts; got "
                f"{type(labels).__name__}."
            )
        if not names:
            raise ValueError(f"{name} is empty; give at least one label text.")
        for text in texts:
            # A ValueError here (TypeError at fit): predict's arguments are values.
            if not isinstance(text, str):
                raise ValueError(f"{name}: every label text must be a str; got {text!r}.")
        check_texts(texts, names, name=name)
        return np.asarray(names, dtype=kind), list(texts)
    classes = list(classes)
    if labels is None:
        texts = [default_label_text(c) for c in classes]
    elif isinstance(labels, str):
        if "{label}" not in labels:
            raise ValueError(
                f"{name} as a string must be a template containing '{{label}}', e.g. "
                f"'The relation is {{label}}.'; got {labels!r}. Use a dict to give "
                "each class its own text."
            )
        try:
            texts = [labels.format(label=default_label_text(c)) for c in classes]
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"{name} template {labels!r} has a placeholder other than "
                f"'{{label}}' ({exc}); escape literal braces as '{{{{' and '}}}}'."
            ) from exc
    elif callable(labels):
        texts = [labels(c) for c in classes]
    elif isinstance(labels, Mapping):
        missing = [c for c in classes if not _has_key(labels, c)]
        if missing:
            raise ValueError(
                f"{name} has no text for classes {missing}; give a text for every class "
                f"in y (classes: {classes})."
            )
        unknown = [k for k in labels if not any(_same(k, c) for c in classes)]
        if unknown:
            raise ValueError(
                f"{name} has texts for classes {unknown} that are not in y (classes: "
                f"{classes}); remove them, or pass new labels at predict time instead."
            )
        texts = [_get_key(labels, c) for c in classes]
    else:
        raise TypeError(
            f"{name} must be None, a template string, a dict class -> text or a callable "
            f"class -> text; got {type(labels).__name__}."
        )
    return np.asarray(classes), check_texts(texts, classes, name=name)


def resolve_label_texts(label_texts, classes, *, name="label_texts"):
    """One text per class, in the order of ``classes`` (:func:`resolve_labels` at fit).

    Parameters
    ----------
    label_texts : None, str or dict
        See :func:`resolve_labels`.
    classes : array-like
        The classes, in ``classes_`` order.

    Returns
    -------
    texts : list of str
    """
    return resolve_labels(label_texts, classes, name=name)[1]


def check_texts(texts, classes, *, name):
    """Check that label texts are non-empty, distinct strings with distinct names."""
    seen, names = {}, set()
    for cls, text in zip(classes, texts, strict=True):
        if str(cls) in names:
            raise ValueError(f"{name} has duplicated label {cls!r}; each label must appear once.")
        names.add(str(cls))
        if not isinstance(text, str):
            raise TypeError(f"{name}: the text for class {cls!r} must be a str; got {text!r}.")
        if not text.strip():
            raise ValueError(f"{name}: the text for class {cls!r} is empty; give it words.")
        key = text.strip()
        if key in seen:
            raise ValueError(
                f"{name}: classes {seen[key]!r} and {cls!r} have the same text {text!r}; "
                "L-Tuning tells classes apart by their texts, so they must differ."
            )
        seen[key] = cls
    return list(texts)


def _same(a, b):
    return a == b or str(a) == str(b)


def _has_key(mapping, cls):
    return cls in mapping or any(_same(k, cls) for k in mapping)


def _get_key(mapping, cls):
    if cls in mapping:
        return mapping[cls]
    return next(v for k, v in mapping.items() if _same(k, cls))


def label_token_ids(tokenizer, texts, length, *, name="label_texts"):
    """Token ids of each label text, padded with "." tokens or cut to ``length``.

    The paper pads label texts to a common length with "." tokens; that length is
    the prefix length. Texts longer than ``length`` tokens (special tokens included)
    are cut, with a warning; texts that become identical after cutting are refused.

    Returns
    -------
    ids : list of list of int
        ``len(texts)`` rows of exactly ``length`` ids.
    """
    dot = tokenizer(".", add_special_tokens=False)["input_ids"][-1]
    rows = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        if len(ids) > length and (text, length) not in _WARNED:
            # Once per (text, length) and process: a grid over prefix_length meets each
            # situation once, not once per candidate and fold.
            _WARNED.add((text, length))
            kept = tokenizer.decode(ids[:length], skip_special_tokens=True).strip()
            warnings.warn(
                f"The label text {text!r} has {len(ids)} tokens (special tokens included) but "
                f"prefix_length={length}: L-Tuning builds this label's prefix from its first "
                f"{length} tokens only ({kept!r}), so the rest of the text does not reach the "
                f"model. Use prefix_length >= {len(ids)} to read all of it, or shorten the text.",
                UserWarning,
                stacklevel=3,
            )
        ids = ids[:length]
        rows.append(ids + [dot] * (length - len(ids)))
    for i in range(len(rows)):
        for j in range(i):
            if rows[i] == rows[j]:
                raise ValueError(
                    f"{name}: {texts[j]!r} and {texts[i]!r} are identical in their first "
                    f"{length} tokens (prefix_length), or the tokenizer maps them to the same "
                    "tokens; raise prefix_length or make the texts differ earlier."
                )
    return rows


def encode_labels(handle, texts, length):
    """Run each label text through the frozen backbone once.

    The last :data:`ENCODED_CACHE_SIZE` results are kept per (backbone, texts,
    length), so repeated fits (e.g. in ``GridSearchCV``) reuse them.

    Parameters
    ----------
    handle : BackboneHandle
    texts : list of str
        One text per class, in the order of ``classes_``.
    length : int
        Label token sequences are padded or cut to this length (``prefix_length``).

    Returns
    -------
    hidden : torch.Tensor of shape (n_classes, length, hidden_size)
        Last hidden states; constants (no gradient).
    """
    key = (handle.source.key, str(handle.device), handle.dtype, handle.load_in, tuple(texts))
    key += (int(length),)
    with _LOCK:
        if key in _ENCODED:
            _ENCODED.move_to_end(key)
            return _ENCODED[key]
    ids = label_token_ids(handle.tokenizer, texts, length)
    hidden = _read_label_tokens(handle, ids)
    with _LOCK:
        _ENCODED[key] = hidden
        while len(_ENCODED) > ENCODED_CACHE_SIZE:
            _ENCODED.popitem(last=False)
    return hidden


def _read_label_tokens(handle, ids):
    """The frozen backbone's last hidden states of label token rows."""
    import torch

    input_ids = torch.tensor(ids, dtype=torch.long, device=handle.device)
    # no_grad, not inference_mode: the result feeds trainable maps whose backward
    # must be able to save it.
    with torch.no_grad():
        return handle.model(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids)
        ).last_hidden_state.float()


def embed_labels(handle, texts):
    """Each label text's own frozen reading: its mean-pooled last hidden state, unit length.

    What the bilinear head (``head="bilinear"``) compares an input's features with,
    and what a zero-shot cosine classifier reads; it does not depend on
    ``prefix_length`` or on "." padding.

    Parameters
    ----------
    handle : BackboneHandle
    texts : list of str

    Returns
    -------
    embed : torch.Tensor of shape (n_labels, hidden_size)
    """
    import torch

    from .embeddings import FrozenEmbeddings

    reader = FrozenEmbeddings(
        backbone=handle.source,
        pooling="mean",
        norm="l2",
        device=handle.device,
        dtype=handle.dtype,
        load_in=handle.load_in,
        trust_remote_code=handle.trust_remote_code,
    )
    return torch.as_tensor(reader.fit_transform(list(texts)), device=handle.device)
