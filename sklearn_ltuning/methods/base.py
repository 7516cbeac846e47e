"""What the four methods share: the frozen backbone, the feature reader, one head, K-way scoring."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..features import FeatureReader
from ..heads import HEADS


class MethodModule(nn.Module):
    """Base of the four methods: virtual tokens + frozen backbone features + one head.

    A subclass only says how its virtual tokens are made (:meth:`virtual_tokens`)
    and whether they enter as a per-layer prefix or as an input prompt
    (``injects``). Label-conditioned subclasses (L-Tuning) score an (input, label)
    pair with a label-aware head; the classic ones score all K classes at once with
    the K-way head.

    Parameters
    ----------
    backbone : BackboneHandle
        The frozen, shared backbone. Kept as a plain attribute, not a submodule, so
        it is never in ``state_dict()`` nor given to the optimizer.
    n_classes : int
    prefix_length : int
        Number of virtual tokens (prefix positions or prompt embeddings).
    pooling : {"mean", "cls", "last"}
        How positions are pooled: over the whole input, or over each text of a pair.
    labels : LabelSet, optional
        The fitted classes' labels with their frozen readings (L-Tuning only).
    pair_encoding : {"joint", "cross", "separate"}, default="joint"
        See :class:`~sklearn_ltuning.features.FeatureReader`.
    head : {"pair", "bilinear"}, default="pair"
        Label-conditioned methods only (the classic methods always have the K-way
        ``"class"`` head): a name in :data:`~sklearn_ltuning.heads.HEADS`.
    zero_shot : bool, default=True
        Bilinear head on single texts only: read every label text zero-shot as well
        (:class:`~sklearn_ltuning.heads.BilinearHead`).
    gradient_checkpointing : bool, default=False
        Recompute the backbone's layers in the backward pass instead of keeping their
        activations: less memory for a large backbone, one more forward per step.
    shortlist : int, optional
        L-Tuning with a head that ranks labels: score only the ``shortlist`` labels the
        frozen reading ranks highest for each input (:meth:`forward`). None: every label.
    prefix_gate : bool, default=False
        Prefix methods on a backbone with a cache prefix and SDPA attention: read the
        prefix through its own softmax, added with a trained per-layer, per-head gate
        that starts at zero (:func:`~sklearn_ltuning.backbones.injection.run_backbone`),
        so the first forward reads exactly the frozen features. Set from the
        estimator's ``prefix_gate`` (:class:`~sklearn_ltuning.plan.Recipe`).
    """

    #: Whether virtual tokens depend on the label (L-Tuning) or are shared (classic).
    label_conditioned = False
    #: ``"prefix"`` (keys/values at every layer) or ``"prompt"`` (input embeddings).
    injects = "prefix"

    def __init__(
        self,
        backbone,
        n_classes,
        prefix_length,
        pooling="mean",
        labels=None,
        *,
        pair_encoding="joint",
        head="pair",
        zero_shot=True,
        gradient_checkpointing=False,
        shortlist=None,
        prefix_gate=False,
    ):
        super().__init__()
        self.shortlist = shortlist
        self.backbone = backbone
        self.n_classes = int(n_classes)
        self.prefix_length = int(prefix_length)
        self.reader = FeatureReader(
            backbone, pooling, pair_encoding, checkpoint=gradient_checkpointing
        )
        head_class = HEADS[head if self.label_conditioned else "class"]
        self.head = head_class(
            self.reader.n_features,
            self.n_classes,
            labels,
            zero_shot=zero_shot and pair_encoding == "joint",
        )
        self.gate = None
        if prefix_gate and self.injects in ("prefix", "prompt"):
            shape = backbone.shape
            self.gate = nn.Parameter(torch.zeros(shape.n_layers, shape.n_heads))
        hidden = None if labels is None else labels.hidden
        if hidden is not None:
            self.register_buffer("label_hidden", hidden, persistent=False)
        else:
            self.label_hidden = None

    # -- what subclasses define ------------------------------------------------
    def virtual_tokens(self, batch_size, label_idx=None, labels=None):
        """Return the prefix or prompt for a batch.

        Parameters
        ----------
        batch_size : int
        label_idx : torch.LongTensor of shape (batch,), optional
            The label of each row (L-Tuning).
        labels : LabelSet, optional
            Labels other than the fitted ones (their ``hidden`` is read).

        Returns
        -------
        tokens : torch.Tensor
            ``injects == "prefix"``: shape (batch, prefix_length, n_layers, width),
            ``width`` from :func:`~sklearn_ltuning.backbones.injection.prefix_width`.
            ``injects == "prompt"``: shape (batch, prefix_length, hidden_size).
        """
        raise NotImplementedError

    # -- shared machinery ------------------------------------------------------
    @contextlib.contextmanager
    def reading_with(self, backbone):
        """Read inputs with another copy of the same backbone inside this block.

        For prediction with an int8 copy (:func:`~sklearn_ltuning.backbones.loading.int8_backbone`):
        the trained maps and head are shared, only the frozen model differs.
        """
        before = self.backbone, self.reader.backbone
        self.backbone = self.reader.backbone = backbone
        try:
            yield self
        finally:
            self.backbone, self.reader.backbone = before

    @property
    def n_features(self):
        """Width of the features the head reads."""
        return self.reader.n_features

    def features(self, input_ids, attention_mask, token_type_ids=None, segment_ids=None):
        """The frozen backbone's features without virtual tokens (what the probe reads).

        Returns
        -------
        features : torch.Tensor of shape (batch, n_features)
        """
        return self.reader(input_ids, attention_mask, token_type_ids, segment_ids)

    def encode(
        self,
        input_ids,
        attention_mask,
        token_type_ids=None,
        segment_ids=None,
        *,
        label_idx=None,
        labels=None,
    ):
        """Features of the input read with the method's virtual tokens.

        Returns
        -------
        features : torch.Tensor of shape (batch, n_features)
        """
        tokens = self.virtual_tokens(input_ids.shape[0], label_idx, labels)
        return self.reader(
            input_ids,
            attention_mask,
            token_type_ids,
            segment_ids,
            injects=self.injects,
            tokens=tokens,
            gate=self.gate,
        )

    def score_pairs(
        self,
        input_ids,
        attention_mask,
        token_type_ids=None,
        segment_ids=None,
        *,
        label_idx,
        labels=None,
    ):
        """Score each input against one label (L-Tuning's o = C(M(x, p_y))).

        Parameters
        ----------
        label_idx : torch.LongTensor of shape (batch,)
            The label paired with each row.
        labels : LabelSet, optional
            Labels other than the fitted ones.

        Returns
        -------
        scores : torch.Tensor of shape (batch,)
            Logits of "this label fits this input".
        """
        f = self.encode(
            input_ids,
            attention_mask,
            token_type_ids,
            segment_ids,
            label_idx=label_idx,
            labels=labels,
        )
        return self.head(f, label_idx, labels)

    def frozen_scores(
        self, input_ids, attention_mask, token_type_ids=None, segment_ids=None, labels=None
    ):
        """Every label's score from the frozen features, for ranking labels.

        Returns
        -------
        scores : torch.Tensor of shape (batch, n_labels), or None
            None when the head cannot rank labels without virtual tokens (the paper's
            pair head reads no label).
        """
        if not self.head.ranks_labels:
            return None
        f = self.features(input_ids, attention_mask, token_type_ids, segment_ids)
        return self.head.frozen_scores(f, labels)

    def score_candidates(
        self, input_ids, attention_mask, token_type_ids=None, segment_ids=None, *,
        candidates, labels=None,
    ):  # fmt: skip
        """Score each input against its own candidate labels.

        Inputs and candidates are folded into the batch dimension (each input repeated
        once per candidate), so the scores come from one batched forward.

        Parameters
        ----------
        candidates : torch.LongTensor of shape (batch, n_candidates)
            Label indices per input.

        Returns
        -------
        scores : torch.Tensor of shape (batch, n_candidates)
        """
        batch, n = candidates.shape

        def fold(t):
            return None if t is None else t.repeat_interleave(n, dim=0)

        scores = self.score_pairs(
            fold(input_ids),
            fold(attention_mask),
            fold(token_type_ids),
            fold(segment_ids),
            label_idx=candidates.reshape(-1),
            labels=labels,
        )
        return scores.view(batch, n)

    def forward(
        self,
        input_ids,
        attention_mask,
        token_type_ids=None,
        segment_ids=None,
        labels=None,
        shortlist=None,
    ):
        """K-way scores of each input.

        For L-Tuning, inputs and labels are folded into the batch dimension
        (each input repeated once per label) so all K scores come from one
        batched forward.

        With a shortlist of ``k < K`` (and a head that ranks labels), the frozen reading
        (:meth:`frozen_scores`) ranks every label and only the top ``k`` are read with
        their virtual tokens. A label left out keeps its frozen score, moved onto the
        scale of the full scores (plus the mean gap between full and frozen scores of
        the shortlisted labels of that input) and capped just below the lowest
        shortlisted score: the prediction is always a shortlisted label, left-out labels
        keep the frozen reading's order among themselves, and a softmax over all K still
        sums to one. ``k >= K`` scores every label, exactly.

        Parameters
        ----------
        labels : LabelSet, optional
            Labels that replace the fitted ones for this call.
        shortlist : int, optional
            Overrides the module's ``shortlist`` for this call.

        Returns
        -------
        scores : torch.Tensor of shape (batch, n_labels)
        """
        if not self.label_conditioned:
            return self.head(self.encode(input_ids, attention_mask, token_type_ids, segment_ids))
        inputs = (input_ids, attention_mask, token_type_ids, segment_ids)
        n_labels = self.label_hidden.shape[0] if labels is None else len(labels)
        batch = input_ids.shape[0]
        k = self.shortlist if shortlist is None else shortlist
        frozen = None
        if k is not None and k < n_labels:
            frozen = self.frozen_scores(*inputs, labels=labels)
        if frozen is None:
            every = torch.arange(n_labels, device=input_ids.device).expand(batch, n_labels)
            return self.score_candidates(*inputs, candidates=every, labels=labels)
        top = frozen.topk(k, dim=1).indices  # (batch, k)
        full = self.score_candidates(*inputs, candidates=top, labels=labels)
        gap = (full - frozen.gather(1, top)).mean(1, keepdim=True)
        floor = full.min(1, keepdim=True).values - 1e-3
        rest = torch.minimum(frozen + gap, floor)
        return rest.scatter(1, top, full)

    def n_trainable_parameters(self):
        """Number of trained numbers (method maps and head; nothing of the backbone)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
