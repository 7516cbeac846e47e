"""Plots of fitted estimators (needs matplotlib: ``pip install sklearn-ltuning[plot]``).

* :func:`plot_training_curves`: train / validation loss and K-way validation
  accuracy per epoch, from the skorch history.
* :func:`plot_convergence`: validation log-loss (or accuracy) against training
  steps for several fitted estimators on one axis, the L-Tuning paper's appendix
  figure.
* :func:`label_similarity` / :func:`plot_label_similarity`: cosine similarity of
  the label-specific prefixes or prompts an L-Tuning model generates.

sklearn's :class:`~sklearn.metrics.ConfusionMatrixDisplay` works on the estimator
directly: ``ConfusionMatrixDisplay.from_estimator(clf, X_test, y_test)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .callbacks import convergence_curve
from .methods import method_spec

__all__ = [
    "label_similarity",
    "plot_convergence",
    "plot_label_similarity",
    "plot_training_curves",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install 'sklearn-ltuning[plot]' "
            "(or pip install matplotlib)."
        ) from exc
    return plt


def _axes(ax):
    if ax is None:
        _, ax = _pyplot().subplots()
    return ax


def _history(estimator):
    """The skorch history of a fitted estimator (or a history passed as is)."""
    if hasattr(estimator, "net_") or hasattr(estimator, "history_"):
        check_is_fitted(estimator, "net_")
        return estimator.history_
    if hasattr(estimator, "to_list") and hasattr(estimator, "record"):
        return estimator
    raise TypeError(
        f"Expected a fitted LTuningClassifier or a skorch History; got {type(estimator).__name__}."
    )


def plot_training_curves(estimator, ax=None):
    """Train and validation loss and validation accuracy per epoch.

    Parameters
    ----------
    estimator : LTuningClassifier or skorch.History
        A fitted estimator. Validation curves appear when it was fitted with
        ``train_split``.
    ax : matplotlib.axes.Axes, optional
        Axes for the losses; accuracy goes on a twin axis on the right.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The loss axes (``ax.acc_ax`` is the accuracy axis when there is one).

    Notes
    -----
    With the paper's binary objective ``train_loss`` is the pair BCE and
    ``valid_loss`` the K-way log-loss, so the two are on different scales; the
    legend says which is which.
    """
    history = _history(estimator)
    ax = _axes(ax)
    epochs = np.asarray(history[:, "epoch"])
    n_classes = _n_classes(estimator)
    ax.plot(epochs, history[:, "train_loss"], "o-", label="train loss")
    handles, labels = ax.get_legend_handles_labels()
    if "valid_loss" in history[-1]:
        ax.plot(epochs, history[:, "valid_loss"], "s-", label="valid K-way log-loss")
        if n_classes:
            _chance_line(ax, n_classes)
        acc = ax.twinx()
        acc.plot(epochs, history[:, "valid_acc"], "^--", color="C2", label="valid accuracy")
        acc.set_ylabel("validation accuracy")
        acc.set_ylim(0, 1)
        ax.acc_ax = acc
        handles, labels = ax.get_legend_handles_labels()
        more = acc.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    handles, labels = _with_chance(ax, handles, labels)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats)")
    ax.set_title("Training curves")
    ax.legend(handles, labels, loc="best")
    return ax


def _n_classes(estimator):
    return len(estimator.classes_) if hasattr(estimator, "classes_") else None


def _chance_line(ax, n_classes):
    """Dashed line at log K: the K-way log-loss of a model that knows nothing."""
    ax.axhline(
        np.log(n_classes),
        color="0.4",
        linestyle="--",
        linewidth=1,
        label=f"chance (log {n_classes} = {np.log(n_classes):.3f})",
    )


def _with_chance(ax, handles, labels):
    """Legend entries of ``ax`` (the chance line included) plus any from a twin axis."""
    own = ax.get_legend_handles_labels()
    extra = [(h, lab) for h, lab in zip(handles, labels, strict=True) if lab not in own[1]]
    return own[0] + [h for h, _ in extra], own[1] + [lab for _, lab in extra]


def plot_convergence(estimators, metric="valid_loss", ax=None):
    """Validation curves of several fitted estimators against training steps.

    Parameters
    ----------
    estimators : dict of str to LTuningClassifier or skorch.History
        Label of each curve to a fitted estimator (fitted with ``train_split``;
        add :class:`~sklearn_ltuning.callbacks.StepValidation` for points within
        epochs).
    metric : {"valid_loss", "valid_acc"}, default="valid_loss"
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    if metric not in ("valid_loss", "valid_acc"):
        raise ValueError(f"metric must be 'valid_loss' or 'valid_acc'; got {metric!r}.")
    if not isinstance(estimators, dict) or not estimators:
        raise TypeError("estimators must be a non-empty dict of {label: fitted estimator}.")
    ax = _axes(ax)
    for label, estimator in estimators.items():
        curve = convergence_curve(_history(estimator))
        ax.plot(curve["step"], curve[metric], "o-", ms=3, label=str(label))
    sizes = {_n_classes(e) for e in estimators.values()} - {None}
    if metric == "valid_loss" and len(sizes) == 1:
        _chance_line(ax, sizes.pop())
    ax.set_xlabel("training steps (batches)")
    ax.set_ylabel(
        "validation K-way log-loss (nats)" if metric == "valid_loss" else "validation accuracy"
    )
    ax.set_title(
        "Convergence: validation log-loss by training step"
        if metric == "valid_loss"
        else "Convergence: validation accuracy by training step"
    )
    ax.legend(loc="best")
    return ax


def label_similarity(estimator):
    """Cosine similarity between the label prefixes (or prompts) an L-Tuning model makes.

    Each label's generated virtual tokens (LT-prefix: keys/values of every layer;
    LT-prompt: prompt embeddings) are flattened into one vector.

    Parameters
    ----------
    estimator : LTuningClassifier
        Fitted with ``method="lt_prefix"`` or ``"lt_prompt"``.

    Returns
    -------
    similarity : ndarray of shape (n_classes, n_classes)
        Rows and columns follow ``estimator.classes_``.
    """
    import torch

    check_is_fitted(estimator, "net_")
    module = estimator.net_.module_
    if not module.label_conditioned:
        from .methods import ltuning_methods

        raise ValueError(
            f"method={estimator.method!r} learns one prefix/prompt shared by all classes; "
            f"label similarity needs one of the L-Tuning methods {ltuning_methods()}."
        )
    n = len(estimator.classes_)
    with torch.no_grad():
        label_idx = torch.arange(n, device=module.label_hidden.device)
        tokens = module.virtual_tokens(n, label_idx=label_idx).reshape(n, -1).float()
        tokens = torch.nn.functional.normalize(tokens, dim=1)
        return (tokens @ tokens.T).cpu().numpy()


def _text_colour(rgba):
    """Black on light cells, white on dark ones (relative luminance, WCAG weights)."""
    red, green, blue = rgba[:3]
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.45 else "white"


def plot_label_similarity(estimator, ax=None, cmap="viridis"):
    """Heatmap of :func:`label_similarity`, labelled with the class names.

    Parameters
    ----------
    estimator : LTuningClassifier
        Fitted L-Tuning estimator.
    ax : matplotlib.axes.Axes, optional
    cmap : str, default="viridis"

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    similarity = label_similarity(estimator)
    ax = _axes(ax)
    image = ax.imshow(similarity, vmin=-1, vmax=1, cmap=cmap)
    names = [str(c) for c in estimator.classes_]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(
                j,
                i,
                f"{similarity[i, j]:.2f}",
                ha="center",
                va="center",
                color=_text_colour(image.cmap(image.norm(similarity[i, j]))),
            )
    ax.figure.colorbar(image, ax=ax, label="cosine similarity")
    spec = method_spec(estimator.method)
    ax.set_title(f"Generated label {spec.injects}es ({spec.title})")
    return ax
