"""skorch callbacks that come with the package."""

from __future__ import annotations

import numpy as np
from skorch.callbacks import Callback
from skorch.dataset import unpack_data

__all__ = ["StepValidation", "WarmupLinearDecay", "convergence_curve"]


class StepValidation(Callback):
    """Score the validation data every ``every`` training steps, not only per epoch.

    skorch scores validation data once per epoch. Convergence comparisons (the
    L-Tuning paper's appendix figure: validation loss against training steps) need
    finer points; this callback evaluates the net's validation split (the one
    ``train_split`` makes) before the first step and after every ``every``
    training steps, and records, in the history row of that epoch,
    ``step_scores``: a list of ``{"step", "valid_loss", "valid_acc"}`` with
    ``step`` the number of training steps done so far. ``valid_loss`` is the
    K-way log-loss, the same measure skorch records per epoch.

    Evaluation runs without gradients and does not draw from the training
    random generator, so the trained parameters are the same with or without
    this callback. It costs one pass over the validation data per evaluation.

    Parameters
    ----------
    every : int, default=50
        Training steps (batches) between evaluations.
    at_start : bool, default=True
        Also evaluate before the first training step (step 0).
    keep_best : bool, default=False
        At the end of training, restore the trained parameters of the evaluation with
        the lowest validation log-loss (step 0 included), and record its step as
        ``best_step`` in the last history row: early stopping that keeps the best
        point instead of the last.
    select : {"loss", "calibrated", "accuracy"}, default="loss"
        What ``keep_best`` minimises: the validation log-loss; the log-loss after
        dividing the scores by the temperature that fits the validation part best
        (``"calibrated"``: it measures how well the scores rank the classes, not how
        confident they are, so a point that gains accuracy while growing overconfident
        is not held back by its confidence); or the error rate (ties: log-loss).
    interpolate : tuple of float, default=()
        With ``keep_best``: also score ``(1 - a) * start + a * best`` for each ``a`` (the
        parameters at step 0 and at the best evaluation, mixed in weight space, as
        WiSE-FT does) and keep whichever of these and the best scores lowest; its ``a``
        is recorded as ``best_mix`` (1.0: the best point itself).
    per_epoch : int, optional
        Evaluate this many times per epoch instead, evenly: ``every`` becomes
        ``ceil(batches per epoch / per_epoch)``, counted on the training part that
        ``train_split`` actually makes (a fraction or a predefined split alike) when
        training begins.

    Examples
    --------
    >>> from sklearn_ltuning import LTuningClassifier
    >>> from sklearn_ltuning.callbacks import StepValidation
    >>> clf = LTuningClassifier(train_split=0.2, callbacks=[StepValidation(every=20)])
    """

    def __init__(
        self,
        every=50,
        at_start=True,
        keep_best=False,
        select="loss",
        interpolate=(),
        per_epoch=None,
    ):
        self.every = every
        self.per_epoch = per_epoch
        self.at_start = at_start
        self.keep_best = keep_best
        self.select = select
        self.interpolate = interpolate

    def initialize(self):
        if not isinstance(self.every, (int, np.integer)) or isinstance(self.every, bool):
            raise TypeError(f"every must be a positive int; got {type(self.every).__name__}.")
        if self.every < 1:
            raise ValueError(f"every must be a positive int; got {self.every}.")
        if self.per_epoch is not None and (
            not isinstance(self.per_epoch, (int, np.integer))
            or isinstance(self.per_epoch, bool)
            or self.per_epoch < 1
        ):
            raise ValueError(f"per_epoch must be a positive int or None; got {self.per_epoch!r}.")
        self.every_ = self.every
        if self.select not in ("loss", "calibrated", "accuracy"):
            raise ValueError(
                f"select must be 'loss', 'calibrated' or 'accuracy'; got {self.select!r}."
            )
        self.step_ = 0
        self.dataset_valid_ = None
        self.best_ = None
        self.start_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # Steps done before (warm start, resumed checkpoint) keep counting.
        self.step_ = _training_steps(net.history)
        self.best_ = None

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.dataset_valid_ = dataset_valid
        if self.per_epoch is not None and dataset_train is not None:
            # The net's own training iterator counts the batches (its batch size, -1,
            # iterator_train__ settings); building it draws no random numbers.
            batches = len(net.get_iterator(dataset_train, training=True))
            self.every_ = max(-(-batches // self.per_epoch), 1)
        first = self.step_ == 0 or (self.keep_best and self.best_ is None)
        if dataset_valid is not None and self.at_start and first:
            self._record(net)

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        self.step_ += 1
        if self.dataset_valid_ is not None and self.step_ % self.every_ == 0:
            self._record(net)

    def _evaluate(self, net):
        """Validation log-loss, accuracy and the criterion ``keep_best`` minimises."""
        import torch

        total_loss, n, scores, targets = 0.0, 0, [], []
        for batch in net.get_iterator(self.dataset_valid_, training=False):
            _, yi = unpack_data(batch)
            step = net.validation_step(batch)
            size = len(yi)
            total_loss += float(step["loss"]) * size
            scores.append(step["y_pred"].detach().float().cpu().numpy())
            targets.append(torch.as_tensor(yi).cpu().numpy())
            n += size
        net._set_training(True)
        scores, targets = np.concatenate(scores), np.concatenate(targets)
        loss = total_loss / n
        acc = float(np.mean(scores.argmax(1) == targets))
        if self.select == "accuracy":
            criterion = (1.0 - acc, loss)
        elif self.select == "calibrated":
            weight = getattr(net.criterion_, "weight", None)
            weight = None if weight is None else weight.detach().cpu().numpy()
            criterion = (calibrated_log_loss(scores, targets, weight), loss)
        else:
            criterion = (loss,)
        return loss, acc, criterion

    def _record(self, net):
        loss, acc, criterion = self._evaluate(net)
        row = net.history[-1]
        scores = list(row.get("step_scores", []))
        point = {"step": self.step_, "valid_loss": loss, "valid_acc": acc}
        if self.select == "calibrated":
            point["valid_loss_calibrated"] = criterion[0]
        scores.append(point)
        net.history.record("step_scores", scores)
        if self.keep_best and (self.best_ is None or criterion < self.best_[1]):
            state = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
            self.best_ = (self.step_, criterion, state)
            if self.step_ == 0 and self.start_ is None:
                self.start_ = state

    def on_train_end(self, net, **kwargs):
        if not self.keep_best or self.best_ is None:
            return
        if self.dataset_valid_ is not None and self.step_ % self.every_ != 0:
            self._record(net)  # the last step counts too
        step, criterion, state = self.best_
        mix = 1.0
        if self.interpolate and self.start_ is not None and step != 0:
            for a in self.interpolate:
                net.module_.load_state_dict(_mixed(self.start_, state, a))
                mixed = self._evaluate(net)[2]
                if mixed < criterion:
                    criterion, mix = mixed, float(a)
        net.module_.load_state_dict(state if mix == 1.0 else _mixed(self.start_, state, mix))
        net.history.record("best_step", step)
        if self.interpolate:
            net.history.record("best_mix", mix)


#: Temperatures :func:`calibrated_log_loss` chooses from.
TEMPERATURES = tuple(np.geomspace(0.25, 4.0, 25))


def calibrated_log_loss(scores, targets, weight=None):
    """The log-loss of ``softmax(scores / T)`` at the temperature ``T`` that fits best.

    Parameters
    ----------
    scores : numpy.ndarray of shape (n_samples, n_classes)
    targets : numpy.ndarray of shape (n_samples,)
    weight : numpy.ndarray of shape (n_classes,), optional
        Class weights, as the training loss weighs the classes.

    Returns
    -------
    loss : float
    """
    from scipy.special import log_softmax

    rows = np.arange(len(targets))
    w = np.ones(len(targets)) if weight is None else np.asarray(weight)[targets]
    losses = [
        -(w * log_softmax(scores / t, axis=1)[rows, targets]).sum() / w.sum() for t in TEMPERATURES
    ]
    return float(min(losses))


def _mixed(start, end, a):
    """``(1 - a) * start + a * end`` for floating tensors; the end's value for the others."""
    return {k: (1 - a) * start[k] + a * v if v.is_floating_point() else v for k, v in end.items()}


def _training_steps(history):
    """Training steps (batches) recorded in a skorch history."""
    return sum(1 for row in history for batch in row["batches"] if "train_loss" in batch)


class WarmupLinearDecay(Callback):
    """Learning rate rising linearly over the first steps, then falling linearly to zero.

    The schedule BERT-style fine-tuning uses, stepped every training batch. skorch's
    ``LRScheduler`` with a ``LambdaLR`` policy counts steps from the start of each
    ``fit`` call; this callback counts them from the net's history instead, so a run
    resumed from a checkpoint (skorch's ``LoadInitState``) continues the same
    schedule and reaches the same parameters as an uninterrupted one. Each
    parameter group's rate is scaled from the rate it had when training started
    (kept as ``initial_lr``), so separate rates per group keep their ratio.

    Parameters
    ----------
    warmup : float, default=0.1
        Fraction of all training steps spent rising from near zero to the full rate.

    Notes
    -----
    The schedule spans ``net.target_epochs`` (set by the estimator to every epoch of
    the fit so far, earlier ones included) or else ``net.max_epochs``; with
    ``warm_start`` or ``partial_fit`` each call therefore ends at a rate of zero.
    """

    def __init__(self, warmup=0.1):
        self.warmup = warmup

    def initialize(self):
        if not 0 <= float(self.warmup) < 1:
            raise ValueError(f"warmup must be in [0, 1); got {self.warmup!r}.")
        self.step_ = 0
        self.total_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.step_ = _training_steps(net.history)
        self.total_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.total_ is None and dataset_train is not None:
            batch_size = net.batch_size if net.batch_size > 0 else len(dataset_train)
            per_epoch = -(-len(dataset_train) // batch_size)
            epochs = getattr(net, "target_epochs", None) or net.max_epochs
            self.total_ = max(per_epoch * int(epochs), 1)
            for group in net.optimizer_.param_groups:
                group.setdefault("initial_lr", group["lr"])

    def factor(self, step):
        """Multiplier of the initial rate at training step ``step`` (0-based)."""
        warm = max(int(self.warmup * self.total_), 1)
        if step < warm:
            return (step + 1) / warm
        return max(self.total_ - step, 0) / max(self.total_ - warm, 1)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training or self.total_ is None:
            return
        factor = self.factor(self.step_)
        for group in net.optimizer_.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.step_ += 1


def convergence_curve(history):
    """Validation log-loss and accuracy against training steps from a skorch history.

    Combines the per-epoch ``valid_loss`` / ``valid_acc`` (at the step count at the
    end of each epoch) with the finer points of :class:`StepValidation`, when present.

    Parameters
    ----------
    history : skorch.History
        ``clf.history_`` of a fitted :class:`~sklearn_ltuning.LTuningClassifier`
        that had validation data (``train_split``).

    Returns
    -------
    curve : dict of str to numpy.ndarray
        ``step``, ``valid_loss`` and ``valid_acc``, sorted by step.

    Raises
    ------
    ValueError
        If the history has no validation scores.
    """
    points = {}
    steps = 0
    for row in history:
        steps += sum(1 for batch in row["batches"] if "train_loss" in batch)
        for score in row.get("step_scores", []):
            points[score["step"]] = (score["valid_loss"], score["valid_acc"])
        if "valid_loss" in row:
            points[steps] = (row["valid_loss"], row.get("valid_acc", np.nan))
    if not points:
        raise ValueError(
            "The history has no validation scores: fit with train_split (e.g. "
            "train_split=0.2) to record valid_loss."
        )
    order = sorted(points)
    return {
        "step": np.asarray(order),
        "valid_loss": np.asarray([points[s][0] for s in order], dtype=float),
        "valid_acc": np.asarray([points[s][1] for s in order], dtype=float),
    }
