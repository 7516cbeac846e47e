"""FrozenEmbeddings: a frozen language model's features as a scikit-learn transformer.

The baseline a scikit-learn user builds first, and the one every comparison in this
package is measured against::

    make_pipeline(FrozenEmbeddings(norm="l2"), StandardScaler(), LogisticRegressionCV())

(:func:`make_frozen_probe`). The features are computed by the code the L-Tuning heads
read (:class:`~sklearn_ltuning.features.FeatureReader`); with ``norm="layer"``, the
default, they are exactly what the heads read and start from.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .backbones.registry import DEFAULT_BACKBONE
from .inputs import check_frame_columns, validate_texts
from .options import BackboneDtype, LoadIn, PairEncoding, Pooling, choices


class FrozenEmbeddings(TransformerMixin, BaseEstimator):
    """Frozen backbone features of texts or (premise, hypothesis) pairs.

    Each text is read once by the frozen backbone and its last hidden states are
    pooled into one vector. Single texts give that vector; pairs give the four
    comparison blocks ``[u, v, |u - v|, u * v]`` of the two texts' vectors (the
    features a sentence-pair classifier such as Sentence-BERT reads, and those the
    L-Tuning recipe's head starts from). Nothing is trained: ``fit`` loads the backbone
    and records the input's form.

    Parameters
    ----------
    backbone : str or os.PathLike, default="minilm-l6"
        A registered name (:func:`~sklearn_ltuning.list_backbones`), a local model
        folder, or a Hugging Face hub id. Loaded once per process and shared with
        every estimator that names it.
    pooling : {"auto", "mean", "cls", "last"}, default="auto"
        How positions are pooled. ``"auto"``: ``"last"`` (the last real token) for
        decoders, ``"mean"`` for encoders (what sentence-transformers checkpoints were
        trained for).
    pair_encoding : {"auto", "separate", "cross", "joint"}, default="auto"
        How pairs are read. ``"separate"``: each text through its own forward.
        ``"cross"``: one forward over the pair, each text pooled over its own
        positions. Both give the four blocks. ``"joint"``: one forward over the pair,
        one vector pooled over all of it. ``"auto"``: what
        :class:`~sklearn_ltuning.LTuningClassifier` reads on this backbone.
    norm : {"layer", "l2"} or None, default="layer"
        Normalisation of each pooled vector before the blocks are formed.
        ``"layer"``: centred and scaled to unit variance across its dimensions (a
        LayerNorm without parameters), the scale the L-Tuning heads read. ``"l2"``:
        unit length, as sentence-transformers' ``normalize_embeddings``. None: as
        pooled.
    max_length : int, default=128
        Longest input in tokens (pairs are truncated longest-first).
    batch_size : int, default=64
        Inputs per forward pass.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``; ``"auto"`` picks CUDA when available.
    dtype : {"float32", "bfloat16", "float16", "auto"}, default="float32"
        The backbone's weights (``"auto"``: the checkpoint's own); features are
        returned as float32 either way.
    load_in : {"8bit", "4bit"}, default=None
        Quantize the backbone with bitsandbytes while loading (CUDA only).
    trust_remote_code : bool, default=False
        Passed to ``from_pretrained``; leave off unless you trust the model's code.
    verbose : int, default=0
        1 shows a progress bar over the batches of inputs longer than one batch.

    Attributes
    ----------
    n_features_in_ : int
        1 for single texts, 2 for pairs.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame with string column names.
    backbone_ : BackboneHandle
        The frozen backbone. A pickled transformer stores only its name or path and
        loads it again when unpickled.
    pooling_, pair_encoding_ : str
        What ``"auto"`` resolved to (``pair_encoding_`` is ``"joint"`` for single texts).
    n_features_out_ : int
        Width of a feature row: ``hidden_size``, or ``4 * hidden_size`` for pairs
        read in blocks.

    See Also
    --------
    make_frozen_probe : the tuned logistic regression on these features.
    LTuningClassifier : trains label-specific prefixes on top of these features.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegressionCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_ltuning import FrozenEmbeddings
    >>> from sklearn_ltuning.datasets import load_snli_sample
    >>> X, y = load_snli_sample()
    >>> probe = make_pipeline(
    ...     FrozenEmbeddings(norm="l2"), StandardScaler(), LogisticRegressionCV()
    ... )
    >>> probe.fit(X[:200], y[:200]).score(X[200:300], y[200:300])  # doctest: +SKIP
    """

    _parameter_constraints = {
        "backbone": [str, object],
        "pooling": [StrOptions({"auto", *choices(Pooling)})],
        "pair_encoding": [StrOptions({"auto", *choices(PairEncoding)})],
        "norm": [StrOptions({"layer", "l2"}), None],
        "max_length": [Interval(numbers.Integral, 2, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "device": [str, object],
        "dtype": [StrOptions(set(choices(BackboneDtype)))],
        "load_in": [None, StrOptions(set(choices(LoadIn)))],
        "trust_remote_code": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        backbone=DEFAULT_BACKBONE,
        pooling="auto",
        pair_encoding="auto",
        norm="layer",
        max_length=128,
        batch_size=64,
        device="cpu",
        dtype="float32",
        load_in=None,
        trust_remote_code=False,
        verbose=0,
    ):
        self.backbone = backbone
        self.pooling = pooling
        self.pair_encoding = pair_encoding
        self.norm = norm
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype
        self.load_in = load_in
        self.trust_remote_code = trust_remote_code
        self.verbose = verbose

    def fit(self, X, y=None):
        """Load the backbone and record the form of ``X`` (single texts or pairs).

        Parameters
        ----------
        X : list of (str, str), array-like of shape (n_samples, 2) or (n_samples,)
            (premise, hypothesis) pairs, or single texts.
        y : None
            Ignored.

        Returns
        -------
        self : FrozenEmbeddings
        """
        from .backbones.loading import load_backbone
        from .options import auto_pair_encoding, auto_pooling

        self._validate_params()
        columns, feature_names = validate_texts(X, name="X")
        handle = load_backbone(
            self.backbone,
            device=self.device,
            trust_remote_code=self.trust_remote_code,
            dtype=self.dtype,
            load_in=self.load_in,
        )
        self.backbone_ = handle
        self.n_features_in_ = len(columns)
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.pooling_ = auto_pooling(handle.shape) if self.pooling == "auto" else self.pooling
        encoding = self.pair_encoding
        if len(columns) == 1:
            encoding = "joint"
        elif encoding == "auto":
            encoding = auto_pair_encoding(handle.shape)
        self.pair_encoding_ = encoding
        self.n_features_out_ = self._reader().n_features
        return self

    def _reader(self):
        from .features import FeatureReader

        return FeatureReader(self.backbone_, self.pooling_, self.pair_encoding_, self.norm)

    def transform(self, X):
        """Feature rows of texts or pairs, in the order given.

        Parameters
        ----------
        X : list of (str, str), array-like of shape (n_samples, 2) or (n_samples,)
            The same form as in ``fit``.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out_), float32
        """
        from .features import read_arrays
        from .inputs import pad, tokenize

        check_is_fitted(self, "backbone_")
        columns, _ = validate_texts(X, name="X")
        check_frame_columns(self, X)
        if len(columns) != self.n_features_in_:
            kind = {1: "single texts", 2: "(premise, hypothesis) pairs"}
            raise ValueError(
                f"X has {len(columns)} text column(s) ({kind[len(columns)]}), but this "
                f"FrozenEmbeddings was fitted on {self.n_features_in_} "
                f"({kind[self.n_features_in_]}). Pass the same form as in fit."
            )
        handle = self.backbone_
        encoding = tokenize(handle.tokenizer, columns, min(self.max_length, handle.position_limit))
        arrays = pad(encoding, handle.pad_token_id)
        progress = bool(self.verbose) and len(columns[0]) > self.batch_size
        return read_arrays(self._reader(), arrays, self.batch_size, progress=progress)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        ``embedding0 ..`` for one vector per input; for pairs read in blocks ``u0 ..``,
        ``v0 ..``, ``abs_diff0 ..`` and ``product0 ..`` (the four blocks of the two
        texts' vectors).

        Parameters
        ----------
        input_features : None
            Ignored (the inputs are texts).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "backbone_")
        d = self.backbone_.shape.hidden_size
        blocks = (
            ["embedding"] if self.pair_encoding_ == "joint" else ["u", "v", "abs_diff", "product"]
        )
        return np.asarray([f"{b}{i}" for b in blocks for i in range(d)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags


def make_frozen_probe(
    backbone=DEFAULT_BACKBONE, *, norm="l2", Cs=10, cv=5, scoring="accuracy", **embedding_params
):
    """The tuned frozen-embedding probe: scaled features, ``C`` by cross-validation.

    ``make_pipeline(FrozenEmbeddings(...), StandardScaler(), LogisticRegressionCV(...))``,
    what a scikit-learn user builds on frozen features, and the baseline every
    comparison in this package's benchmarks is made against (``frozen+LRCV``).

    Parameters
    ----------
    backbone : str or os.PathLike, default="minilm-l6"
    norm : {"l2", "layer"} or None, default="l2"
        :class:`FrozenEmbeddings`' normalisation of each pooled vector. Unit length, as
        sentence-transformers returns these embeddings with ``normalize_embeddings``,
        gave the strongest probe on validation data (SICK, SNLI, SST-2 and RTE, 800 to
        1,920 training examples: at or above the LayerNorm the L-Tuning heads read, by
        0.005-0.025; ``BENCHMARKS.md``, "The probe's normalisation").
    Cs : int or list of float, default=10
        ``LogisticRegressionCV``'s grid of inverse regularisation strengths.
    cv : int or cross-validation generator, default=5
        Folds of ``LogisticRegressionCV`` on the training data (stratified).
    scoring : str or callable, default="accuracy"
        How ``C`` is chosen across the folds. Also what the pipeline's ``score`` returns:
        ``LogisticRegressionCV.score`` uses it, so accuracy keeps ``score`` a classifier's
        accuracy. (scikit-learn 1.11 changes ``LogisticRegressionCV``'s own default to
        the log-loss; it is given explicitly here.)
    **embedding_params
        Further :class:`FrozenEmbeddings` parameters (``pooling``, ``max_length``, ...).

    Returns
    -------
    probe : sklearn.pipeline.Pipeline
    """
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .heads import lrcv_settings

    return make_pipeline(
        FrozenEmbeddings(backbone=backbone, norm=norm, **embedding_params),
        StandardScaler(),
        LogisticRegressionCV(Cs=Cs, cv=cv, scoring=scoring, max_iter=2000, **lrcv_settings()),
    )
