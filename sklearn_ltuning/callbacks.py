"""skorch callbacks that come with the package."""

from __future__ import annotations

import numpy as np
from skorch.callbacks import Callback
from skorch.dataset import unpack_data

__all__ = ["StepValidation", "convergence_curve"]


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

    Examples
    --------
    >>> from sklearn_ltuning import LTuningClassifier
    >>> from sklearn_ltuning.callbacks import StepValidation
    >>> clf = LTuningClassifier(train_split=0.2, callbacks=[StepValidation(every=20)])
    """

    def __init__(self, every=50, at_start=True):
        self.every = every
        self.at_start = at_start

    def initialize(self):
        if not isinstance(self.every, (int, np.integer)) or isinstance(self.every, bool):
            raise TypeError(f"every must be a positive int; got {type(self.every).__name__}.")
        if self.every < 1:
            raise ValueError(f"every must be a positive int; got {self.every}.")
        self.step_ = 0
        self.dataset_valid_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # Steps done before (warm start, resumed checkpoint) keep counting.
        self.step_ = sum(
            1 for row in net.history for batch in row["batches"] if "train_loss" in batch
        )

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.dataset_valid_ = dataset_valid
        if dataset_valid is not None and self.at_start and self.step_ == 0:
            self._record(net)

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        self.step_ += 1
        if self.dataset_valid_ is not None and self.step_ % self.every == 0:
            self._record(net)

    def _record(self, net):
        import torch

        total_loss, correct, n = 0.0, 0, 0
        for batch in net.get_iterator(self.dataset_valid_, training=False):
            _, yi = unpack_data(batch)
            step = net.validation_step(batch)
            size = len(yi)
            total_loss += float(step["loss"]) * size
            pred = step["y_pred"].argmax(-1).cpu()
            correct += int((pred == torch.as_tensor(yi).cpu()).sum())
            n += size
        net._set_training(True)
        row = net.history[-1]
        scores = list(row.get("step_scores", []))
        scores.append({"step": self.step_, "valid_loss": total_loss / n, "valid_acc": correct / n})
        net.history.record("step_scores", scores)


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
