"""The training recipe: what each ``"auto"`` setting resolves to, and the skorch net it builds.

The estimator's parameters arrive as a ``get_params()`` dict, so this module needs no
estimator import; :class:`~sklearn_ltuning.LTuningClassifier` is the only caller.
"""

from __future__ import annotations

import numbers

import numpy as np

from .methods import method_spec

#: Fewest held-out rows with which ``early_stopping="auto"`` turns early stopping on.
MIN_EARLY_STOPPING_ROWS = 50


def resolve_recipe(params, shape, n_columns, n_samples=None, n_classes=2):
    """The settings that ``"auto"`` stands for, resolved for this backbone and X.

    ``params`` is the estimator's ``get_params()``, ``shape`` the backbone's
    :class:`~sklearn_ltuning.backbones.loading.BackboneShape`; the result is the
    fitted ``recipe_``.

    With an L-Tuning method and ``objective="binary"``, and on decoders, every
    ``"auto"`` is the paper's scheme (one vector pooled over the joint pair, the pair head, a
    constant rate); otherwise the measured recipe (``BENCHMARKS.md``).
    """
    decoder = shape.is_decoder
    # The recipe is validated on encoders only; on decoders "auto" means the paper's
    # scheme, the one that passes the decoder checks (BENCHMARKS.md, decoder sections).
    ltuning = method_spec(params["method"]).label_conditioned
    paper = (ltuning and params["objective"] == "binary") or decoder
    pooling = params["pooling"] if params["pooling"] != "auto" else ("last" if decoder else "mean")
    encoding = params["pair_encoding"]
    if n_columns == 1:
        encoding = "joint"
    elif encoding == "auto":
        encoding = "joint" if paper else ("cross" if decoder else "separate")
    if not ltuning:
        head = "class"
    elif params["head"] == "auto":
        head = "pair" if paper else "bilinear"
    else:
        head = params["head"]
    head_init = params["head_init"]
    if head == "pair":
        head_init = "default"  # the pair head has no class weights to start from
    elif head_init == "auto":
        head_init = "default" if paper else "probe"
    schedule = params["lr_schedule"]
    if schedule == "auto":
        schedule = "constant" if paper else "linear"
    stopping = params["early_stopping"]
    if stopping == "auto":
        # Only where the held-out part can measure something: at least
        # MIN_EARLY_STOPPING_ROWS rows, and a few per class.
        n_valid = int(params["validation_fraction"] * (n_samples or 0))
        stopping = not paper and n_valid >= MIN_EARLY_STOPPING_ROWS and n_valid >= 5 * n_classes
    return {
        "pooling": pooling,
        "pair_encoding": encoding,
        "head": head,
        "head_init": head_init,
        "lr_schedule": schedule,
        "early_stopping": bool(stopping),
    }


def resolve_class_weight(class_weight, classes, y):
    """Per-class loss weights in ``classes`` order (``recipe_["class_weight"]``), or None.

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
    weights : list of float or None
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
        return [by_name.get(str(c), 1.0) for c in classes]
    weights = compute_class_weight(class_weight, classes=classes, y=np.asarray(y))
    return [float(w) for w in weights]


def _positive_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and value > 0
    )


def net_callbacks(params, recipe, n_samples=None):
    """The user's callbacks plus those the recipe adds (schedule, early stopping, progress)."""
    from skorch.callbacks import ProgressBar

    from .callbacks import StepValidation, WarmupLinearDecay

    callbacks = list(params["callbacks"] or [])
    if recipe["lr_schedule"] == "linear":
        callbacks.append(("lr_schedule", WarmupLinearDecay()))
    if recipe.get("early_stopping") and n_samples is not None:
        # Every half epoch and before the first step, so the restored point can be
        # the start (the frozen-feature probe) when training only overfits.
        n_train = n_samples
        if params["train_split"] is None:
            n_train -= int(np.ceil(params["validation_fraction"] * n_samples))
        every = max(-(-n_train // (2 * params["batch_size"])), 1)
        callbacks.append(("keep_best", StepValidation(every=every, keep_best=True)))
    if params["verbose"] and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(("progress_bar", ProgressBar()))
    return callbacks or None


def build_net(
    params,
    handle,
    n_classes,
    recipe,
    label_hidden,
    label_embed,
    seed,
    n_samples=None,
    net_class=None,
):
    """The skorch net of one fit (not yet initialised).

    Parameters
    ----------
    params : dict
        The estimator's ``get_params()``.
    handle : BackboneHandle
    n_classes : int
    recipe : dict
        From :func:`resolve_recipe`.
    label_hidden, label_embed : torch.Tensor or None
        The label texts' readings (L-Tuning methods, bilinear head).
    seed : int
        Batch order, negative labels and the validation split.
    n_samples : int, optional
        Rows of the fit (sizes the early-stopping interval).
    net_class : type, optional
        :class:`~sklearn_ltuning.training.LTuningNet` or a subclass of it.

    Returns
    -------
    net : LTuningNet
    """
    import torch
    from skorch.dataset import ValidSplit

    from .training import LTuningNet

    train_split = params["train_split"]
    if train_split is None and recipe.get("early_stopping"):
        train_split = params["validation_fraction"]
    if isinstance(train_split, numbers.Number) and not isinstance(train_split, bool):
        train_split = ValidSplit(train_split, stratified=True, random_state=seed)
    module_kwargs = {
        "module__backbone": handle,
        "module__n_classes": n_classes,
        "module__prefix_length": params["prefix_length"],
        "module__pooling": recipe["pooling"],
        "module__pair_encoding": recipe["pair_encoding"],
        "module__label_hidden": label_hidden,
    }
    spec = method_spec(params["method"])
    if spec.label_conditioned:
        module_kwargs["module__head"] = recipe["head"]
        module_kwargs["module__label_embed"] = label_embed
    for name in spec.module_params:
        module_kwargs[f"module__{name}"] = params[name]
    if recipe["head_init"] == "probe":
        module_kwargs.update({f"module__{k}": v for k, v in spec.probe_start})
    criterion_kwargs = {}
    if recipe.get("class_weight") is not None:
        # skorch computes valid_loss with the same criterion, so early stopping reads
        # the weighted log-loss too.
        criterion_kwargs["criterion__weight"] = torch.tensor(
            recipe["class_weight"], dtype=torch.float32
        )
    kwargs = {
        "module": spec.module,
        "criterion": torch.nn.CrossEntropyLoss,
        "optimizer": torch.optim.AdamW,
        "lr": params["lr"],
        "max_epochs": params["max_epochs"],
        "batch_size": params["batch_size"],
        "train_split": train_split,
        "callbacks": net_callbacks(params, recipe, n_samples),
        "device": handle.device.type if handle.device.index is None else str(handle.device),
        "verbose": int(params["verbose"]),
        "objective": params["objective"],
        "seed": seed,
        # Lists of within-epoch scores make the epoch table unreadable; they stay in
        # the history (plots read them there).
        "callbacks__print_log__keys_ignored": ["step_scores", "best_step"],
        **module_kwargs,
        **criterion_kwargs,
        **(params["net_kwargs"] or {}),
    }
    return (net_class or LTuningNet)(**kwargs)
