"""The skorch net of a fit plan: building it, starting its head, training and restoring it."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.utils.data import DataLoader, Subset

from .heads import fit_probe
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
    * ``objective="softmax"`` with an L-Tuning method and ``negatives=n``: each input
      is scored against its own label and ``n`` others, the ``hard_negatives`` the
      frozen reading ranks highest and the rest drawn at random (:meth:`_candidates`),
      a sampled softmax: a random negative's logit gets ``log(1 / q)``, ``q`` the
      chance that it was drawn, so the sum over the drawn ones estimates the sum over
      all the wrong labels not taken as hard (Jean et al. 2015's correction). A step
      then costs ``n + 1`` readings per input instead of K.
    * otherwise: cross-entropy over the K-way scores (the classic methods' K-way
      head, or L-Tuning scoring every label per example with a softmax).

    Parameters
    ----------
    objective : {"softmax", "binary"}, default="softmax"
    seed : int, default=0
        Seeds the generator that shuffles batches and draws negative labels (the
        estimator draws it from its ``random_state``).
    negatives : int, optional
        Softmax objective: wrong labels each input is scored against in training.
        None: all of them.
    hard_negatives : int, default=0
        How many of the ``negatives`` are the wrong labels the frozen reading ranks
        highest for that input (needs a head that ranks labels; else all are random).
    """

    def __init__(
        self, module, *args, objective="softmax", seed=0, negatives=None, hard_negatives=0,
        **kwargs,
    ):  # fmt: skip
        super().__init__(module, *args, **kwargs)
        self.objective = objective
        self.seed = seed
        self.negatives = negatives
        self.hard_negatives = hard_negatives

    #: Total number of epochs a fit should reach; set by :func:`train`. Epochs already
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

    def predict_scores(self, arrays, labels=None, shortlist=None):
        """K-way scores of padded inputs, through the same batches as validation.

        The one prediction path: skorch's dataset, :meth:`get_iterator` (dataset
        order, padding trimmed per batch by :func:`~sklearn_ltuning.inputs.collate`)
        and skorch's ``infer``, as in ``forward_iter``, plus the labels that
        ``predict(X, labels=...)`` scores instead of the fitted ones. Passing them as
        an argument (not swapping the module's buffers) keeps concurrent predictions
        with different labels independent.

        Parameters
        ----------
        arrays : dict of numpy.ndarray
            From :func:`~sklearn_ltuning.inputs.pad`; sort rows by length first so
            that each batch holds little padding.
        labels : LabelSet, optional
        shortlist : int, optional
            See :meth:`~sklearn_ltuning.methods.MethodModule.forward`.

        Returns
        -------
        scores : numpy.ndarray of shape (n_rows, n_labels), float32
        """
        extra = {} if labels is None else {"labels": labels}
        if shortlist is not None and self.module_.label_conditioned:
            extra["shortlist"] = shortlist
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

    def _candidates(self, Xi, y, n_labels):
        """Each input's own label, then its hard and its random negatives.

        Returns
        -------
        candidates : torch.LongTensor of shape (batch, 1 + negatives)
            The true label in column 0.
        correction : torch.Tensor of shape (1 + negatives,)
            Added to the candidates' logits: ``log(1 / q)`` for the random negatives.
        """
        n_hard = min(self.hard_negatives, self.negatives)
        batch = y.shape[0]
        y_cpu = y.detach().cpu()
        taken = torch.zeros(batch, n_labels, dtype=torch.bool)
        taken[torch.arange(batch), y_cpu] = True
        parts = [y_cpu[:, None]]
        frozen = None
        if n_hard:
            with torch.no_grad():
                frozen = self.module_.frozen_scores(**Xi)
        if frozen is None:
            n_hard = 0
        else:
            hard = frozen.detach().float().cpu().masked_fill(taken, -torch.inf)
            hard = hard.topk(n_hard, dim=1).indices
            taken.scatter_(1, hard, True)
            parts.append(hard)
        n_random = self.negatives - n_hard
        noise = torch.rand(batch, n_labels, generator=self.rng_).masked_fill(taken, -1.0)
        parts.append(noise.topk(n_random, dim=1).indices)
        q = n_random / (n_labels - 1 - n_hard)
        correction = torch.zeros(1 + n_hard + n_random)
        correction[1 + n_hard :] = -float(np.log(q))
        return torch.cat(parts, dim=1).to(y.device), correction.to(y.device)

    def _sampled_step(self, Xi, yi, n_labels):
        candidates, correction = self._candidates(Xi, yi, n_labels)
        scores = self.module_.score_candidates(**Xi, candidates=candidates) + correction
        losses = torch.nn.functional.cross_entropy(scores, torch.zeros_like(yi), reduction="none")
        # Weighted as CrossEntropyLoss(weight=...) weighs: by each input's class.
        class_weight = getattr(self.criterion_, "weight", None)
        if class_weight is None:
            return losses.mean(), scores
        weight = class_weight[yi]
        return (losses * weight).sum() / weight.sum(), scores

    def train_step_single(self, batch, **fit_params):
        module = self.module_
        n_labels = None if module.label_hidden is None else module.label_hidden.shape[0]
        sampled = (
            self.objective == "softmax"
            and module.label_conditioned
            and self.negatives is not None
            and self.negatives < n_labels - 1
        )
        if sampled:
            self._set_training(True)
            Xi, yi = unpack_data(batch)
            Xi, yi = to_tensor(Xi, device=self.device), to_tensor(yi, device=self.device)
            loss, scores = self._sampled_step(Xi, yi, n_labels)
            loss.backward()
            return {"loss": loss, "y_pred": scores}
        if self.objective != "binary" or not module.label_conditioned:
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


@dataclass(frozen=True, eq=False)
class Loop:
    """How the skorch loop of a fit runs: the estimator's training settings.

    Attributes mirror :class:`~sklearn_ltuning.LTuningClassifier`'s parameters of the
    same names; ``callbacks`` and ``net_kwargs`` are passed to skorch as given.
    """

    lr: float
    max_epochs: int
    batch_size: int
    validation_fraction: float
    train_split: Any = None
    callbacks: tuple = ()
    verbose: int = 0
    net_kwargs: Any = None

    @classmethod
    def of(cls, params):
        """The loop settings of an estimator (read for its parameters)."""
        return cls(
            lr=float(params.lr),
            max_epochs=int(params.max_epochs),
            batch_size=int(params.batch_size),
            validation_fraction=float(params.validation_fraction),
            train_split=params.train_split,
            callbacks=tuple(params.callbacks or ()),
            verbose=int(params.verbose),
            net_kwargs=dict(params.net_kwargs or {}),
        )


#: The gated prefix's gate learning rate, as a multiple of ``lr``. The gate starts at
#: zero and AdamW moves a parameter by about its rate per step, so at ``lr`` its largest
#: absolute value was 0.03-0.06 after 150 steps; at 10 times ``lr`` its mean absolute
#: value grew 6-7 times and the rule set beforehand adopted it on validation (SmolLM2,
#: SST-2 and SICK, 3 seeds; ``BENCHMARKS.md``, "Gated prompt and the gate's rate").
GATE_LR_SCALE = 10.0


def gate_param_groups(lr, scale=GATE_LR_SCALE):
    """skorch ``optimizer__param_groups`` that train a gated prefix's gate at ``scale * lr``.

    Parameters
    ----------
    lr : float
        The rate of every other trained parameter.
    scale : float, default=GATE_LR_SCALE

    Returns
    -------
    list of (str, dict)
    """
    return [("gate", {"lr": lr * scale})]


def net_callbacks(plan, loop, n_samples=None):
    """The user's callbacks plus those the recipe adds (schedule, early stopping, progress)."""
    from skorch.callbacks import ProgressBar

    from .callbacks import StepValidation, WarmupLinearDecay

    callbacks = list(loop.callbacks)
    if plan.recipe.lr_schedule == "linear":
        callbacks.append(("lr_schedule", WarmupLinearDecay()))
    if plan.recipe.early_stopping and n_samples is not None:
        # Every half epoch of the training part train_split makes (a predefined split
        # included) and before the first step, so the restored point can be the start
        # (the frozen-feature probe) when training only overfits.
        callbacks.append(("keep_best", StepValidation(per_epoch=2, keep_best=True)))
    if loop.verbose and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(("progress_bar", ProgressBar()))
    return callbacks or None


def build_net(plan, loop, seed, n_samples=None, net_class=None):
    """The skorch net of one fit (not yet initialised).

    Parameters
    ----------
    plan : FitPlan
    loop : Loop
    seed : int
        Batch order, negative labels and the validation split.
    n_samples : int, optional
        Rows of the fit (sizes the early-stopping interval).
    net_class : type, optional
        :class:`LTuningNet` or a subclass (the estimator's ``net_class``).

    Returns
    -------
    net : LTuningNet
    """
    from skorch.dataset import ValidSplit

    train_split = loop.train_split
    if train_split is None and plan.recipe.early_stopping:
        train_split = loop.validation_fraction
    if isinstance(train_split, numbers.Number) and not isinstance(train_split, bool):
        train_split = ValidSplit(train_split, stratified=True, random_state=seed)
    module_kwargs = {
        "module__backbone": plan.backbone,
        "module__n_classes": len(plan.labels),
        "module__prefix_length": plan.prefix_length,
        "module__pooling": plan.recipe.pooling,
        "module__pair_encoding": plan.recipe.pair_encoding,
        "module__labels": plan.labels,
        "module__gradient_checkpointing": plan.gradient_checkpointing,
        "module__shortlist": plan.shortlist,
        **{f"module__{name}": value for name, value in plan.method_options},
    }
    if plan.method.label_conditioned:
        module_kwargs["module__head"] = plan.recipe.head
    net_kwargs = dict(loop.net_kwargs)
    if plan.recipe.prefix_gate and plan.method.injects == "prefix":
        # skorch's parameter groups; a user's own optimizer__param_groups replaces them.
        # Prefix methods only, where the rate was measured: a gated prompt (asked for,
        # never "auto") keeps the rate its screen used.
        net_kwargs.setdefault("optimizer__param_groups", gate_param_groups(loop.lr))
    if plan.recipe.class_weight is not None:
        # skorch computes valid_loss with the same criterion, so early stopping reads
        # the weighted log-loss too.
        module_kwargs["criterion__weight"] = torch.tensor(
            plan.recipe.class_weight, dtype=torch.float32
        )
    device = plan.backbone.device
    return (net_class or LTuningNet)(
        module=plan.method.module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=loop.lr,
        max_epochs=loop.max_epochs,
        batch_size=loop.batch_size,
        train_split=train_split,
        callbacks=net_callbacks(plan, loop, n_samples),
        device=device.type if device.index is None else str(device),
        verbose=loop.verbose,
        objective=plan.objective,
        seed=seed,
        negatives=plan.recipe.negatives,
        hard_negatives=plan.recipe.hard_negatives,
        # Lists of within-epoch scores make the epoch table unreadable; they stay in
        # the history (plots read them there).
        callbacks__print_log__keys_ignored=["step_scores", "best_step", "best_mix"],
        **module_kwargs,
        **net_kwargs,
    )


def start_head_from_probe(net, X, y, plan):
    """Fit a logistic regression on the frozen features and start the head there.

    The features are the ones the head reads (same pooling and pair encoding), taken
    from the frozen backbone without virtual tokens, on the training part of the
    data only (the net's ``train_split`` is applied first, so validation rows stay
    unseen). A fitted model then begins at the frozen-feature probe instead of at
    chance, and training refines it.

    Parameters
    ----------
    net : LTuningNet
        Initialised.
    X : dict of numpy.ndarray
        Padded arrays from :func:`~sklearn_ltuning.inputs.pad`.
    y : numpy.ndarray of shape (n_samples,)
        Encoded classes.
    plan : FitPlan
    """
    dataset, _ = net.get_split_datasets(X, y)
    module = net.module_
    features, targets = [], []
    with torch.inference_mode():
        for Xi, yi in net.get_iterator(dataset, training=False):
            Xi = to_tensor(Xi, device=net.device)
            features.append(module.features(**Xi).float().cpu().numpy())
            targets.append(np.asarray(yi))
    features, targets = np.vstack(features), np.concatenate(targets)
    coef, intercept = fit_probe(features, targets, len(plan.labels), plan.recipe.class_weight)
    module.head.start_from_probe(coef, intercept, features, targets)


#: Inputs tokenized at a time at predict, so memory stays bounded for any n_samples.
PREDICT_CHUNK = 2048


def score_texts(net, plan, columns, labels=None, shortlist="auto", quantization=None):
    """K-way scores of texts, tokenized in chunks, each chunk sorted by length.

    Parameters
    ----------
    net : LTuningNet
    plan : FitPlan
    columns : list of list of str
        From :func:`~sklearn_ltuning.inputs.validate_texts`.
    labels : LabelSet, optional
        Labels that replace the fitted ones.
    shortlist : "auto", int or None, default="auto"
        The estimator's setting, resolved for the number of labels scored.
    quantization : {"int8"}, optional
        Read with an int8 copy of the backbone (:func:`~.backbones.loading.int8_backbone`).

    Returns
    -------
    scores : numpy.ndarray of shape (n_samples, n_labels), float32
    """
    import contextlib

    from .plan import resolve_shortlist

    n = len(columns[0])
    n_labels = len(plan.labels) if labels is None else len(labels)
    k = resolve_shortlist(shortlist, n_labels) or n_labels  # k >= K: every label
    reading = contextlib.nullcontext()
    if quantization == "int8":
        from .backbones.loading import int8_backbone

        reading = net.module_.reading_with(int8_backbone(plan.backbone))
    scores = np.empty((n, n_labels), dtype=np.float32)
    with reading:
        for start in range(0, n, PREDICT_CHUNK):
            chunk = [c[start : start + PREDICT_CHUNK] for c in columns]
            arrays, order = plan.sorted_arrays(chunk)
            scores[start + order] = net.predict_scores(arrays, labels, k)
    return scores


def train(net, arrays, y, epochs, continuing=False):
    """Train ``epochs`` more epochs (every epoch of the fit so far counts for schedules)."""
    done = len(net.history) if continuing else 0
    net.target_epochs = done + epochs
    net.partial_fit(arrays, y)
    return net


def fit_net(plan, loop, arrays, y, seed, net_class=None):
    """Build, initialise, start and train the net of a new fit.

    Parameters
    ----------
    plan : FitPlan
    loop : Loop
    arrays : dict of numpy.ndarray
    y : numpy.ndarray of shape (n_samples,)
        Encoded classes.
    seed : int
    net_class : type, optional

    Returns
    -------
    net : LTuningNet
    """
    net = build_net(plan, loop, seed, n_samples=len(y), net_class=net_class)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net.initialize()
    if plan.recipe.head_init == "probe":
        start_head_from_probe(net, arrays, y, plan)
    return train(net, arrays, y, loop.max_epochs)


def restore_net(plan, loop, state, history, net_class=None):
    """The net of a loaded model: the plan's modules holding ``state``.

    Raises
    ------
    ValueError
        When ``state`` does not hold exactly this model's parameters.
    """
    from skorch.history import History

    net = build_net(plan, loop, seed=0, net_class=net_class)
    with torch.random.fork_rng(devices=[]):
        net.initialize()
    try:
        net.module_.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            "model.safetensors does not hold this model's parameters: "
            + " ".join(str(exc).split())[:300]
        ) from None
    net.history = History(history)
    return net
