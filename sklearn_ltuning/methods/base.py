"""What the four methods share: the frozen backbone, the feature reader, one head, K-way scoring."""

from __future__ import annotations

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
    ):
        super().__init__()
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

    def forward(
        self, input_ids, attention_mask, token_type_ids=None, segment_ids=None, labels=None
    ):
        """K-way scores of each input.

        For L-Tuning, inputs and labels are folded into the batch dimension
        (each input repeated once per label) so all K scores come from one
        batched forward.

        Parameters
        ----------
        labels : LabelSet, optional
            Labels that replace the fitted ones for this call.

        Returns
        -------
        scores : torch.Tensor of shape (batch, n_labels)
        """
        if not self.label_conditioned:
            return self.head(self.encode(input_ids, attention_mask, token_type_ids, segment_ids))
        n_labels = self.label_hidden.shape[0] if labels is None else len(labels)
        batch = input_ids.shape[0]

        def fold(t):
            return None if t is None else t.repeat_interleave(n_labels, dim=0)

        label_idx = torch.arange(n_labels, device=input_ids.device).repeat(batch)
        scores = self.score_pairs(
            fold(input_ids),
            fold(attention_mask),
            fold(token_type_ids),
            fold(segment_ids),
            label_idx=label_idx,
            labels=labels,
        )
        return scores.view(batch, n_labels)

    def n_trainable_parameters(self):
        """Number of trained numbers (method maps and head; nothing of the backbone)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
