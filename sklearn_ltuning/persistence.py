"""Save and load fitted estimators: trained parameters in safetensors, everything else in JSON.

Layout of a model folder::

    config.json        format version, hyperparameters, classes, label texts, backbone
                       identity (argument, name, config + weights fingerprint), library
                       versions, training history
    model.safetensors  the trained parameters only (method maps and head)

Loading reads exactly these two files, executes no pickled code, refuses links that
lead outside the folder, re-resolves the frozen backbone from its name or path and
checks its fingerprint. Writing goes to a temporary folder renamed into place.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "sklearn_ltuning"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: Constructor parameters stored in config.json (objects such as callbacks are not).
_STORED_PARAMS = (
    "method", "backbone", "prefix_length", "label_texts", "label_map", "objective",
    "pooling", "max_length", "max_epochs", "batch_size", "lr", "warm_start", "device",
    "verbose", "trust_remote_code",
)  # fmt: skip


def _versions():
    import sklearn
    import skorch
    import torch
    import transformers

    from ._version import __version__

    return {
        "sklearn_ltuning": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _history(net):
    return [{k: _jsonable(v) for k, v in epoch.items() if k != "batches"} for epoch in net.history]


def save_model(estimator, path):
    """Write a fitted estimator to a model folder, atomically.

    Parameters
    ----------
    estimator : LTuningClassifier
        A fitted estimator.
    path : str or os.PathLike
        The folder to write. An existing folder there is replaced only once the new
        one is complete, so a crash mid-save never leaves a half-written model.

    Returns
    -------
    path : pathlib.Path
    """
    from safetensors.torch import save_file
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "net_")
    path = Path(path)
    params = estimator.get_params()
    label_texts = params["label_texts"]
    if isinstance(label_texts, dict):
        label_texts = {"__pairs__": [[_jsonable(k), v] for k, v in label_texts.items()]}
    stored = {k: _jsonable(params[k]) for k in _STORED_PARAMS}
    stored["backbone"] = os.fspath(params["backbone"])
    stored["label_texts"] = label_texts
    handle = estimator.backbone_
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "params": stored,
        "classes": [_jsonable(c) for c in estimator.classes_],
        "classes_kind": "str" if estimator.classes_.dtype.kind in "UO" else "int",
        "label_texts_": list(estimator.label_texts_),
        "n_features_in_": int(estimator.n_features_in_),
        "feature_names_in_": (
            [str(c) for c in estimator.feature_names_in_]
            if hasattr(estimator, "feature_names_in_")
            else None
        ),
        "max_input_tokens_": int(estimator.max_input_tokens_),
        "pooling_": estimator.net_.module_.pooling,
        "backbone": {
            "argument": stored["backbone"],
            "name": handle.source.name,
            "model_type": handle.shape.model_type,
            "fingerprint": handle.fingerprint,
        },
        "versions": _versions(),
        "history": _history(estimator.net_),
    }
    state = {
        k: v.detach().cpu().contiguous() for k, v in estimator.net_.module_.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        save_file(state, tmp / WEIGHTS_FILE, metadata={"format": FORMAT})
        with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as fh:
            json.dump(config, fh, indent=2)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "model")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _inside(folder, name):
    """The file ``name`` in ``folder``, refusing links that lead outside it."""
    target = folder / name
    if not target.is_file():
        raise ValueError(f"{folder} is not a sklearn_ltuning model folder: {name} is missing.")
    if not target.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{target} points outside the model folder {folder}; refusing to read it.")
    return target


def load_model(path, *, device=None):
    """Load a model folder written by :func:`save_model`.

    Parameters
    ----------
    path : str or os.PathLike
    device : str, optional
        Overrides the device stored with the model (e.g. ``"cpu"`` for a model
        trained on a GPU).

    Returns
    -------
    estimator : LTuningClassifier
        Fitted, ready to predict.

    Raises
    ------
    ValueError
        If the folder is not a model folder, was written by a newer format version,
        or the backbone found now differs from the one the model was trained on.
    """
    import torch
    from safetensors.torch import load_file
    from skorch.history import History

    from .estimator import LTuningClassifier
    from .labels import encode_labels

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such model folder.")
    try:
        with open(_inside(folder, CONFIG_FILE), encoding="utf-8") as fh:
            config = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{folder}/{CONFIG_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{folder} is not a sklearn_ltuning model folder (wrong format tag).")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{folder} was written in model format version {version}, but this "
            f"sklearn_ltuning reads format versions up to {FORMAT_VERSION}; upgrade "
            "sklearn_ltuning to load it."
        )
    params = dict(config["params"])
    if isinstance(params.get("label_texts"), dict) and "__pairs__" in params["label_texts"]:
        params["label_texts"] = {k: v for k, v in params["label_texts"]["__pairs__"]}
    if device is not None:
        params["device"] = device
    estimator = LTuningClassifier(**params)
    handle = estimator._load_backbone()
    expected = config["backbone"]["fingerprint"]
    if handle.fingerprint != expected:
        raise ValueError(
            f"The backbone {params['backbone']!r} found now differs from the one this model "
            f"was trained on (fingerprint {handle.fingerprint[:12]} != {expected[:12]}); "
            "load it with the same backbone weights it was trained with."
        )
    kind = config["classes_kind"]
    classes = np.asarray(config["classes"], dtype=str if kind == "str" else np.int64)
    label_hidden = None
    if params["method"] in ("lt_prefix", "lt_prompt"):
        label_hidden = encode_labels(handle, config["label_texts_"], params["prefix_length"])
    net = estimator._build_net(handle, len(classes), label_hidden, seed=0)
    net.set_params(module__pooling=config["pooling_"])
    with torch.random.fork_rng(devices=[]):
        net.initialize()
    state = load_file(_inside(folder, WEIGHTS_FILE), device=str(handle.device))
    net.module_.load_state_dict(state, strict=True)
    net.history = History(config.get("history", []))
    estimator.classes_ = classes
    estimator.label_texts_ = list(config["label_texts_"])
    estimator.n_features_in_ = int(config["n_features_in_"])
    if config.get("feature_names_in_") is not None:
        estimator.feature_names_in_ = np.asarray(config["feature_names_in_"], dtype=object)
    estimator.backbone_ = handle
    estimator.max_input_tokens_ = int(config["max_input_tokens_"])
    estimator.net_ = net
    return estimator
