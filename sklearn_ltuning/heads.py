"""Heads: how a method's features become scores, and where they start from.

Three heads, one class each, chosen by ``recipe_.head`` through :data:`HEADS`:

* :class:`ClassHead`: the classic methods' K-way linear head.
* :class:`PairHead`: the paper's head, "does this label fit" from features read with
  the label's virtual tokens.
* :class:`BilinearHead`: the pair head plus a label-aware linear classifier that reads
  the label text's own frozen reading; it can start from the frozen-feature probe and
  reads label texts never seen in training.

Each owns its parameters, its scoring and its start from the probe
(:func:`fit_probe` fits that probe).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from .options import HEADS as FACTS

#: Inverse regularisation strengths the probe start chooses from (cross-validated).
PROBE_CS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0)
#: Probes with at most this many coefficients ((n_features + 1) x n_classes) are solved
#: by Newton's method, which reaches the optimum to the last bits: the start, and so a
#: seeded fit, is then the same whatever BLAS kernel the CPU selects. L-BFGS stops at
#: sklearn's tolerance, at a point that moves with the kernel's rounding (up to 6e-3 in
#: the coefficients of the tiny test models); it stays the solver above this size,
#: where Newton's (coefficients x coefficients) Hessian costs 6-10 times as long.
PROBE_NEWTON_MAX_COEF = 1000
#: Temperatures the zero-shot reading chooses from (cosines are in [-1, 1]).
ZERO_SHOT_TEMPERATURES = tuple(np.geomspace(1.0, 300.0, 41))


def lrcv_settings():
    """``LogisticRegressionCV`` settings whose defaults scikit-learn 1.10 changes.

    Given where the installed version has them, so every version fits the same
    multinomial L2 model without a deprecation warning.
    """
    from sklearn.linear_model import LogisticRegressionCV

    accepted = inspect.signature(LogisticRegressionCV).parameters
    wanted = {"l1_ratios": (0.0,), "use_legacy_attributes": False}
    return {k: v for k, v in wanted.items() if k in accepted}


def probe_solver(n_features, n_classes):
    """The probe's solver for this size (see :data:`PROBE_NEWTON_MAX_COEF`)."""
    n_coef = (n_features + 1) * (n_classes if n_classes > 2 else 1)
    return "newton-cholesky" if n_coef <= PROBE_NEWTON_MAX_COEF else "lbfgs"


def fit_probe(features, targets, n_classes, class_weight=None):
    """A logistic regression on frozen features, as K-way weights and biases.

    ``C`` is chosen by cross-validated log-loss: the features are LayerNorm-ed (about
    unit scale in each of up to 4d dimensions), a scale at which sklearn's default
    ``C=1`` penalises too little and starts a head overconfident.

    Parameters
    ----------
    features : numpy.ndarray of shape (n_samples, n_features)
    targets : numpy.ndarray of shape (n_samples,)
        Encoded classes ``0 .. n_classes - 1``.
    n_classes : int
    class_weight : sequence of float, optional
        Weight of each encoded class; the probe is fitted with them, so the start
        matches the weighted loss that training follows.

    Returns
    -------
    coef : numpy.ndarray of shape (n_classes, n_features), float32
    intercept : numpy.ndarray of shape (n_classes,), float32
        A class absent from ``targets`` keeps zero weights.
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    folds = int(min(3, np.bincount(targets).min())) if len(targets) else 0
    weights = None if class_weight is None else dict(enumerate(map(float, class_weight)))
    solver = probe_solver(features.shape[1], len(np.unique(targets)))
    if folds >= 2:
        probe = LogisticRegressionCV(
            Cs=PROBE_CS,
            cv=folds,
            scoring="neg_log_loss",
            solver=solver,
            max_iter=1000,
            class_weight=weights,
            **lrcv_settings(),
        ).fit(features, targets)
    else:  # too few rows per class to cross-validate
        probe = LogisticRegression(
            C=PROBE_CS[len(PROBE_CS) // 2], solver=solver, max_iter=1000, class_weight=weights
        ).fit(features, targets)
    coef, intercept = probe.coef_, probe.intercept_
    if coef.shape[0] == 1:  # sklearn's binary form: one row for the second class
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.concatenate([-intercept / 2, intercept / 2])
    full_coef = np.zeros((n_classes, coef.shape[1]), dtype=np.float32)
    full_intercept = np.zeros(n_classes, dtype=np.float32)
    full_coef[probe.classes_] = coef
    full_intercept[probe.classes_] = intercept
    return full_coef, full_intercept


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


class ClassHead(nn.Module):
    """The classic methods' K-way linear head, ``scores = W f + b``.

    Parameters
    ----------
    n_features, n_classes : int
    labels : LabelSet, optional
        Not read (the classes are positions of the head).
    zero_shot : bool, default=False
        Not read.
    """

    name = "class"
    #: Whether the head scores (input, label) pairs (L-Tuning) or all classes at once.
    label_aware = FACTS[name].label_aware

    def __init__(self, n_features, n_classes, labels=None, *, zero_shot=False):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, f, label_idx=None, labels=None):
        """Scores of shape (batch, n_classes) from features of shape (batch, n_features)."""
        return self.linear(f)

    @torch.no_grad()
    def start_from_probe(self, coef, intercept, features=None, targets=None):
        """Take the probe's weights and biases (see :func:`fit_probe`)."""
        self.linear.weight.copy_(torch.as_tensor(coef, dtype=self.linear.weight.dtype))
        self.linear.bias.copy_(torch.as_tensor(intercept, dtype=self.linear.bias.dtype))


class PairHead(nn.Module):
    """The paper's head: two logits, "this label fits / does not fit", ``o = C(M(x, p_y))``.

    ``2 F`` parameters, no bias. It starts at zero: a random head would add a random
    input-only term to every pair score, noise that the balanced binary loss shrinks
    only slowly and that drowns the (initially small) label-specific signal.
    """

    name = "pair"
    label_aware = FACTS[name].label_aware

    def __init__(self, n_features, n_classes, labels=None, *, zero_shot=False):
        super().__init__()
        self.linear = nn.Linear(n_features, 2, bias=False)
        nn.init.zeros_(self.linear.weight)

    def forward(self, f, label_idx, labels=None):
        """Scores of shape (batch,): logit of "the paired label fits" for each row.

        Parameters
        ----------
        f : torch.Tensor of shape (batch, n_features)
            Features read with each row's label's virtual tokens.
        label_idx : torch.LongTensor of shape (batch,)
            The label paired with each row.
        labels : LabelSet, optional
            Labels other than the fitted ones (``predict(X, labels=...)``).
        """
        logits = self.linear(f)
        return logits[:, 1] - logits[:, 0]

    def start_from_probe(self, coef, intercept, features=None, targets=None):
        """The pair head has no class weights: it stays at zero."""

    #: Whether :meth:`frozen_scores` can rank labels (the pair head reads no label).
    ranks_labels = FACTS[name].reads_embeddings

    def frozen_scores(self, f, labels=None):
        """Label scores from features read without virtual tokens; None: cannot rank."""
        return None


class BilinearHead(PairHead):
    """The pair head plus ``[f, 1]^T W e_y``, with ``e_y`` the label text's frozen reading.

    ``W = Z + R pinv(E)^T``: ``Z`` a fixed zero-shot map, ``E`` the fitted label texts'
    readings and ``R`` (``label_residual``, one column per fitted class) the trained
    part. Training moves only the fitted classes' residuals, so it sharpens them
    without touching how a new label text is read (``Z``, and its share of ``R``
    through ``pinv(E)``); training ``W`` itself (``F + 1`` by ``d``) let Adam move every
    direction of ``W`` at once (``BENCHMARKS.md``, open labels).

    Parameters
    ----------
    n_features, n_classes : int
    labels : LabelSet
        The fitted labels; their ``embed`` is ``E``.
    zero_shot : bool, default=True
        Read every label text zero-shot as well (``Z``: the cosine of the input's and
        the label text's frozen readings at a fitted temperature); only meaningful on
        single texts, where the features are one pooled vector. False: ``Z = 0``.
    """

    name = "bilinear"
    label_aware = FACTS[name].label_aware
    ranks_labels = FACTS[name].reads_embeddings

    def __init__(self, n_features, n_classes, labels, *, zero_shot=True):
        super().__init__(n_features, n_classes)
        self.reads_zero_shot = bool(zero_shot)
        self.label_residual = nn.Parameter(torch.zeros(n_features + 1, n_classes))
        # The zero-shot temperature t (Z = t / sqrt(d) I on the first d features); saved
        # with the weights, fitted by start_from_probe.
        self.register_buffer("zero_shot_scale", torch.zeros(()))
        self.register_buffer("label_embed", labels.embed, persistent=False)

    def forward(self, f, label_idx, labels=None):
        return super().forward(f, label_idx) + self.bilinear_scores(f, label_idx, labels)

    def _weights(self, labels=None):
        """Each label's row of ``W`` as the head reads it: (n_labels, F + 1), and ``E``."""
        weights = self.label_residual.T  # (K fitted, F + 1): R e_k for a fitted label
        if labels is None:
            return weights, self.label_embed
        # Any label text: its share of each fitted residual.
        route = labels.embed.float() @ torch.linalg.pinv(self.label_embed.float())
        return route.to(weights.dtype) @ weights, labels.embed

    def frozen_scores(self, f, labels=None):
        """The label-aware part of every label's score, ``[f, 1]^T W e_y``, at once.

        The cheap reading that ranks labels for sampled negatives and shortlisted
        prediction: one forward without virtual tokens and one small matrix product,
        against one forward per label for the full score.

        Parameters
        ----------
        f : torch.Tensor of shape (batch, n_features)
            Features read without virtual tokens.
        labels : LabelSet, optional

        Returns
        -------
        scores : torch.Tensor of shape (batch, n_labels)
        """
        weights, embed = self._weights(labels)
        fa = torch.cat([f, f.new_ones(f.shape[0], 1)], dim=1)
        scores = fa @ weights.T
        if self.reads_zero_shot:
            d = embed.shape[1]
            scores = scores + self.zero_shot_scale * (f[:, :d] @ embed.float().T) / d**0.5
        return scores

    def bilinear_scores(self, f, label_idx, labels=None):
        """The bilinear part of each score, ``[f, 1]^T W e_y``.

        Parameters
        ----------
        f : torch.Tensor of shape (batch, n_features)
        label_idx : torch.LongTensor of shape (batch,)
        labels : LabelSet, optional
            Other label texts; None: the fitted ones.

        Returns
        -------
        scores : torch.Tensor of shape (batch,)
        """
        weights, embed = self._weights(labels)
        fa = torch.cat([f, f.new_ones(f.shape[0], 1)], dim=1)
        scores = (fa * weights.index_select(0, label_idx)).sum(-1)
        if self.reads_zero_shot:
            e = embed.index_select(0, label_idx)
            d = e.shape[1]
            # LayerNorm-ed features have norm sqrt(d): f / sqrt(d) . e is a cosine.
            scores = scores + self.zero_shot_scale * (f[:, :d] * e).sum(-1) / d**0.5
        return scores

    def start_from_probe(self, coef, intercept, features=None, targets=None):
        """Start where every fitted label scores exactly as the probe does.

        With ``E`` the fitted labels' readings, ``Z`` the zero-shot map (``t / sqrt(d)``
        times the identity on the unit-variance features; ``t`` fitted on ``features``
        and ``targets`` by :func:`zero_shot_temperature`, zero when the head does not
        read zero-shot) and ``C`` the probe's weights::

            W = Z + R pinv(E)^T,   R = C - Z E^T

        so ``W e_k = c_k`` for every fitted label, while a label text's part outside the
        span of the fitted ones is read zero-shot (``W e = Z e`` for ``e`` orthogonal to
        them).
        """
        scale = 0.0
        if self.reads_zero_shot and features is not None:
            embed = self.label_embed.float().cpu().numpy()
            cosine = features @ embed.T / np.sqrt(features.shape[1])
            scale = zero_shot_temperature(cosine, targets)
        self.set_start(coef, intercept, zero_shot_scale=scale)

    @torch.no_grad()
    def set_start(self, coef, intercept, zero_shot_scale=0.0):
        """Set ``R = C - Z E^T`` for given probe weights and zero-shot temperature.

        Parameters
        ----------
        coef : array-like of shape (n_classes, n_features)
        intercept : array-like of shape (n_classes,)
        zero_shot_scale : float, default=0.0
            Ignored (taken as 0) when the head does not read zero-shot.
        """
        device = self.label_residual.device
        coef = torch.as_tensor(coef, dtype=torch.float32, device=device)
        intercept = torch.as_tensor(intercept, dtype=torch.float32, device=device)
        augmented = torch.cat([coef, intercept[:, None]], dim=1)  # (K, F + 1)
        embed = self.label_embed.float()  # (K, d)
        scale = float(zero_shot_scale) if self.reads_zero_shot else 0.0
        d = embed.shape[1]
        residual = augmented.T.clone()
        residual[:d] -= embed.T * (scale / d**0.5)  # R = C - Z E^T
        self.label_residual.copy_(residual)
        self.zero_shot_scale.fill_(scale)


#: Head name (``recipe_.head``) -> class; their facts are ``options.HEADS``.
HEADS = {head.name: head for head in (ClassHead, PairHead, BilinearHead)}
