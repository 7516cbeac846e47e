"""The skorch net: length-grouped batches, positive/negative label pairs, K-way scoring."""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.utils.data import DataLoader, Subset

from .inputs import LengthGroupedBatchSampler, collate


def _lengths(dataset):
    """Real token counts of the rows of a skorch Dataset (or a Subset of one)."""
    if isinstance(dataset, Subset):
        return _lengths(dataset.dataset)[np.asarray(dataset.indices)]
    return np.asarray(dataset.X["length"])


class LTuningNet(NeuralNetClassifier):
    """skorch classifier net for the four methods.

    The module's ``forward`` returns K-way scores, so validation loss (K-way
    cross-entropy: the log-loss of ``predict_proba``), ``valid_acc`` and every
    skorch callback see the same K-way prediction for all methods. Only the
    training step differs:

    * ``objective="binary"`` with an L-Tuning method (the paper, appendix A.3):
      each batch pairs half of its inputs with their true label (target 1) and the
      other half with a uniformly drawn wrong label (target 0); binary
      cross-entropy on the pair scores. ``train_loss`` is that BCE.
    * otherwise: cross-entropy over the K-way scores (the classic methods' K-way
      head, or L-Tuning scoring every label per example with a softmax).

    Parameters
    ----------
    objective : {"binary", "softmax"}
    seed : int, default=0
        Seeds the generator that shuffles batches and draws negative labels (the
        estimator draws it from its ``random_state``).
    """

    def __init__(self, module, *args, objective="binary", seed=0, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.objective = objective
        self.seed = seed

    #: Total number of epochs a fit should reach; set by the estimator. Epochs already
    #: in the history (e.g. loaded by skorch's LoadInitState from a checkpoint) count,
    #: so a resumed run trains only the remaining ones.
    target_epochs = None

    def initialize(self):
        super().initialize()
        self.rng_ = torch.Generator()
        self.seed_ = int(self.seed)
        self.rng_.manual_seed(self.seed_)
        return self

    def on_epoch_begin(self, *args, **kwargs):
        super().on_epoch_begin(*args, **kwargs)
        # Batch order and negative labels of epoch e depend only on (seed, e), so a
        # run resumed from a checkpoint after epoch e - 1 repeats them exactly.
        self.rng_.manual_seed(self.seed_ * 1_000_003 + len(self.history))

    def fit_loop(self, X, y=None, epochs=None, **kwargs):
        if epochs is None and self.target_epochs is not None:
            epochs = max(int(self.target_epochs) - len(self.history), 0)
        return super().fit_loop(X, y, epochs=epochs, **kwargs)

    def get_iterator(self, dataset, training=False):
        """Length-grouped, shuffled batches at training; the dataset's order otherwise.

        Validation keeps the dataset's order because skorch's cached scoring
        compares predictions with targets position by position.
        """
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        batch_size = kwargs.pop("batch_size", self.batch_size)
        if batch_size == -1:
            batch_size = len(dataset)
        taken = sorted(
            k for k in ("sampler", "batch_sampler", "collate_fn", "drop_last") if k in kwargs
        )
        if taken:
            raise ValueError(
                f"{', '.join(f'{prefix}__{k}' for k in taken)}: LTuningNet builds its own "
                "batches (length-grouped, padding trimmed per batch), so these DataLoader "
                "settings cannot apply. Remove them; batch_size and DataLoader settings "
                "such as num_workers are honoured."
            )
        kwargs.pop("shuffle", None)  # training batches are always shuffled, validation never
        if training:
            batches = LengthGroupedBatchSampler(_lengths(dataset), batch_size, self.rng_)
        else:
            n = len(dataset)
            batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
        return DataLoader(dataset, batch_sampler=batches, collate_fn=collate, **kwargs)

    def predict_scores(self, arrays, label_hidden=None, label_embed=None):
        """K-way scores of padded inputs, through the same batches as validation.

        The one prediction path: skorch's dataset, :meth:`get_iterator` (dataset
        order, padding trimmed per batch by :func:`~sklearn_ltuning.inputs.collate`)
        and skorch's ``infer``, as in ``forward_iter``, plus the label
        texts that ``predict(X, labels=...)`` scores instead of the fitted ones.
        Passing them as arguments (not swapping the module's buffers) keeps
        concurrent predictions with different labels independent.

        Parameters
        ----------
        arrays : dict of numpy.ndarray
            From :func:`~sklearn_ltuning.inputs.pad`; sort rows by length first so
            that each batch holds little padding.
        label_hidden, label_embed : torch.Tensor, optional
            See :meth:`~sklearn_ltuning.methods.MethodModule.forward`.

        Returns
        -------
        scores : numpy.ndarray of shape (n_rows, n_labels), float32
        """
        extra = {}
        if label_hidden is not None:
            extra["label_hidden"] = label_hidden
        if label_embed is not None:
            extra["label_embed"] = label_embed
        self._set_training(False)
        out = []
        with torch.inference_mode():
            for batch in self.get_iterator(self.get_dataset(arrays), training=False):
                Xi, _ = unpack_data(batch)
                out.append(self.infer(Xi, **extra).float().cpu().numpy())
        return np.concatenate(out)

    def _pair_labels(self, y):
        """Half true labels (target 1), half random wrong labels (target 0)."""
        n_labels = self.module_.label_hidden.shape[0]
        n = y.shape[0]
        order = torch.randperm(n, generator=self.rng_)
        positive = torch.zeros(n, dtype=torch.bool)
        positive[order[: (n + 1) // 2]] = True
        shift = torch.randint(1, n_labels, (n,), generator=self.rng_)
        y_cpu = y.detach().cpu()
        label_idx = torch.where(positive, y_cpu, (y_cpu + shift) % n_labels)
        return label_idx.to(y.device), positive.to(y.device, torch.float32)

    def train_step_single(self, batch, **fit_params):
        if self.objective != "binary" or not self.module_.label_conditioned:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_tensor(Xi, device=self.device)
        yi = to_tensor(yi, device=self.device)
        label_idx, target = self._pair_labels(yi)
        scores = self.module_.score_pairs(**Xi, label_idx=label_idx)
        # With class weights each pair counts as much as its input's true class.
        class_weight = getattr(self.criterion_, "weight", None)
        weight = None if class_weight is None else class_weight[yi]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(scores, target, weight=weight)
        loss.backward()
        return {"loss": loss, "y_pred": scores}


def _lrcv_settings():
    """Settings whose defaults scikit-learn 1.10 changes, where this version has them."""
    import inspect

    from sklearn.linear_model import LogisticRegressionCV

    accepted = inspect.signature(LogisticRegressionCV).parameters
    wanted = {"l1_ratios": (0.0,), "use_legacy_attributes": False}
    return {k: v for k, v in wanted.items() if k in accepted}


_LRCV_SETTINGS = _lrcv_settings()
#: Inverse regularisation strengths the probe start chooses from (cross-validated).
PROBE_CS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0)
#: Probes with at most this many coefficients ((n_features + 1) x n_classes) are solved
#: by Newton's method, which reaches the optimum to the last bits: the start, and so a
#: seeded fit, is then the same whatever BLAS kernel the CPU selects. L-BFGS stops at
#: sklearn's tolerance, at a point that moves with the kernel's rounding (up to 6e-3 in
#: the coefficients of the tiny test models); it stays the solver above this size,
#: where Newton's (coefficients x coefficients) Hessian costs 6-10 times as long.
PROBE_NEWTON_MAX_COEF = 1000


def _probe_solver(n_features, n_classes):
    """The probe's solver for this size (see :data:`PROBE_NEWTON_MAX_COEF`)."""
    n_coef = (n_features + 1) * (n_classes if n_classes > 2 else 1)
    return "newton-cholesky" if n_coef <= PROBE_NEWTON_MAX_COEF else "lbfgs"


def init_head_from_probe(net, X, y, n_classes, class_weight=None):
    """Fit a logistic regression on the frozen features and start the head there.

    The features are the ones the head reads (same pooling and pair encoding), taken
    from the frozen backbone without virtual tokens, on the training part of the
    data only (the net's ``train_split`` is applied first, so validation rows stay
    unseen). A fitted model then begins at the frozen-feature probe instead of at
    chance, and training refines it (:meth:`MethodModule.init_head_from_probe`).

    Parameters
    ----------
    net : LTuningNet
        Initialised.
    X : dict of numpy.ndarray
        Padded arrays from :func:`~sklearn_ltuning.inputs.pad`.
    y : numpy.ndarray of shape (n_samples,)
        Encoded classes ``0 .. n_classes - 1``.
    n_classes : int
    class_weight : list of float, optional
        Weight of each encoded class (``recipe_["class_weight"]``); the probe is fitted
        with them, so the start matches the weighted loss that training follows.
    """
    from sklearn.linear_model import LogisticRegressionCV

    dataset, _ = net.get_split_datasets(X, y)
    module = net.module_
    features, targets = [], []
    with torch.inference_mode():
        for Xi, yi in net.get_iterator(dataset, training=False):
            Xi = to_tensor(Xi, device=net.device)
            features.append(module.features(**Xi).float().cpu().numpy())
            targets.append(np.asarray(yi))
    features, targets = np.vstack(features), np.concatenate(targets)
    # The features are LayerNorm-ed (about unit scale in each of up to 4d dimensions), a
    # scale at which sklearn's default C=1 penalises too little and starts the head
    # overconfident; C is chosen by cross-validated log-loss on the training part.
    folds = int(min(3, np.bincount(targets).min())) if len(targets) else 0
    weights = None if class_weight is None else dict(enumerate(map(float, class_weight)))
    solver = _probe_solver(features.shape[1], len(np.unique(targets)))
    if folds >= 2:
        probe = LogisticRegressionCV(
            Cs=PROBE_CS,
            cv=folds,
            scoring="neg_log_loss",
            solver=solver,
            max_iter=1000,
            class_weight=weights,
            **_LRCV_SETTINGS,
        ).fit(features, targets)
    else:  # too few rows per class to cross-validate
        from sklearn.linear_model import LogisticRegression

        probe = LogisticRegression(
            C=PROBE_CS[len(PROBE_CS) // 2], solver=solver, max_iter=1000, class_weight=weights
        )
        probe.fit(features, targets)
    coef, intercept = probe.coef_, probe.intercept_
    if coef.shape[0] == 1:  # sklearn's binary form: one row for the second class
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.concatenate([-intercept / 2, intercept / 2])
    # A class absent from the training part keeps zero weights.
    full_coef = np.zeros((n_classes, coef.shape[1]), dtype=np.float32)
    full_intercept = np.zeros(n_classes, dtype=np.float32)
    full_coef[probe.classes_] = coef
    full_intercept[probe.classes_] = intercept
    scale = 0.0
    if module.reads_zero_shot:
        cosine = features @ module.label_embed.float().cpu().numpy().T / np.sqrt(features.shape[1])
        scale = zero_shot_temperature(cosine, targets)
    module.init_head_from_probe(full_coef, full_intercept, zero_shot_scale=scale)


#: Temperatures the zero-shot reading chooses from (cosines are in [-1, 1]).
ZERO_SHOT_TEMPERATURES = tuple(np.geomspace(1.0, 300.0, 41))


def zero_shot_temperature(cosine, targets):
    """The temperature ``t`` with the lowest training log-loss of ``softmax(t * cosine)``.

    Scales the zero-shot reading of a label text to logits comparable with the
    probe's, so a new label competes with the fitted ones on even terms.

    Parameters
    ----------
    cosine : numpy.ndarray of shape (n_samples, n_labels)
    targets : numpy.ndarray of shape (n_samples,)

    Returns
    -------
    temperature : float
    """
    from scipy.special import log_softmax

    rows = np.arange(len(targets))
    losses = [
        -log_softmax(t * cosine, axis=1)[rows, targets].mean() for t in ZERO_SHOT_TEMPERATURES
    ]
    return float(ZERO_SHOT_TEMPERATURES[int(np.argmin(losses))])
