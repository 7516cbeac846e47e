"""Save and load fitted estimators: trained parameters in safetensors, everything else in JSON.

Layout of a model folder::

    config.json        format version, constructor parameters, classes, label texts, the
                       resolved recipe, backbone identity (argument, name, config + weights
                       fingerprint), library versions, training history
    model.safetensors  the trained parameters only (method maps and head)

Loading reads exactly these two files, executes no pickled code, refuses links that
lead outside the folder, validates every field of ``config.json`` against its schema
(the :class:`ModelConfig` dataclass and the estimator's own parameter checks; unknown
fields are refused), re-resolves the frozen backbone and checks its fingerprint. A model
folder is untrusted input: it cannot widen what loading does. ``trust_remote_code`` is
never read from it, and its stored backbone is used only when it is a registered name or
a local folder without custom code; anything else needs the caller's own
``backbone=`` / ``trust_remote_code=True``. Writing goes to a temporary folder renamed
into place.

There is one format: the package has not been released, so a folder of another format
version is refused with both versions named.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .plan import Recipe, check_json, from_json, to_json

FORMAT = "sklearn_ltuning"
FORMAT_VERSION = 6
#: Older format versions read by filling in what they predate (:func:`_upgrade`).
UPGRADABLE = (5,)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

#: Constructor parameters never stored: Python objects (or, for ``net_kwargs``, settings
#: that would reach the training net's construction at load). Their names are listed in
#: ``not_stored`` when they were set; a loaded estimator has their defaults.
NOT_STORED = ("train_split", "callbacks", "net_kwargs")
#: Parameters that may map classes to values: stored as [class, value] pairs, so that
#: integer classes stay integers in JSON.
_CLASS_MAPPINGS = {"label_texts": (str,), "class_weight": (int, float)}


@dataclass(frozen=True)
class BackboneIdentity:
    """Which frozen backbone a model was trained on."""

    argument: str
    name: str | None
    model_type: str
    fingerprint: str
    weights_sha256: str | None


@dataclass(frozen=True)
class ModelConfig:
    """The schema of ``config.json``: every field a model folder holds besides its weights.

    ``params`` are the estimator's constructor parameters (all but :data:`NOT_STORED`),
    checked by the estimator's own parameter validation; the rest is the fitted state.
    """

    format: Literal["sklearn_ltuning"]
    format_version: int
    params: dict[str, Any]
    not_stored: list[
        Literal["train_split", "callbacks", "net_kwargs", "random_state", "label_texts"]
    ]
    classes: list[str] | list[int]
    classes_kind: Literal["str", "int"]
    label_texts_: list[str]
    n_features_in_: Literal[1, 2]
    feature_names_in_: list[str] | None
    max_input_tokens_: int
    recipe_: Recipe
    backbone: BackboneIdentity
    versions: dict[str, str]
    history: list[dict[str, Any]]

    def check(self, spec, max_length):
        """The checks across fields that the types alone cannot make."""
        classes = self.classes
        if len(classes) < 2 or len(set(classes)) != len(classes) or classes != sorted(classes):
            raise _field("classes", "must list at least two distinct classes, sorted.")
        if any(isinstance(c, str) for c in classes) != (self.classes_kind == "str"):
            raise _field("classes", f"must be a list of {self.classes_kind}.")
        texts = self.label_texts_
        if len(texts) != len(classes) or not all(t.strip() for t in texts):
            raise _field("label_texts_", "must hold one non-empty text per class.")
        names = self.feature_names_in_
        if names is not None and len(names) != self.n_features_in_:
            raise _field("feature_names_in_", "must hold one column name (str) per column.")
        if not 1 <= self.max_input_tokens_ <= max_length:
            raise _field(
                "max_input_tokens_", f"must be in [1, max_length]; got {self.max_input_tokens_}."
            )
        _check_hex(self.backbone.fingerprint, "backbone.fingerprint")
        if self.backbone.weights_sha256 is not None:
            _check_hex(self.backbone.weights_sha256, "backbone.weights_sha256")
        self.recipe_.check(spec, self.n_features_in_, len(classes))


def _field(where, message):
    return ValueError(f"config.json: field {where!r} {message}")


def _check_hex(value, where):
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise _field(where, "must be a 64-character hexadecimal SHA-256.")


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


def stored_params(params):
    """The constructor parameters as ``config.json`` stores them, and those left out.

    Parameters
    ----------
    params : dict
        ``get_params(deep=False)`` of the estimator.

    Returns
    -------
    stored : dict
    not_stored : list of str
        Names of :data:`NOT_STORED` parameters that were set (and ``random_state`` when
        it is a RandomState instance, ``label_texts`` when it is a function: neither
        has a JSON form).
    """
    stored = {k: _jsonable(v) for k, v in params.items() if k not in NOT_STORED}
    for name in _CLASS_MAPPINGS:
        if isinstance(params.get(name), dict):
            stored[name] = {
                "__pairs__": [[_jsonable(k), _jsonable(v)] for k, v in params[name].items()]
            }
    stored["backbone"] = os.fspath(params["backbone"])
    not_stored = [k for k in NOT_STORED if params.get(k) is not None]
    if callable(stored.get("label_texts")) or callable(params.get("label_texts")):
        # A function has no JSON form; the texts it gave are label_texts_.
        stored["label_texts"] = None
        not_stored.append("label_texts")
    if not (stored["random_state"] is None or isinstance(stored["random_state"], int)):
        stored["random_state"] = None
        not_stored.append("random_state")
    return stored, not_stored


def _class_mapping(stored, name, value_types):
    """The dict that :func:`stored_params` wrote as [class, value] pairs, checked."""
    where = f"params.{name}"
    pairs = check_json(stored, dict[str, list[list[Any]]], where)
    if set(pairs) != {"__pairs__"}:
        raise _field(where, "must be an object with one field, '__pairs__'.")
    mapping = {}
    for pair in pairs["__pairs__"]:
        if len(pair) != 2:
            raise _field(where, "must hold [class, value] pairs.")
        key = check_json(pair[0], str | int, where)
        value = pair[1]
        if not isinstance(value, value_types) or isinstance(value, bool):
            raise _field(where, f"must map classes to {value_types[0].__name__} values.")
        mapping[key] = value
    return mapping


def _check_params(params, estimator_class):
    """The estimator the file's constructor parameters describe, checked as it checks them."""
    expected = [n for n in estimator_class._parameter_constraints if n not in NOT_STORED]
    unknown = sorted(set(params) - set(expected))
    if unknown:
        raise _field("params", f"has unknown field(s) {unknown}; refusing the folder.")
    missing = sorted(set(expected) - set(params))
    if missing:
        raise _field("params", f"lacks field(s) {missing}.")
    params = dict(params)
    for name, value_types in _CLASS_MAPPINGS.items():
        if isinstance(params[name], dict):
            params[name] = _class_mapping(params[name], name, value_types)
    # Fields that the estimator's checks accept in more forms than a file may hold.
    narrower = {
        "backbone": str,
        "device": str,
        "trust_remote_code": bool,
        "random_state": int | None,
    }
    for name, hint in narrower.items():
        check_json(params[name], hint, f"params.{name}")
    try:
        estimator = estimator_class(**params)
        estimator._validate_params()
    except (ValueError, TypeError) as exc:  # sklearn's InvalidParameterError is a ValueError
        raise ValueError(f"config.json: {exc}") from None
    return estimator


def write_model(path, config, state):
    """Write a model folder atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The folder to write. An existing folder there is replaced only once the new
        one is complete, so a crash mid-save never leaves a half-written model.
    config : ModelConfig
    state : dict of str to torch.Tensor
        The trained parameters.

    Returns
    -------
    path : pathlib.Path
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        save_file(state, tmp / WEIGHTS_FILE, metadata={"format": FORMAT})
        with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as fh:
            json.dump(to_json(config), fh, indent=2)
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


def model_config(params, plan, net, classes, feature_names):
    """The :class:`ModelConfig` of a fitted model.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params(deep=False)``.
    plan : FitPlan
    net : LTuningNet
    classes : numpy.ndarray
    feature_names : numpy.ndarray or None
    """
    stored, not_stored = stored_params(params)
    handle = plan.backbone
    history = [
        {k: _jsonable(v) for k, v in epoch.items() if k != "batches"} for epoch in net.history
    ]
    return ModelConfig(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        params=stored,
        not_stored=not_stored,
        classes=[_jsonable(c) for c in classes],
        classes_kind="int" if np.asarray(classes).dtype.kind in "iu" else "str",
        label_texts_=list(plan.labels.texts),
        n_features_in_=plan.n_columns,
        feature_names_in_=None if feature_names is None else [str(c) for c in feature_names],
        max_input_tokens_=plan.max_input_tokens,
        recipe_=plan.recipe,
        backbone=BackboneIdentity(
            argument=stored["backbone"],
            name=handle.source.name,
            model_type=handle.shape.model_type,
            fingerprint=handle.fingerprint,
            weights_sha256=handle.weights_sha256,
        ),
        versions=_versions(),
        history=history,
    )


def _inside(folder, name):
    """The file ``name`` in ``folder``, refusing links that lead outside it."""
    target = folder / name
    if not target.is_file():
        raise ValueError(f"{folder} is not a sklearn_ltuning model folder: {name} is missing.")
    if not target.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{target} points outside the model folder {folder}; refusing to read it.")
    return target


def _upgrade(raw):
    """A version-5 config as version 6 writes it: version 5 predates the gated prefix.

    Its models read their prefix ungated, so ``prefix_gate`` is False in both the
    parameters (a refit trains what was saved) and the resolved recipe.
    """
    raw = {**raw, "format_version": 6}
    for part in ("params", "recipe_"):
        if isinstance(raw.get(part), dict):
            raw[part] = {**raw[part], "prefix_gate": raw[part].get("prefix_gate", False)}
    return raw


def _check_config(raw, folder, estimator_class):
    """config.json checked against :class:`ModelConfig` and the estimator's parameters."""
    from .methods import method_spec

    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ValueError(f"{folder} is not a sklearn_ltuning model folder (wrong format tag).")
    version = raw.get("format_version")
    if version in UPGRADABLE and not isinstance(version, bool):
        raw = _upgrade(raw)
        version = raw["format_version"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        hint = (
            "upgrade sklearn_ltuning to load it"
            if isinstance(version, int) and version > FORMAT_VERSION
            else "refit the model with this version and save it again"
        )
        raise ValueError(
            f"{folder} was written in model format version {version!r}, but this "
            f"sklearn_ltuning reads model format version {FORMAT_VERSION} only; {hint}."
        )
    config = from_json(ModelConfig, raw, "(top level)")
    estimator = _check_params(config.params, estimator_class)
    config.check(method_spec(estimator.method), estimator.max_length)
    return config, estimator


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

    ``estimator`` is unfitted, with the stored parameters and the caller's overrides
    (``backbone``, ``device``, ``trust_remote_code``); ``plan`` is its fit plan (the
    classes are ``plan.labels.names``); ``state`` the trained parameters.
    """

    estimator: object
    plan: object
    state: dict
    history: list
    feature_names: list | None


def read_model(path, estimator_class, *, device=None, backbone=None, trust_remote_code=False):
    """Read and check a model folder written by :func:`write_model`; load its backbone.

    Parameters
    ----------
    path : str or os.PathLike
    estimator_class : type
        The estimator class; its ``_parameter_constraints`` and parameter validation
        are the schema of the stored parameters.
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
        type or value, it was written in another format version, its backbone needs
        a permission the caller did not give, or the backbone found now differs
        from the one the model was trained on.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .backbones.loading import load_backbone, weights_sha256
    from .methods import method_spec

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such model folder.")
    try:
        with open(_inside(folder, CONFIG_FILE), encoding="utf-8") as fh:
            raw = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{folder}/{CONFIG_FILE} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ValueError(f"{folder}/{CONFIG_FILE} is nested too deeply to be a model.") from None
    config, estimator = _check_config(raw, folder, estimator_class)
    argument, source = _backbone_source(estimator.backbone, backbone, trust_remote_code)
    argument = os.fspath(argument)
    expected = config.backbone.weights_sha256
    # Where the weights file can be hashed without loading the model, a different
    # backbone is refused before any model class is imported.
    found = weights_sha256(source)
    if expected is not None and found is not None and found != expected:
        raise ValueError(
            f"The backbone {argument!r} found now differs from the one this model was trained "
            f"on (weights file SHA-256 {found[:12]} != {expected[:12]}); load it with the "
            "same backbone weights it was trained with (backbone=...)."
        )
    estimator.set_params(backbone=argument, trust_remote_code=bool(trust_remote_code))
    if device is not None:
        estimator.set_params(device=device)
    handle = load_backbone(
        source,
        device=estimator.device,
        trust_remote_code=bool(trust_remote_code),
        dtype=estimator.dtype,
        load_in=estimator.load_in,
    )
    if handle.fingerprint != config.backbone.fingerprint:
        raise ValueError(
            f"The backbone {argument!r} found now differs from the one this model "
            f"was trained on (fingerprint {handle.fingerprint[:12]} != "
            f"{config.backbone.fingerprint[:12]}); load it with the same backbone weights "
            "it was trained with."
        )
    try:
        state = load_file(_inside(folder, WEIGHTS_FILE), device=str(handle.device))
    except (SafetensorError, OSError) as exc:
        raise ValueError(
            f"{folder}/{WEIGHTS_FILE} is not a safetensors file: "
            + " ".join(str(exc).split())[:300]
        ) from None
    config.recipe_.check_backbone(method_spec(estimator.method), handle.shape)
    from .plan import make_plan

    kind = np.int64 if config.classes_kind == "int" else object
    plan = make_plan(
        estimator,
        method_spec(estimator.method),
        handle,
        config.recipe_,
        np.asarray(config.classes, dtype=kind),
        config.label_texts_,
        config.max_input_tokens_,
        config.n_features_in_,
    )
    return StoredModel(
        estimator=estimator,
        plan=plan,
        state=state,
        history=config.history,
        feature_names=config.feature_names_in_,
    )
