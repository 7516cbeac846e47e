"""LTuningClassifier: the scikit-learn face of L-Tuning and its prefix/prompt baselines."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state

# Private module, but the documented way for third-party estimators to declare
# _parameter_constraints (scikit-learn-contrib projects import it the same way); it
# has been stable since scikit-learn 1.2, and pyproject.toml pins scikit-learn >= 1.6.
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.validation import check_is_fitted

from .backbones.registry import DEFAULT_BACKBONE
from .inputs import check_frame_columns, check_target_type, validate_targets, validate_texts
from .labels import resolve_label_texts, resolve_labels
from .methods import METHODS, ltuning_methods, method_spec
from .options import (
    BackboneDtype,
    HeadName,
    LabelMap,
    LoadIn,
    Objective,
    PairEncoding,
    Pooling,
    Schedule,
    choices,
)
from .plan import MIN_INPUT_POSITIONS, build_plan


def _auto(hint, *extra):
    """The estimator's options for a resolved setting: its values, ``"auto"`` and extras."""
    return [StrOptions({"auto", *extra, *choices(hint)})]


class LTuningClassifier(ClassifierMixin, BaseEstimator):
    """Text classifier that tunes label-based prefixes or prompts of a frozen language model.

    L-Tuning (Kowsher et al., ICLR 2024 Tiny Papers) reads each class's label text
    through the frozen backbone and learns small maps that turn that reading into a
    label-specific prefix (``"lt_prefix"``) or prompt (``"lt_prompt"``). An input is
    scored against every label; the best label wins. The classic baselines
    ``"prefix"`` (P-Tuning v2) and ``"prompt"`` (Lester et al.) share the same
    backbone handling, pooling and training loop with a K-way head.

    Training runs in a skorch net (``net_``): its history, callbacks and
    ``train_split`` behave as in skorch.

    Parameters
    ----------
    method : {METHOD_CHOICES}, default="lt_prefix"
        How label information (or none, for the baselines) enters the backbone.
    backbone : str or os.PathLike, default="minilm-l6"
        A registered name (:func:`~sklearn_ltuning.list_backbones`), a local model
        folder, or a Hugging Face hub id. The default is the packaged
        all-MiniLM-L6-v2, loaded offline.
    prefix_length : int, default=8
        Number of virtual tokens: prefix positions per layer or prompt embeddings.
        For the L-Tuning methods it is also the label length ``l``: each label text
        is tokenized (special tokens included), padded with "." tokens or cut to
        ``prefix_length`` tokens, and every token position becomes one virtual token.
    label_texts : None, str, dict or callable, default=None
        Text read for each class. ``None``: the class name made readable
        (``"not_entailment"`` and ``"NotEntailment"`` read ``"not entailment"``). A string
        containing ``{label}`` is a template (``"The relation is {label}."``). A dict
        maps every class to its text; a callable maps a class to its text (e.g.
        ``lambda c: f"The customer asks about {c.replace('_', ' ')}."``; not stored in a
        model folder, whose ``label_texts_`` keep the texts it gave).
        Used by the L-Tuning methods; stored in ``label_texts_`` for all.
    label_map : {"pooled", "token"}, default="pooled"
        LT-prefix only. ``"pooled"``: the paper's self-attention pooling scores then a
        linear map to the per-layer prefix. ``"token"``: map each label token's
        hidden state to its prefix position directly (more parameters).
    objective : {"binary", "softmax"}, default="softmax"
        L-Tuning only. ``"softmax"``: score all labels per example, cross-entropy over
        them (K forwards per example). ``"binary"``: the paper's positive/negative
        label pairs with binary cross-entropy (one forward per example); with it,
        every ``"auto"`` below means the paper's scheme, so
        ``LTuningClassifier(objective="binary")`` is the paper's L-Tuning.
    pooling : {"auto", "mean", "cls", "last"}, default="auto"
        How positions are pooled (over the whole input, or over each text of a pair).
        ``"auto"``: ``"last"`` (the last real token) for decoders, ``"mean"`` for
        encoders.
    pair_encoding : {"auto", "joint", "cross", "separate"}, default="auto"
        How (premise, hypothesis) pairs are read; single texts are always read whole.
        ``"joint"`` (the paper): one forward over the pair, one vector pooled over
        all of it. ``"cross"``: one forward over the pair, each text pooled over its
        own positions, the head reads ``[u, v, |u - v|, u * v]``. ``"separate"``:
        each text through its own forward (the virtual tokens applied to each), the
        same four blocks. ``"auto"``: ``"separate"`` on encoders (sentence-embedding
        backbones such as MiniLM were trained on single sentences); ``"joint"`` with
        ``objective="binary"`` and on decoders.
    head : {"auto", "pair", "bilinear"}, default="auto"
        L-Tuning only (the classic methods have a K-way linear head). ``"pair"``:
        the paper's head, "does this label fit" from the input read with the label's
        virtual tokens. ``"bilinear"``: that score plus ``[f, 1]^T W e_y`` with
        ``e_y`` the label text's own frozen reading and ``W = Z + R pinv(E)^T`` (only
        the per-class residual ``R`` trained; ``Z`` a zero-shot reading on single
        texts), a label-aware linear classifier that can start from the
        frozen-feature probe and reads new label texts (:doc:`/open_labels`).
        ``"auto"``: ``"bilinear"``, or ``"pair"`` with ``objective="binary"``.
    head_init : {"auto", "probe", "default"}, default="auto"
        ``"probe"``: before training, fit a logistic regression (C chosen by
        cross-validation) on the frozen features of the training data and start the
        head there, so training starts at the frozen-embedding probe, not at chance.
        ``"default"``: the paper's zero pair head / PyTorch's default K-way head.
        ``"auto"``: ``"probe"``, except for the pair head, which has no class weights.
    prefix_gate : "auto" or bool, default="auto"
        Prefix methods (``"lt_prefix"``, ``"prefix"``) on a backbone whose prefix is a
        key/value cache read by SDPA attention: read the prefix through its own
        softmax, added to each layer's attention with a trained per-head gate that
        starts at zero (zero-initialised attention, as in LLaMA-Adapter). Training then
        starts exactly at the frozen features the probe-started head was fitted on,
        whatever the seed. ``"auto"``: on for decoders with the probe start (measured on
        SmolLM2: ``BENCHMARKS.md``, "Gated prefix"), off otherwise. Prompt methods
        (``"lt_prompt"``, ``"prompt"``) on a causal backbone with rotary positions:
        ``True`` reads the prompt's keys and values, computed on their own (a causal
        model's prompt never sees the input), as such a gated prefix; ``"auto"`` leaves
        prompts ungated. A prefix's gate trains at 10 times ``lr``
        (:data:`~sklearn_ltuning.training.GATE_LR_SCALE`; chosen on validation data), a
        prompt's at ``lr``; ``net_kwargs={"optimizer__param_groups": [("gate", {"lr":
        ...})]}`` sets its rate yourself.
    lr_schedule : {"auto", "constant", "linear"}, default="auto"
        ``"linear"``: warm up over the first 10 % of steps, then decay linearly to
        zero (:class:`~sklearn_ltuning.callbacks.WarmupLinearDecay`). ``"auto"``:
        ``"linear"``, or ``"constant"`` with ``objective="binary"``.
    early_stopping : "auto" or bool, default="auto"
        Hold out ``validation_fraction`` of the training data (or use ``train_split``
        when given), score it before the first step and every half epoch, and keep
        the parameters with the lowest validation log-loss
        (:class:`~sklearn_ltuning.callbacks.StepValidation` with ``keep_best``).
        ``"auto"``: on, except with ``objective="binary"`` or when fewer
        than 50 rows (or 5 per class) would be held out.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out for early stopping (stratified).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's linear models:
        ``"balanced"`` weights class ``c`` by ``n_samples / (n_classes * n_c)``; a
        dict maps classes to weights (missing ones weigh 1). The weights apply to the
        training loss, the validation log-loss that early stopping reads, and the
        probe start. On imbalanced data (CoLA: 70 % acceptable) the unweighted
        log-loss can keep a near-majority model; weighting trades accuracy for
        minority-class recall (``BENCHMARKS.md``, "Class weights on CoLA"). Continued
        training (``warm_start``, ``partial_fit``) keeps the weights of the first fit.
    negatives : "auto", int or None, default="auto"
        L-Tuning with ``objective="softmax"``: how many wrong labels each training input
        is scored against besides its own (a sampled softmax with the usual correction
        for the random draws), so a step costs ``negatives + 1`` readings per input
        instead of K. None: every label. ``"auto"``: every label up to 8 labels, 3 above
        (chosen on validation data; user guide, "Many labels"). The binary objective
        ignores it (one wrong label per input, as in the paper).
    hard_negatives : "auto" or int, default="auto"
        How many of the ``negatives`` are the wrong labels the frozen reading ranks
        highest for that input (the bilinear head's score on frozen features; the rest
        are drawn at random). ``"auto"``: 3 (with ``negatives="auto"``: all of them).
    shortlist : "auto", int or None, default="auto"
        L-Tuning prediction with the bilinear head: the frozen reading ranks every label
        and only the top ``shortlist`` are read with their virtual tokens. A label left
        out gets its frozen score, moved onto the full scores' scale and capped below
        the lowest shortlisted score, so ``predict_proba`` still has K columns summing to
        one and the prediction is always a shortlisted label. None, or ``shortlist >=
        K``: every label, exactly. ``"auto"``: every label up to 8 labels, 4 above.
        Applies to ``predict(X, labels=...)`` too, and may be changed after fitting.
    predict_quantization : {"int8"} or None, default=None
        ``"int8"``: predict with an int8 copy of the frozen backbone (PyTorch's dynamic
        quantization of the linear layers that read the hidden state), CPU only;
        training always uses the float backbone. May be set after fitting. Speed and
        accuracy against float: ``BENCHMARKS.md``, "int8 prediction".
    max_length : int, default=128
        Longest input in tokens; pairs are truncated longest-first. Inputs are also
        cut to the backbone's position budget minus ``prefix_length``.
    max_epochs : int, default=3
    batch_size : int, default=16
        Inputs per training step and per prediction forward (times K labels for
        the L-Tuning methods at prediction).
    lr : float, default=1e-3
        Learning rate of the optimizer (AdamW unless ``net_kwargs`` says otherwise).
        With ``objective="binary"`` (no probe start) on a decoder backbone, LT-prefix
        needs about ``3e-4`` (user guide, "Decoders"; ``BENCHMARKS.md``).
    train_split : None, float, int or callable, default=None
        ``None`` trains on all data. A float in (0, 1) or an int >= 2 holds out a
        stratified validation fraction/fold (skorch's ``ValidSplit``); any skorch
        ``train_split`` callable is passed through. With validation data the
        history records ``valid_loss`` (K-way log-loss) and ``valid_acc``.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        E.g. ``EarlyStopping``, ``Checkpoint``, ``LRScheduler``, ``ProgressBar``.
    warm_start : bool, default=False
        If True, ``fit`` on a fitted estimator continues training its parameters.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``; ``"auto"`` picks CUDA when available.
    dtype : {"float32", "bfloat16", "float16", "auto"}, default="float32"
        The frozen backbone's weights (``"auto"``: the checkpoint's own dtype). The
        trained maps and the head stay float32, and features are read as float32
        before the head, so scores are computed in float32 whatever the backbone's
        dtype. bfloat16 halves a large backbone's memory on a GPU; on CPUs without
        bfloat16 units (no AMX) it is slower than float32.
    load_in : {"8bit", "4bit"}, default=None
        Quantize the frozen backbone with bitsandbytes while loading it (a CUDA GPU and
        the ``bitsandbytes`` package are required; refused elsewhere with the fix).
    gradient_checkpointing : bool, default=False
        Recompute the backbone's layers in the backward pass instead of keeping their
        activations: less memory for a large backbone, about one more forward per step.
        The prefix and prompt paths stay exact (the prefix cache never grows).
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batch order and negative labels. The same int gives
        the same model on CPU.
    verbose : int, default=0
        0 is silent; 1 prints skorch's epoch table and batch progress bars.
    trust_remote_code : bool, default=False
        Passed to ``from_pretrained``; leave off unless you trust the model's code.
    net_kwargs : dict, default=None
        Extra settings for the skorch net, with skorch's ``__`` routing, e.g.
        ``{"optimizer__weight_decay": 0.01}`` or ``{"optimizer": torch.optim.SGD}``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted as ``numpy.unique`` sorts them, with their exact values
        (an object array for strings, so no character of a name is lost).
    label_texts_ : list of str
        The text read for each class, in ``classes_`` order.
    n_features_in_ : int
        1 for single texts, 2 for (premise, hypothesis) pairs.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame with string column names.
    net_ : LTuningNet
        The fitted skorch net; ``net_.history`` holds the training history.
    backbone_ : BackboneHandle
        The frozen backbone, shared with other estimators in this process.
    max_input_tokens_ : int
        Tokens kept per input after truncation.
    recipe_ : Recipe
        What each ``"auto"`` resolved to for this backbone and X
        (:class:`~sklearn_ltuning.plan.Recipe`: ``pooling``, ``pair_encoding``,
        ``head``, ``head_init``, ``prefix_gate``, ``lr_schedule``, ``early_stopping``, and
        ``class_weight``, the weight of each class in ``classes_`` order, or None).
    plan_ : FitPlan
        Everything the fit resolved (:class:`~sklearn_ltuning.plan.FitPlan`): method,
        recipe, label set with its frozen readings, backbone and input budget.
    n_trainable_params_ : int
        Number of trained numbers (method maps and head).

    Examples
    --------
    >>> from sklearn_ltuning import LTuningClassifier
    >>> X = [("A man plays a guitar.", "Someone makes music."),
    ...      ("A man plays a guitar.", "Nobody is playing.")] * 8
    >>> y = ["entailment", "contradiction"] * 8
    >>> clf = LTuningClassifier(max_epochs=1, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> clf.predict_proba(X[:2]).shape  # doctest: +SKIP
    (2, 2)
    """

    #: The skorch net class the fit builds (:class:`~sklearn_ltuning.training.LTuningNet`
    #: when None). A subclass of the estimator may set a subclass of it, e.g. one that
    #: mixes in ``skorch.hf.AccelerateMixin`` (user guide, "GPU and multi-GPU").
    net_class = None

    _parameter_constraints = {
        "method": [StrOptions(set(METHODS))],
        "backbone": [str, object],
        "prefix_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "label_texts": [None, str, dict, callable],
        "label_map": [StrOptions(set(choices(LabelMap)))],
        "objective": [StrOptions(set(choices(Objective)))],
        "pooling": _auto(Pooling),
        "pair_encoding": _auto(PairEncoding),
        "head": [StrOptions({"auto", *choices(HeadName)} - {"class"})],
        "head_init": [StrOptions({"auto", "probe", "default"})],
        "prefix_gate": [StrOptions({"auto"}), "boolean"],
        "lr_schedule": _auto(Schedule),
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "class_weight": [None, StrOptions({"balanced"}), dict],
        "negatives": [
            StrOptions({"auto"}),
            None,
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "hard_negatives": [
            StrOptions({"auto"}),
            Interval(numbers.Integral, 0, None, closed="left"),
        ],
        "predict_quantization": [None, StrOptions({"int8"})],
        "shortlist": [
            StrOptions({"auto"}),
            None,
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "max_length": [Interval(numbers.Integral, MIN_INPUT_POSITIONS, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "train_split": [
            None,
            Interval(numbers.Real, 0, 1, closed="neither"),
            Interval(numbers.Integral, 2, None, closed="left"),
            callable,
        ],
        "callbacks": [None, list],
        "warm_start": ["boolean"],
        "device": [str, object],
        "dtype": [StrOptions(set(choices(BackboneDtype)))],
        "load_in": [None, StrOptions(set(choices(LoadIn)))],
        "gradient_checkpointing": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "trust_remote_code": ["boolean"],
        "net_kwargs": [None, dict],
    }

    def __init__(
        self,
        *,
        method="lt_prefix",
        backbone=DEFAULT_BACKBONE,
        prefix_length=8,
        label_texts=None,
        label_map="pooled",
        objective="softmax",
        pooling="auto",
        pair_encoding="auto",
        head="auto",
        head_init="auto",
        prefix_gate="auto",
        lr_schedule="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        class_weight=None,
        negatives="auto",
        hard_negatives="auto",
        shortlist="auto",
        predict_quantization=None,
        max_length=128,
        max_epochs=3,
        batch_size=16,
        lr=1e-3,
        train_split=None,
        callbacks=None,
        warm_start=False,
        device="cpu",
        dtype="float32",
        load_in=None,
        gradient_checkpointing=False,
        random_state=None,
        verbose=0,
        trust_remote_code=False,
        net_kwargs=None,
    ):
        self.method = method
        self.backbone = backbone
        self.prefix_length = prefix_length
        self.label_texts = label_texts
        self.label_map = label_map
        self.objective = objective
        self.pooling = pooling
        self.pair_encoding = pair_encoding
        self.head = head
        self.head_init = head_init
        self.prefix_gate = prefix_gate
        self.lr_schedule = lr_schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.negatives = negatives
        self.hard_negatives = hard_negatives
        self.shortlist = shortlist
        self.predict_quantization = predict_quantization
        self.max_length = max_length
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.train_split = train_split
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.load_in = load_in
        self.gradient_checkpointing = gradient_checkpointing
        self.random_state = random_state
        self.verbose = verbose
        self.trust_remote_code = trust_remote_code
        self.net_kwargs = net_kwargs

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y):
        """Train the method's parameters and head on texts or text pairs.

        Parameters
        ----------
        X : list of (str, str), array-like of shape (n_samples, 2) or (n_samples,)
            (premise, hypothesis) pairs, or single texts.
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).

        Returns
        -------
        self : LTuningClassifier
        """
        return self._fit(X, y, epochs=None)

    def partial_fit(self, X, y, classes=None):
        """Train for one more epoch, continuing from the current parameters.

        The first call on an unfitted estimator initialises it; ``classes``, when
        given, must equal the classes found in that call's ``y``.

        Parameters
        ----------
        X : list of (str, str), array-like of shape (n_samples, 2) or (n_samples,)
        y : array-like of shape (n_samples,)
        classes : array-like, default=None
            Accepted for sklearn compatibility.

        Returns
        -------
        self : LTuningClassifier
        """
        return self._fit(X, y, epochs=1, continue_training=True, classes=classes)

    def _fit(self, X, y, *, epochs, continue_training=False, classes=None):
        from .training import Loop, fit_net, net_callbacks, train

        self._validate_params()
        check_target_type(y)
        columns, feature_names = validate_texts(X, name="X")
        y = validate_targets(y, len(columns[0]))
        loop = Loop.of(self)
        if (continue_training or self.warm_start) and hasattr(self, "net_"):
            self._check_columns(len(columns))
            y_enc = self._encode_known(y)
            # Settings changed since the last fit take effect for the continued run.
            self.net_.set_params(
                callbacks=net_callbacks(self.plan_, loop, len(y_enc)), verbose=loop.verbose
            )
            train(self.net_, self.plan_.arrays(columns), y_enc, epochs or loop.max_epochs, True)
            return self
        classes_, y_enc = np.unique(y, return_inverse=True)
        if len(classes_) < 2:
            raise ValueError(
                f"y has a single class {classes_[0]!r}; a classifier needs at least two classes."
            )
        if classes is not None and not np.array_equal(np.unique(classes), classes_):
            raise ValueError("classes must equal the classes present in y.")
        # Label texts are checked before the backbone is loaded: a typo fails fast.
        resolve_label_texts(self.label_texts, classes_)
        plan = build_plan(
            self, method_spec(self.method), self._load_backbone(), columns, classes_, y
        )
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        net = fit_net(plan, loop, plan.arrays(columns), y_enc, seed, self.net_class)
        # Only a completed fit sets fitted state, so a failed fit never leaves an
        # estimator that predicts.
        return self._set_fitted(plan, net, classes_, feature_names)

    def _set_fitted(self, plan, net, classes, feature_names):
        """Set every fitted attribute at once (after ``fit``, and by ``load``)."""
        self.classes_ = classes
        self.n_features_in_ = plan.n_columns
        if feature_names is not None:
            self.feature_names_in_ = np.asarray(feature_names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.plan_ = plan
        self.net_ = net
        return self

    def _encode_known(self, y):
        unseen = sorted({str(v) for v in y} - {str(c) for c in self.classes_})
        if unseen:
            raise ValueError(
                f"y has classes {unseen} that this fitted estimator does not know "
                f"({list(self.classes_)}); continued training needs the same classes."
            )
        return np.searchsorted(self.classes_, y)

    def _load_backbone(self):
        from .backbones.loading import load_backbone

        return load_backbone(
            self.backbone,
            device=self.device,
            trust_remote_code=self.trust_remote_code,
            dtype=self.dtype,
            load_in=self.load_in,
        )

    # --------------------------------------------------------------- prediction
    def _check_columns(self, n_columns):
        if n_columns != self.n_features_in_:
            kind = {1: "single texts", 2: "(premise, hypothesis) pairs"}
            raise ValueError(
                f"X has {n_columns} text column(s) ({kind.get(n_columns, '?')}), but this "
                f"{type(self).__name__} was fitted on {self.n_features_in_} "
                f"({kind[self.n_features_in_]}). Pass the same form as in fit."
            )

    def _labels(self, labels):
        """The label set given at predict time (None: the fitted one)."""
        check_is_fitted(self, "net_")
        if labels is None:
            return None
        if not self.plan_.method.label_conditioned:
            raise ValueError(
                "labels= at predict time is supported by the L-Tuning methods ("
                + ", ".join(f"method={m!r}" for m in ltuning_methods())
                + f") only; method={self.method!r} has a head tied to the training "
                "classes. Refit with the new classes instead."
            )
        names, texts = resolve_labels(labels, name="labels")
        return self.plan_.read_labels(names, texts)

    def _scores(self, X, labels=None):
        """K-way scores (``shortlist`` and ``predict_quantization`` read at predict time)."""
        from .training import score_texts

        check_is_fitted(self, "net_")
        columns, _ = validate_texts(X, name="X")
        self._check_columns(len(columns))
        check_frame_columns(self, X)
        return score_texts(
            self.net_, self.plan_, columns, labels, self.shortlist, self.predict_quantization
        )

    def decision_function(self, X, labels=None):
        """Label scores (logits) of each input.

        Parameters
        ----------
        X : list of (str, str), array-like of shape (n_samples, 2) or (n_samples,)
        labels : dict or list of str, default=None
            L-Tuning only: label texts that replace the fitted classes for this call
            (see :meth:`predict_proba`).

        Returns
        -------
        scores : ndarray of shape (n_samples, n_labels), or (n_samples,) for two labels
            For two labels, the score of the second minus that of the first, as
            sklearn's binary classifiers return.
        """
        scores = self._scores(X, self._labels(labels))
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict_proba(self, X, labels=None):
        """Class probabilities: a softmax over the K label scores.

        For the L-Tuning methods each score is the logit of "this label fits this
        input" from the pair head; the softmax normalises the K scores of an input
        so its row sums to one. For the classic methods it is the usual softmax of
        the K-way head.

        Parameters
        ----------
        X : list of (str, str), array-like of shape (n_samples, 2) or (n_samples,)
        labels : dict or list of str, default=None
            L-Tuning only (``lt_prefix``, ``lt_prompt``): labels that replace the
            fitted classes for this call, as ``{label: text}`` or a list of texts
            (each text is then its own label). The learned maps read the new texts
            through the frozen backbone; the fitted model is not changed. Texts are
            padded or cut to ``prefix_length`` tokens like the training labels.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_labels)
            Columns follow ``classes_``, or the order of ``labels`` when given.
        """
        scores = self._scores(X, self._labels(labels))
        return softmax(scores.astype(np.float64), copy=False)

    def predict(self, X, labels=None):
        """Predicted class of each input: the best of the K label scores.

        Parameters
        ----------
        X : list of (str, str), array-like of shape (n_samples, 2) or (n_samples,)
        labels : dict or list of str, default=None
            L-Tuning only: labels that replace the fitted classes for this call
            (see :meth:`predict_proba`); predictions are then their names.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        label_set = self._labels(labels)
        names = self.classes_ if label_set is None else label_set.names
        return names[np.argmax(self._scores(X, label_set), axis=1)]

    # -------------------------------------------------------------- persistence
    def save(self, path):
        """Write the fitted model to a folder (safetensors + JSON, atomic).

        Only the trained parameters are stored; the frozen backbone is re-resolved
        from its name or path by :meth:`load`. See :mod:`sklearn_ltuning.persistence`.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        path : pathlib.Path
        """
        from .persistence import model_config, write_model

        check_is_fitted(self, "net_")
        config = model_config(
            self.get_params(deep=False),
            self.plan_,
            self.net_,
            self.classes_,
            getattr(self, "feature_names_in_", None),
        )
        return write_model(path, config, self.net_.module_.state_dict())

    @classmethod
    def load(cls, path, *, device=None, backbone=None, trust_remote_code=False):
        """Load a model folder written by :meth:`save`. Runs no code from the folder.

        A model folder is treated as untrusted input (see the user guide's
        "Security" section): every field of its ``config.json`` is validated, it
        cannot turn on ``trust_remote_code``, and the backbone it names is used
        only if it is a registered name or a local folder without custom code.

        Parameters
        ----------
        path : str or os.PathLike
        device : str, optional
            Overrides the stored device.
        backbone : str or os.PathLike, optional
            Your own copy of the backbone (registered name, local folder or hub id)
            instead of the one the folder names; its weights must be the ones the
            model was trained with.
        trust_remote_code : bool, default=False
            Allow the backbone's own model code to run. Only the caller can allow
            it; the value stored in the folder is ignored.

        Returns
        -------
        estimator : LTuningClassifier
        """
        from .persistence import read_model
        from .training import Loop, restore_net

        stored = read_model(
            path, cls, device=device, backbone=backbone, trust_remote_code=trust_remote_code
        )
        self, plan = stored.estimator, stored.plan
        net = restore_net(plan, Loop.of(self), stored.state, stored.history, self.net_class)
        return self._set_fitted(plan, net, plan.labels.names, stored.feature_names)

    # ------------------------------------------------------------------- extras
    @property
    def history_(self):
        """The skorch history of the fitted net (one entry per epoch)."""
        check_is_fitted(self, "net_")
        return self.net_.history

    @property
    def recipe_(self):
        """What each ``"auto"`` resolved to (:class:`~sklearn_ltuning.plan.Recipe`)."""
        check_is_fitted(self, "plan_")
        return self.plan_.recipe

    @property
    def label_texts_(self):
        """The text read for each class, in ``classes_`` order (list of str)."""
        check_is_fitted(self, "plan_")
        return list(self.plan_.labels.texts)

    @property
    def backbone_(self):
        """The frozen backbone, shared with other estimators in this process."""
        check_is_fitted(self, "plan_")
        return self.plan_.backbone

    @property
    def max_input_tokens_(self):
        """Tokens kept per input after truncation."""
        check_is_fitted(self, "plan_")
        return self.plan_.max_input_tokens

    @property
    def n_trainable_params_(self):
        """Number of trained numbers (method maps and head; nothing of the backbone)."""
        check_is_fitted(self, "net_")
        return self.net_.module_.n_trainable_parameters()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.non_deterministic = self.random_state is None
        tags.classifier_tags.poor_score = True
        return tags


# The method choices in the docstring come from the registry, like the parameter check.
LTuningClassifier.__doc__ = LTuningClassifier.__doc__.replace(
    "{METHOD_CHOICES}", "{" + ", ".join(f'"{name}"' for name in METHODS) + "}"
)
