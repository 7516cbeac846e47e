"""Save and load fitted estimators: trained parameters in safetensors, everything else in JSON.

Layout of a model folder::

    config.json        format version, hyperparameters, classes, label texts, backbone
                       identity (argument, name, config + weights fingerprint), library
                       versions, training history
    model.safetensors  the trained parameters only (method maps and head)

Loading reads exactly these two files, executes no pickled code, refuses links that
lead outside the folder, validates every field of ``config.json`` (type and range;
unknown fields are refused), re-resolves the frozen backbone and checks its
fingerprint. A model folder is untrusted input: it cannot widen what loading does.
``trust_remote_code`` is never read from it, and its stored backbone is used only when
it is a registered name or a local folder without custom code; anything else needs
the caller's own ``backbone=`` / ``trust_remote_code=True``. Writing goes to a
temporary folder renamed into place.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .methods import method_spec

FORMAT = "sklearn_ltuning"
#: Version 2 added ``recipe_``, ``random_state`` and ``backbone.weights_sha256``; version 3
#: stores the bilinear head as its trained per-class residual and zero-shot temperature
#: (``label_residual``, ``zero_shot_scale``; version-2 ``bilinear`` weights are converted
#: when loaded, see :class:`~sklearn_ltuning.methods.MethodModule`); version 4 added the
#: ``class_weight`` parameter and ``recipe_.class_weight`` (None in older folders).
FORMAT_VERSION = 4
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: Constructor parameters stored in config.json (objects such as callbacks are not).
_STORED_PARAMS = (
    "method", "backbone", "prefix_length", "label_texts", "label_map", "objective",
    "pooling", "pair_encoding", "head", "head_init", "lr_schedule", "early_stopping",
    "validation_fraction", "class_weight", "max_length",
    "max_epochs", "batch_size", "lr", "warm_start", "device", "random_state", "verbose",
    "trust_remote_code",
)  # fmt: skip
#: Constructor parameters never stored: Python objects (or, for ``net_kwargs``, settings
#: that would reach the training net's construction at load). Their names are listed in
#: ``not_stored`` when they were set; a loaded estimator has their defaults.
_NOT_STORED = ("train_split", "callbacks", "net_kwargs")
#: What version-1 folders (written before the recipe settings existed) were trained with.
_V1_PARAMS = {
    "pair_encoding": "joint",
    "head": "pair",
    "head_init": "default",
    "lr_schedule": "constant",
    "early_stopping": False,
    "validation_fraction": 0.1,
    "random_state": None,
}
#: Parameters that folders written before a format version lack, with the value they
#: were trained with: {first version that stores it: {name: value}}.
_ADDED_PARAMS = {4: {"class_weight": None}}


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
    stored = {k: _jsonable(params[k]) for k in _STORED_PARAMS}
    for name in ("label_texts", "class_weight"):
        if isinstance(params[name], dict):
            stored[name] = _class_pairs(params[name])
    stored["backbone"] = os.fspath(params["backbone"])
    not_stored = [k for k in _NOT_STORED if params[k] is not None]
    if not (stored["random_state"] is None or isinstance(stored["random_state"], int)):
        stored["random_state"] = None  # a RandomState instance has no JSON form
        not_stored.append("random_state")
    handle = estimator.backbone_
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "params": stored,
        "not_stored": not_stored,
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
        "recipe_": _jsonable(dict(estimator.recipe_)),
        "backbone": {
            "argument": stored["backbone"],
            "name": handle.source.name,
            "model_type": handle.shape.model_type,
            "fingerprint": handle.fingerprint,
            "weights_sha256": handle.weights_sha256,
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


# ------------------------------------------------------------------ validation
def _field(where, message):
    return ValueError(f"config.json: field {where!r} {message}")


def _expect(value, types, where, what):
    # bool is an int in Python; no field here takes a bool where a number is meant.
    if isinstance(value, bool) and bool not in types:
        raise _field(where, f"must be {what}; got {value!r}.")
    if not isinstance(value, types):
        raise _field(where, f"must be {what}; got {type(value).__name__} {value!r}.")
    return value


def _keys(mapping, where, required, optional=()):
    _expect(mapping, (dict,), where, "an object")
    unknown = sorted(set(mapping) - set(required) - set(optional))
    if unknown:
        raise _field(where, f"has unknown field(s) {unknown}; refusing the folder.")
    missing = sorted(set(required) - set(mapping))
    if missing:
        raise _field(where, f"lacks field(s) {missing}.")


def _check_hex(value, where, optional=False):
    if optional and value is None:
        return None
    _expect(value, (str,), where, "a 64-character hexadecimal SHA-256")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise _field(where, "must be a 64-character hexadecimal SHA-256.")
    return value


def _class_pairs(mapping):
    """A dict keyed by classes as JSON: [class, value] pairs keep int keys int."""
    return {"__pairs__": [[_jsonable(k), _jsonable(v)] for k, v in mapping.items()]}


def _class_mapping(stored, name, value_types):
    """The dict that :func:`_class_pairs` wrote, checked."""
    where = f"params.{name}"
    _keys(stored, where, ["__pairs__"])
    pairs = _expect(stored["__pairs__"], (list,), where, "a list")
    mapping = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _field(where, "must hold [class, value] pairs.")
        key, value = pair
        _expect(key, (str, int), where, "keyed by str or int classes")
        _expect(value, value_types, where, f"a mapping to {value_types[0].__name__} values")
        mapping[key] = value
    return mapping


def _check_params(params, version, check_params):
    """Constructor parameters of the file, checked like the constructor checks them."""
    missing = {}
    if version < 2:
        missing.update(_V1_PARAMS)
    for added, defaults in _ADDED_PARAMS.items():
        if version < added:
            missing.update(defaults)
    _keys(params, "params", [p for p in _STORED_PARAMS if p not in missing])
    params = {**dict(params), **missing}
    if isinstance(params["label_texts"], dict):
        params["label_texts"] = _class_mapping(params["label_texts"], "label_texts", (str,))
    if isinstance(params["class_weight"], dict):
        params["class_weight"] = _class_mapping(
            params["class_weight"], "class_weight", (int, float)
        )
    for name in ("backbone", "device"):
        _expect(params[name], (str,), f"params.{name}", "a string")
    _expect(params["trust_remote_code"], (bool,), "params.trust_remote_code", "true or false")
    if params["random_state"] is not None:
        _expect(params["random_state"], (int,), "params.random_state", "an integer or null")
    try:
        check_params(params)
    except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError is a ValueError
        raise ValueError(f"config.json: {exc}") from None
    return params


def _check_config(config, folder, check_params):
    """Every field of config.json, checked for type and range; returns what load needs."""
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{folder} is not a sklearn_ltuning model folder (wrong format tag).")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _field("format_version", f"must be a positive integer; got {version!r}.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{folder} was written in model format version {version}, but this "
            f"sklearn_ltuning reads format versions up to {FORMAT_VERSION}; upgrade "
            "sklearn_ltuning to load it."
        )
    common = [
        "format", "format_version", "params", "classes", "classes_kind", "label_texts_",
        "n_features_in_", "feature_names_in_", "max_input_tokens_", "backbone",
    ]  # fmt: skip
    _keys(config, "(top level)", common + (["recipe_"] if version >= 2 else ["pooling_"]),
          optional=["versions", "history", "not_stored"])  # fmt: skip
    not_stored = _expect(config.get("not_stored", []), (list,), "not_stored", "a list")
    if not all(isinstance(n, str) for n in not_stored) or not set(not_stored) <= {
        *_NOT_STORED,
        "random_state",
    }:
        raise _field("not_stored", f"may only name {list(_NOT_STORED)}; got {not_stored!r}.")
    params = _check_params(config["params"], version, check_params)
    kind = config["classes_kind"]
    if kind not in ("str", "int"):
        raise _field("classes_kind", f"must be 'str' or 'int'; got {kind!r}.")
    classes = _expect(config["classes"], (list,), "classes", "a list")
    for c in classes:
        _expect(c, (str,) if kind == "str" else (int,), "classes", f"a list of {kind}")
    if len(classes) < 2 or len(set(classes)) != len(classes) or classes != sorted(classes):
        raise _field("classes", "must list at least two distinct classes, sorted.")
    texts = _expect(config["label_texts_"], (list,), "label_texts_", "a list")
    if len(texts) != len(classes) or not all(isinstance(t, str) and t.strip() for t in texts):
        raise _field("label_texts_", "must hold one non-empty text per class.")
    n_features = config["n_features_in_"]
    if n_features not in (1, 2) or isinstance(n_features, bool):
        raise _field("n_features_in_", f"must be 1 or 2; got {n_features!r}.")
    names = config["feature_names_in_"]
    if names is not None:
        _expect(names, (list,), "feature_names_in_", "a list or null")
        if len(names) != n_features or not all(isinstance(n, str) for n in names):
            raise _field("feature_names_in_", "must hold one column name (str) per column.")
    budget = _expect(config["max_input_tokens_"], (int,), "max_input_tokens_", "an integer")
    if not 1 <= budget <= params["max_length"]:
        raise _field("max_input_tokens_", f"must be in [1, max_length]; got {budget}.")
    if version >= 2:
        recipe = config["recipe_"]
        _keys(
            recipe,
            "recipe_",
            ["pooling", "pair_encoding", "head", "head_init", "lr_schedule", "early_stopping"]
            + (["class_weight"] if version >= 4 else []),
        )
        choices = {
            "pooling": ("mean", "cls", "last"),
            "pair_encoding": ("joint", "cross", "separate"),
            "head": ("pair", "bilinear", "class"),
            "head_init": ("probe", "default"),
            "lr_schedule": ("constant", "linear"),
            "early_stopping": (True, False),
        }
        for key, options in choices.items():
            if recipe[key] not in options or isinstance(recipe[key], bool) != (
                key == "early_stopping"
            ):
                raise _field(f"recipe_.{key}", f"must be one of {options}; got {recipe[key]!r}.")
        label_conditioned = method_spec(params["method"]).label_conditioned
        if (recipe["head"] == "class") == label_conditioned:
            raise _field("recipe_.head", f"does not fit method {params['method']!r}.")
        if n_features == 1 and recipe["pair_encoding"] != "joint":
            raise _field("recipe_.pair_encoding", "must be 'joint' for single texts.")
        weights = recipe.get("class_weight")
        if weights is not None and not (
            isinstance(weights, list)
            and len(weights) == len(classes)
            and all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and 0 < w < float("inf")
                for w in weights
            )
        ):
            raise _field("recipe_.class_weight", "must be null or one positive number per class.")
        recipe = {**recipe, "class_weight": weights}
    else:
        pooling = config["pooling_"]
        if pooling not in ("mean", "cls", "last"):
            raise _field("pooling_", f"must be 'mean', 'cls' or 'last'; got {pooling!r}.")
        label_conditioned = method_spec(params["method"]).label_conditioned
        recipe = {
            "pooling": pooling,
            "pair_encoding": "joint",
            "head": "pair" if label_conditioned else "class",
            "head_init": "default",
            "lr_schedule": "constant",
            "early_stopping": False,
            "class_weight": None,
        }
    backbone = config["backbone"]
    _keys(backbone, "backbone", ["argument", "name", "model_type", "fingerprint"],
          optional=["weights_sha256"])  # fmt: skip
    _expect(backbone["argument"], (str,), "backbone.argument", "a string")
    if backbone["name"] is not None:
        _expect(backbone["name"], (str,), "backbone.name", "a string or null")
    _expect(backbone["model_type"], (str,), "backbone.model_type", "a string")
    _check_hex(backbone["fingerprint"], "backbone.fingerprint")
    _check_hex(backbone.get("weights_sha256"), "backbone.weights_sha256", optional=True)
    versions = config.get("versions", {})
    _expect(versions, (dict,), "versions", "an object")
    if not all(isinstance(v, str) for v in versions.values()):
        raise _field("versions", "must map names to version strings.")
    history = config.get("history", [])
    _expect(history, (list,), "history", "a list")
    if not all(isinstance(row, dict) for row in history):
        raise _field("history", "must be a list of objects (one per epoch).")
    return params, recipe, classes


# --------------------------------------------------------------------- loading
def _backbone_source(stored, backbone, trust_remote_code):
    """Resolve the backbone to load, refusing what the caller did not allow.

    The stored name or path is a claim of the model folder, not an instruction: it
    is used only when it is a registered name or a local folder without custom
    code. A caller's ``backbone=`` is the caller's own choice, and custom code runs
    only with the caller's ``trust_remote_code=True``.
    """
    from .backbones.registry import has_custom_code, resolve_backbone

    argument = stored if backbone is None else backbone
    source = resolve_backbone(argument)
    local = Path(source.path).is_dir()
    if backbone is None and source.name is None and not local:
        raise ValueError(
            f"The model folder names the backbone {stored!r}, a hub id: loading it would "
            "fetch files that the folder chose. Refused. If you trust that model, pass it "
            f"yourself: LTuningClassifier.load(path, backbone={stored!r}) (command line: "
            f"--backbone {stored})."
        )
    if local and not trust_remote_code:
        found = has_custom_code(source.path)
        if found:
            raise ValueError(
                f"The backbone folder {source.path} contains custom model code ({found}); "
                "loading it would run that code. Refused. If you trust it, say so: "
                "LTuningClassifier.load(path, trust_remote_code=True) (command line: "
                "--trust-remote-code), or point to a plain copy of the weights with "
                "backbone=."
            )
    return argument, source


@dataclass
class StoredModel:
    """What a checked model folder holds, with its backbone loaded and verified.

    Built by :func:`read_model`; the estimator's ``load`` turns it into a fitted
    estimator (the only place that sets fitted state is the estimator's own).
    """

    params: dict
    recipe: dict
    classes: np.ndarray
    label_texts: list
    n_features_in: int
    feature_names: list | None
    max_input_tokens: int
    history: list
    state: dict
    handle: object


def read_model(path, *, check_params, device=None, backbone=None, trust_remote_code=False):
    """Read and check a model folder written by :func:`save_model`; load its backbone.

    Parameters
    ----------
    path : str or os.PathLike
    check_params : callable
        Called with the stored constructor parameters; raises ``ValueError`` or
        ``TypeError`` when the estimator would refuse them (the estimator passes
        its own parameter validation, so this module needs no estimator import).
    device : str, optional
        Overrides the device stored with the model (e.g. ``"cpu"`` for a model
        trained on a GPU).
    backbone : str or os.PathLike, optional
        The frozen backbone to use, overriding the name or path the folder stores
        (e.g. your own local copy of the same weights). Its fingerprint must still
        match the one the model was trained with.
    trust_remote_code : bool, default=False
        Allow a backbone folder with custom model code to run it. Never read from
        the model folder.

    Returns
    -------
    stored : StoredModel

    Raises
    ------
    ValueError
        If the folder is not a model folder, a field of ``config.json`` has a wrong
        type or value, it was written by a newer format version, its backbone needs
        a permission the caller did not give, or the backbone found now differs
        from the one the model was trained on.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .backbones.loading import load_backbone, weights_sha256

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such model folder.")
    try:
        with open(_inside(folder, CONFIG_FILE), encoding="utf-8") as fh:
            config = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{folder}/{CONFIG_FILE} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ValueError(f"{folder}/{CONFIG_FILE} is nested too deeply to be a model.") from None
    params, recipe, classes = _check_config(config, folder, check_params)
    argument, source = _backbone_source(params["backbone"], backbone, trust_remote_code)
    argument = os.fspath(argument)
    expected = config["backbone"].get("weights_sha256")
    # Where the weights file can be hashed without loading the model, a different
    # backbone is refused before any model class is imported.
    found = weights_sha256(source)
    if expected is not None and found is not None and found != expected:
        raise ValueError(
            f"The backbone {argument!r} found now differs from the one this model was trained "
            f"on (weights file SHA-256 {found[:12]} != {expected[:12]}); load it with the "
            "same backbone weights it was trained with (backbone=...)."
        )
    params["backbone"] = argument
    params["trust_remote_code"] = bool(trust_remote_code)
    if device is not None:
        params["device"] = device
    handle = load_backbone(
        source, device=params["device"], trust_remote_code=bool(trust_remote_code)
    )
    fingerprint = config["backbone"]["fingerprint"]
    found = handle.fingerprint if config["format_version"] >= 2 else handle.legacy_fingerprint()
    if found != fingerprint:
        raise ValueError(
            f"The backbone {argument!r} found now differs from the one this model "
            f"was trained on (fingerprint {found[:12]} != {fingerprint[:12]}); "
            "load it with the same backbone weights it was trained with."
        )
    try:
        state = load_file(_inside(folder, WEIGHTS_FILE), device=str(handle.device))
    except (SafetensorError, OSError) as exc:
        raise ValueError(
            f"{folder}/{WEIGHTS_FILE} is not a safetensors file: "
            + " ".join(str(exc).split())[:300]
        ) from None
    return StoredModel(
        params=params,
        recipe=recipe,
        classes=np.asarray(classes, dtype=str if config["classes_kind"] == "str" else np.int64),
        label_texts=list(config["label_texts_"]),
        n_features_in=int(config["n_features_in_"]),
        feature_names=config["feature_names_in_"],
        max_input_tokens=int(config["max_input_tokens_"]),
        history=list(config.get("history", [])),
        state=state,
        handle=handle,
    )
