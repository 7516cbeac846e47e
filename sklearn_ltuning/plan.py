"""The fit plan: every setting of one fit, resolved once into typed values, and its label set.

:class:`~sklearn_ltuning.LTuningClassifier` builds one :class:`FitPlan` in ``fit`` and in
``load``; the net and module builders, prediction and persistence read it and nothing
else. The allowed values of each resolved setting are the ``Literal`` types of
:mod:`sklearn_ltuning.options`; :func:`from_json` checks a model folder against the
same types.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .methods import MethodSpec
from .options import (
    HEADS,
    HeadInit,
    HeadName,
    Objective,
    PairEncoding,
    Pooling,
    Schedule,
    auto_pair_encoding,
    auto_pooling,
)

#: Fewest held-out rows with which ``early_stopping="auto"`` turns early stopping on.
MIN_EARLY_STOPPING_ROWS = 50
#: Positions an input must keep after the prefix takes its share.
MIN_INPUT_POSITIONS = 8
#: ``negatives="auto"`` scores every label per training example up to this many labels,
#: and above it samples ``AUTO_NEGATIVES`` wrong labels per example, ``AUTO_HARD_NEGATIVES``
#: of them the frozen reading's highest. Chosen on Banking77 validation data (10 texts per
#: intent; BENCHMARKS.md, "Many labels"): 3 negatives, all hard, scored as well as 7 or 15
#: and cost the least. The switch-over is a reading count: above 8 labels a sample reads
#: at most half of them.
AUTO_EXHAUSTIVE_MAX_LABELS = 8
AUTO_NEGATIVES = 3
AUTO_HARD_NEGATIVES = 3
#: ``shortlist="auto"`` reads every label up to ``AUTO_EXHAUSTIVE_MAX_LABELS`` labels and
#: above it the frozen reading's top ``AUTO_SHORTLIST`` per input: on the same validation
#: data a shortlist of 4 predicted exactly as exhaustive scoring at 1/18 of its time.
AUTO_SHORTLIST = 4


# ------------------------------------------------------------------ JSON schema
def check_json(value, hint, where):
    """``value`` read from JSON, checked against the type ``hint`` and converted.

    Understands the types the plan's dataclasses use: ``bool``, ``int``, ``float``,
    ``str``, ``None``, ``Literal``, unions, ``tuple[X, ...]`` (a JSON list),
    ``list[X]``, ``dict[str, X]`` and dataclasses (a JSON object with exactly their
    fields). A mismatch is a ``ValueError`` naming the field.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Literal:
        # True == 1 in Python: compare types too, so a bool never passes for a str.
        if not any(value == a and type(value) is type(a) for a in args):
            raise _field_error(where, f"must be one of {list(args)}; got {value!r}.")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return check_json(value, option, where)
            except ValueError:
                continue
        raise _field_error(where, f"has the wrong type ({_describe(value)}).")
    if hint is type(None):
        if value is not None:
            raise _field_error(where, f"must be null; got {_describe(value)}.")
        return None
    if dataclasses.is_dataclass(hint):
        return from_json(hint, value, where)
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise _field_error(where, f"must be a list; got {_describe(value)}.")
        item = args[0] if args else Any
        items = [check_json(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _field_error(where, f"must be an object; got {_describe(value)}.")
        return {str(k): check_json(v, args[1], f"{where}.{k}") for k, v in value.items()}
    scalar = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[hint]
    if not isinstance(value, scalar) or (isinstance(value, bool) and hint is not bool):
        raise _field_error(where, f"must be {hint.__name__}; got {_describe(value)}.")
    if hint is float:
        if not math.isfinite(value):
            raise _field_error(where, f"must be a finite number; got {value!r}.")
        return float(value)
    return value


def from_json(cls, data, where):
    """An instance of the dataclass ``cls`` from a JSON object with exactly its fields."""
    if not isinstance(data, dict):
        raise _field_error(where, f"must be an object; got {_describe(data)}.")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise _field_error(where, f"has unknown field(s) {unknown}; refusing the folder.")
    missing = sorted(set(fields) - set(data))
    if missing:
        raise _field_error(where, f"lacks field(s) {missing}.")
    prefix = f"{where}." if where != "(top level)" else ""
    return cls(**{name: check_json(data[name], hints[name], prefix + name) for name in fields})


def to_json(value):
    """A JSON-ready copy of a plan dataclass (tuples become lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _describe(value):
    return f"{type(value).__name__} {value!r}"[:120]


def _field_error(where, message):
    return ValueError(f"config.json: field {where!r} {message}")


# ---------------------------------------------------------------------- recipe
@dataclass(frozen=True)
class Recipe:
    """What each ``"auto"`` training setting resolved to for one fit (``recipe_``).

    Attributes
    ----------
    pooling : {"mean", "cls", "last"}
    pair_encoding : {"joint", "cross", "separate"}
        Always ``"joint"`` for single texts.
    head : {"class", "pair", "bilinear"}
        ``"class"`` for the classic methods' K-way head.
    head_init : {"probe", "default"}
    prefix_gate : bool
        The prefix read through a zero-initialised gate (prefix methods only).
    lr_schedule : {"constant", "linear"}
    early_stopping : bool
    class_weight : tuple of float or None
        The weight of each class in ``classes_`` order.
    negatives : int or None
        Softmax objective: wrong labels each training input is scored against (a
        sampled softmax); None: every label.
    hard_negatives : int
        How many of them the frozen reading ranks highest (the rest are random).
    """

    pooling: Pooling
    pair_encoding: PairEncoding
    head: HeadName
    head_init: HeadInit
    lr_schedule: Schedule
    early_stopping: bool
    class_weight: tuple[float, ...] | None = None
    negatives: int | None = None
    hard_negatives: int = 0
    prefix_gate: bool = False

    @classmethod
    def resolve(cls, params, spec, shape, n_columns, classes, y):
        """Resolve the estimator's settings for this backbone and training data.

        With an L-Tuning method and ``objective="binary"`` every ``"auto"`` is the
        paper's scheme (one vector pooled over the joint pair, the pair head, a
        constant rate); otherwise the measured recipe (``BENCHMARKS.md``), on decoders
        with last-token pooling over the joint pair.

        Parameters
        ----------
        params : LTuningClassifier
            Read for its parameters (``pooling``, ``pair_encoding``, ``head``, ...).
        spec : MethodSpec
        shape : BackboneShape
        n_columns : int
            1 for single texts, 2 for pairs.
        classes : numpy.ndarray
            The fitted classes, sorted.
        y : numpy.ndarray
            The training targets (class values).

        Returns
        -------
        recipe : Recipe
        """
        # Decoders get the same recipe (last-token pooling, the joint pair): on SmolLM2
        # it ends level with the probe on the decoder's own features, where the paper's
        # scheme stays near the majority class (BENCHMARKS.md, "Decoder recipe").
        paper = spec.label_conditioned and params.objective == "binary"
        pooling = auto_pooling(shape) if params.pooling == "auto" else params.pooling
        encoding = params.pair_encoding
        if n_columns == 1:
            encoding = "joint"
        elif encoding == "auto":
            encoding = auto_pair_encoding(shape, paper)
        if not spec.label_conditioned:
            head = "class"
        elif params.head == "auto":
            head = "pair" if paper else "bilinear"
        else:
            head = params.head
        head_init = params.head_init
        if not HEADS[head].class_weights:
            head_init = "default"  # nothing for a probe to start (the paper's pair head)
        elif head_init == "auto":
            head_init = "default" if paper else "probe"
        gate = resolve_prefix_gate(params.prefix_gate, spec, shape, head_init)
        schedule = params.lr_schedule
        if schedule == "auto":
            schedule = "constant" if paper else "linear"
        stopping = params.early_stopping
        if stopping == "auto":
            # Only where the held-out part can measure something: at least
            # MIN_EARLY_STOPPING_ROWS rows, and a few per class.
            n_valid = int(params.validation_fraction * len(y))
            stopping = (
                not paper and n_valid >= MIN_EARLY_STOPPING_ROWS and n_valid >= 5 * len(classes)
            )
        negatives, hard = resolve_negatives(params, spec, head, len(classes))
        return cls(
            pooling=pooling,
            pair_encoding=encoding,
            head=head,
            head_init=head_init,
            lr_schedule=schedule,
            early_stopping=bool(stopping),
            class_weight=resolve_class_weight(params.class_weight, classes, y),
            negatives=negatives,
            hard_negatives=hard,
            prefix_gate=gate,
        )

    def check(self, spec, n_columns, n_classes, where="recipe_"):
        """Refuse a recipe that cannot belong to this method and data (a loaded one)."""
        if HEADS[self.head].label_aware != spec.label_conditioned:
            raise _field_error(f"{where}.head", f"does not fit method {spec.name!r}.")
        if n_columns == 1 and self.pair_encoding != "joint":
            raise _field_error(f"{where}.pair_encoding", "must be 'joint' for single texts.")
        if self.negatives is not None and not 1 <= self.negatives < n_classes - 1:
            raise _field_error(f"{where}.negatives", "must be null or in [1, n_classes - 2].")
        if self.prefix_gate and spec.injects not in ("prefix", "prompt"):
            raise _field_error(f"{where}.prefix_gate", f"does not fit method {spec.name!r}.")
        if not 0 <= self.hard_negatives <= (self.negatives or 0):
            raise _field_error(f"{where}.hard_negatives", "must be in [0, negatives].")
        weights = self.class_weight
        if weights is not None and (len(weights) != n_classes or min(weights) <= 0):
            raise _field_error(
                f"{where}.class_weight", "must be null or one positive number per class."
            )
        return self

    def check_backbone(self, spec, shape, where="recipe_"):
        """Refuse a loaded recipe that this backbone cannot run (a gate it cannot read).

        A folder written by :meth:`~sklearn_ltuning.LTuningClassifier.save` always
        passes; an edited one is refused at loading, not at its first prediction.
        """
        need = shape.gate_needs(spec.injects) if self.prefix_gate else None
        if need:
            raise _field_error(
                f"{where}.prefix_gate",
                f"is true, but a gated {spec.injects} needs {need}. Refit the model, or "
                "load a folder written by save() unchanged.",
            )
        return self


def resolve_prefix_gate(prefix_gate, spec, shape, head_init):
    """Whether the prefix is read through a zero-initialised gate.

    ``"auto"``: on decoders with the probe start whose attention can be gated
    (``shape.gateable``), where a prefix sharing the softmax
    with the input moved the features the head was fitted on and made the start
    depend on the seed (``BENCHMARKS.md``, "Gated prefix"); off on encoders, whose
    start it barely moves.

    Prompt methods: ``"auto"`` is off. ``True`` reads the prompt's keys and values as a
    gated prefix (:func:`~sklearn_ltuning.backbones.injection.prompt_prefix`), on causal
    models with rotary positions whose attention can be gated.
    """
    if spec.injects not in ("prefix", "prompt"):
        return False
    if prefix_gate == "auto":
        # Prompts stay ungated unless asked: the gated prompt has passed its one-seed
        # screen only, level with the ungated prompt, and its 3-seed adoption rule is
        # not applied yet (BENCHMARKS.md, "Gated prompt and the gate's rate").
        return spec.injects == "prefix" and bool(
            shape.is_decoder and head_init == "probe" and shape.gateable
        )
    need = shape.gate_needs(spec.injects)
    if prefix_gate and need:
        subject = "prefix_gate=True" + (" with a prompt method" if spec.injects == "prompt" else "")
        raise ValueError(f"{subject} needs {need}. Use prefix_gate=False or 'auto'.")
    return bool(prefix_gate)


def resolve_negatives(params, spec, head, n_classes):
    """Wrong labels per training input, and how many hard: ``(negatives, hard)``.

    Only the softmax objective of an L-Tuning method samples (the binary one draws one
    wrong label per input, as the paper does); sampling is off when it would read every
    label anyway. Hard negatives need a head that ranks labels (the bilinear head).
    """
    negatives = params.negatives
    if not spec.label_conditioned or params.objective == "binary":
        return None, 0
    if negatives == "auto":
        negatives = None if n_classes <= AUTO_EXHAUSTIVE_MAX_LABELS else AUTO_NEGATIVES
    if negatives is None or negatives >= n_classes - 1:
        return None, 0
    hard = params.hard_negatives
    if hard == "auto":
        hard = AUTO_HARD_NEGATIVES
    return int(negatives), int(min(hard, negatives)) if HEADS[head].reads_embeddings else 0


def resolve_shortlist(shortlist, n_labels):
    """Labels read with their virtual tokens per input at prediction; None: all of them."""
    if shortlist == "auto":
        shortlist = None if n_labels <= AUTO_EXHAUSTIVE_MAX_LABELS else AUTO_SHORTLIST
    return None if shortlist is None or shortlist >= n_labels else int(shortlist)


def resolve_class_weight(class_weight, classes, y):
    """Per-class loss weights in ``classes`` order, or None.

    Parameters
    ----------
    class_weight : dict, "balanced" or None
        The estimator's parameter; a dict may leave classes out (they weigh 1).
    classes : numpy.ndarray
        The fitted classes, sorted.
    y : numpy.ndarray
        The training targets (not encoded).

    Returns
    -------
    weights : tuple of float or None
    """
    if class_weight is None:
        return None
    from sklearn.utils.class_weight import compute_class_weight

    if isinstance(class_weight, dict):
        # Keys are matched as the classes print, so {"1": 2.0} (as read back from a
        # model folder's JSON) and {1: 2.0} mean the same for integer classes.
        known = {str(c) for c in classes}
        unknown = sorted(str(k) for k in class_weight if str(k) not in known)
        if unknown:
            raise ValueError(
                f"class_weight names classes {unknown} that are not in y "
                f"({[str(c) for c in classes]}); key it by the classes of y."
            )
        bad = {k: w for k, w in class_weight.items() if not _positive_number(w)}
        if bad:
            raise ValueError(f"class_weight values must be positive numbers; got {bad}.")
        by_name = {str(k): float(w) for k, w in class_weight.items()}
        return tuple(by_name.get(str(c), 1.0) for c in classes)
    weights = compute_class_weight(class_weight, classes=classes, y=np.asarray(y))
    return tuple(float(w) for w in weights)


def _positive_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and value > 0
    )


# ------------------------------------------------------------------- label set
@dataclass(frozen=True, eq=False)
class LabelSet:
    """Labels as the model reads them: names, texts and the texts' frozen readings.

    Attributes
    ----------
    names : numpy.ndarray of shape (n_labels,)
        What ``predict`` returns for each label (exact values, object dtype for str).
    texts : tuple of str
        The text read for each label.
    hidden : torch.Tensor of shape (n_labels, prefix_length, hidden_size) or None
        Last hidden states of each text padded or cut to ``prefix_length`` tokens
        (:func:`~sklearn_ltuning.labels.encode_labels`); L-Tuning methods only.
    embed : torch.Tensor of shape (n_labels, hidden_size) or None
        Unit-length mean-pooled reading of each text
        (:func:`~sklearn_ltuning.labels.embed_labels`); bilinear head only.
    """

    names: np.ndarray
    texts: tuple
    hidden: Any = None
    embed: Any = None

    def __len__(self):
        return len(self.texts)


# ------------------------------------------------------------------- fit plan
@dataclass(frozen=True, eq=False)
class FitPlan:
    """Everything one fit resolved, passed as one value.

    Attributes
    ----------
    method : MethodSpec
    recipe : Recipe
    labels : LabelSet
        The fitted classes' labels.
    backbone : BackboneHandle
    prefix_length : int
    max_input_tokens : int
        Tokens kept per input after truncation.
    n_columns : int
        1 for single texts, 2 for pairs.
    objective : {"softmax", "binary"}
    method_options : tuple of (str, object)
        The method's own module settings (``MethodSpec.module_params``), plus its
        probe-start settings when the head starts at the probe.
    gradient_checkpointing : bool
        Recompute the backbone's layers in the backward pass.
    shortlist : int or None
        Labels read with their virtual tokens per input when scoring the fitted
        labels (:func:`resolve_shortlist`); validation during training uses it too.
    """

    method: MethodSpec
    recipe: Recipe
    labels: LabelSet
    backbone: Any
    prefix_length: int
    max_input_tokens: int
    n_columns: int
    objective: Objective
    method_options: tuple = ()
    gradient_checkpointing: bool = False
    shortlist: int | None = None

    def read_labels(self, names, texts):
        """A :class:`LabelSet` of other labels, read the way the fitted ones were.

        Parameters
        ----------
        names : array-like of shape (n_labels,)
        texts : list of str

        Returns
        -------
        labels : LabelSet
        """
        return read_label_set(
            self.backbone,
            names,
            texts,
            prefix_length=self.prefix_length,
            hidden=self.method.label_conditioned,
            embed=HEADS[self.recipe.head].reads_embeddings,
        )

    def arrays(self, columns):
        """Tokenized, right-padded inputs (:func:`~sklearn_ltuning.inputs.pad`).

        Parameters
        ----------
        columns : list of list of str
            From :func:`~sklearn_ltuning.inputs.validate_texts`.
        """
        from .inputs import pad, tokenize

        encoding = tokenize(self.backbone.tokenizer, columns, self.max_input_tokens)
        return pad(encoding, self.backbone.pad_token_id)

    def sorted_arrays(self, columns):
        """Like :meth:`arrays`, rows sorted by length so each batch holds little padding.

        Returns
        -------
        arrays : dict of numpy.ndarray
        order : numpy.ndarray of int
            ``arrays`` row ``i`` is input ``order[i]``.
        """
        from .inputs import pad, tokenize

        encoding = tokenize(self.backbone.tokenizer, columns, self.max_input_tokens)
        order = np.argsort([len(ids) for ids in encoding["input_ids"]], kind="stable")
        return pad(encoding, self.backbone.pad_token_id, order), order


def read_label_set(handle, names, texts, *, prefix_length, hidden, embed):
    """Read label texts through the frozen backbone into a :class:`LabelSet`.

    Parameters
    ----------
    handle : BackboneHandle
    names : array-like of shape (n_labels,)
    texts : list of str
    prefix_length : int
    hidden, embed : bool
        Which readings the method and head need.

    Returns
    -------
    labels : LabelSet
    """
    from .labels import embed_labels, encode_labels

    # The classes keep their dtype (int64, or object for exact strings).
    names = names if isinstance(names, np.ndarray) else np.asarray(list(names), dtype=object)
    return LabelSet(
        names=names,
        texts=tuple(texts),
        hidden=encode_labels(handle, list(texts), prefix_length) if hidden else None,
        embed=embed_labels(handle, list(texts)) if embed else None,
    )


def input_budget(handle, max_length, prefix_length, backbone_name):
    """Tokens an input keeps: ``max_length``, within the backbone's positions minus the prefix.

    Raises
    ------
    ValueError
        When the prefix leaves fewer than :data:`MIN_INPUT_POSITIONS` positions.
    """
    limit = handle.position_limit
    budget = min(max_length, limit - prefix_length)
    if budget < MIN_INPUT_POSITIONS:
        raise ValueError(
            f"prefix_length={prefix_length} leaves {limit - prefix_length} "
            f"positions for the input in backbone {backbone_name!r}, which has {limit}; "
            f"at least {MIN_INPUT_POSITIONS} are needed. Use prefix_length <= "
            f"{limit - MIN_INPUT_POSITIONS}."
        )
    return budget


def method_options(spec, params, recipe):
    """The method's own module settings for this fit, as (name, value) pairs."""
    options = [(name, getattr(params, name)) for name in spec.module_params]
    if recipe.head_init == "probe":
        options += list(spec.probe_start)
    if recipe.prefix_gate:
        options.append(("prefix_gate", True))
    return tuple(options)


def build_plan(params, spec, handle, columns, classes, y):
    """The :class:`FitPlan` of a new fit.

    Parameters
    ----------
    params : LTuningClassifier
        Read for its parameters.
    spec : MethodSpec
    handle : BackboneHandle
    columns : list of list of str
    classes : numpy.ndarray
    y : numpy.ndarray

    Returns
    -------
    plan : FitPlan
    """
    from .labels import resolve_label_texts

    if spec.injects == "prefix" and handle.shape.prefix_path is None:
        raise ValueError(
            f"method={spec.name!r} needs a prefix at every layer, but backbone "
            f"{params.backbone!r} ({handle.shape.model_type}) takes no key/value cache "
            "and its layers could not be found for hooks. Use method='lt_prompt' "
            "or method='prompt' with this backbone."
        )
    texts = resolve_label_texts(params.label_texts, classes)
    budget = input_budget(handle, params.max_length, params.prefix_length, params.backbone)
    recipe = Recipe.resolve(params, spec, handle.shape, len(columns), classes, y)
    return make_plan(params, spec, handle, recipe, classes, texts, budget, len(columns))


def make_plan(params, spec, handle, recipe, classes, texts, budget, n_columns):
    """A :class:`FitPlan` from resolved parts (a new fit, or a loaded model folder)."""
    labels = read_label_set(
        handle,
        classes,
        texts,
        prefix_length=params.prefix_length,
        hidden=spec.label_conditioned,
        embed=HEADS[recipe.head].reads_embeddings,
    )
    return FitPlan(
        method=spec,
        recipe=recipe,
        labels=labels,
        backbone=handle,
        prefix_length=int(params.prefix_length),
        max_input_tokens=int(budget),
        n_columns=int(n_columns),
        objective=params.objective,
        method_options=method_options(spec, params, recipe),
        gradient_checkpointing=bool(params.gradient_checkpointing),
        shortlist=resolve_shortlist(params.shortlist, len(classes)),
    )


__all__ = [
    "FitPlan",
    "LabelSet",
    "Recipe",
    "build_plan",
    "check_json",
    "from_json",
    "make_plan",
    "read_label_set",
    "to_json",
]
