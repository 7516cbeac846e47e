"""What the four methods share: the frozen backbone, input pooling, the head, K-way scoring."""

from __future__ import annotations

import torch
from torch import nn

from ..backbones.injection import pool, run_backbone


class MethodModule(nn.Module):
    """Base of the four methods: frozen backbone + virtual tokens + pooling + head.

    A subclass only says how its virtual tokens are made (:meth:`virtual_tokens`)
    and whether they enter as a per-layer prefix or as an input prompt
    (``injects``). Label-conditioned subclasses (L-Tuning) score an (input, label)
    pair with a 2-logit head; the classic ones score all K classes at once with a
    K-way head.

    Parameters
    ----------
    backbone : BackboneHandle
        The frozen, shared backbone. Kept as a plain attribute, not a submodule, so
        it is never in ``state_dict()`` nor given to the optimizer.
    n_classes : int
    prefix_length : int
        Number of virtual tokens (prefix positions or prompt embeddings).
    pooling : {"mean", "cls", "last"}
        How the input positions are pooled before the head.
    label_hidden : torch.Tensor of shape (n_classes, prefix_length, hidden_size), optional
        The frozen backbone's last hidden states of each label text (L-Tuning only).
    """

    #: Whether virtual tokens depend on the label (L-Tuning) or are shared (classic).
    label_conditioned = False
    #: ``"prefix"`` (keys/values at every layer) or ``"prompt"`` (input embeddings).
    injects = "prefix"

    def __init__(self, backbone, n_classes, prefix_length, pooling="mean", label_hidden=None):
        super().__init__()
        self.backbone = backbone
        self.n_classes = int(n_classes)
        self.prefix_length = int(prefix_length)
        self.pooling = pooling
        shape = backbone.shape
        # The pooled output of a frozen model can be tiny or huge per dimension
        # (MiniLM's untrained pooler, decoders' massive activations); a LayerNorm
        # without parameters puts every backbone on one scale for the head.
        self.norm = nn.LayerNorm(shape.hidden_size, elementwise_affine=False)
        if self.label_conditioned:
            # Paper head: 2 logits (label does / does not fit), 2d parameters. It starts
            # at zero: a random head would add a random input-only term to every pair
            # score, noise that the balanced binary loss shrinks only slowly and that
            # drowns the (initially small) label-specific signal.
            self.head = nn.Linear(shape.hidden_size, 2, bias=False)
            nn.init.zeros_(self.head.weight)
        else:
            self.head = nn.Linear(shape.hidden_size, self.n_classes)
        if label_hidden is not None:
            self.register_buffer("label_hidden", label_hidden, persistent=False)
        else:
            self.label_hidden = None

    # -- what subclasses define ------------------------------------------------
    def virtual_tokens(self, batch_size, label_idx=None, label_hidden=None):
        """Return the prefix or prompt for a batch.

        Returns
        -------
        tokens : torch.Tensor
            ``injects == "prefix"``: shape (batch, prefix_length, n_layers, width),
            ``width`` from :func:`~sklearn_ltuning.backbones.injection.prefix_width`.
            ``injects == "prompt"``: shape (batch, prefix_length, hidden_size).
        """
        raise NotImplementedError

    # -- shared machinery ------------------------------------------------------
    def encode(
        self, input_ids, attention_mask, token_type_ids=None, *, label_idx=None, label_hidden=None
    ):
        """Pooled, normalised backbone output of the input positions.

        Returns
        -------
        pooled : torch.Tensor of shape (batch, hidden_size)
        """
        tokens = self.virtual_tokens(input_ids.shape[0], label_idx, label_hidden)
        hidden = run_backbone(
            self.backbone, input_ids, attention_mask, token_type_ids, **{self.injects: tokens}
        )
        return self.norm(pool(hidden, attention_mask, self.pooling))

    def score_pairs(
        self, input_ids, attention_mask, token_type_ids=None, *, label_idx, label_hidden=None
    ):
        """Score each input against one label (L-Tuning's o = C(M(x, p_y))).

        Parameters
        ----------
        label_idx : torch.LongTensor of shape (batch,)
            The label paired with each row.

        Returns
        -------
        scores : torch.Tensor of shape (batch,)
            Logits of "this label fits this input".
        """
        logits = self.head(
            self.encode(
                input_ids,
                attention_mask,
                token_type_ids,
                label_idx=label_idx,
                label_hidden=label_hidden,
            )
        )
        return logits[:, 1] - logits[:, 0]

    def forward(self, input_ids, attention_mask, token_type_ids=None, label_hidden=None):
        """K-way scores of each input.

        For L-Tuning, inputs and labels are folded into the batch dimension
        (each input repeated once per label) so all K scores come from one
        batched forward.

        Parameters
        ----------
        label_hidden : torch.Tensor of shape (n_labels, prefix_length, hidden_size), optional
            Encoded label texts that replace the fitted ones for this call.

        Returns
        -------
        scores : torch.Tensor of shape (batch, n_labels)
        """
        if not self.label_conditioned:
            return self.head(self.encode(input_ids, attention_mask, token_type_ids))
        hidden = self.label_hidden if label_hidden is None else label_hidden
        n_labels, batch = hidden.shape[0], input_ids.shape[0]

        def fold(t):
            return None if t is None else t.repeat_interleave(n_labels, dim=0)

        label_idx = torch.arange(n_labels, device=input_ids.device).repeat(batch)
        scores = self.score_pairs(
            fold(input_ids),
            fold(attention_mask),
            fold(token_type_ids),
            label_idx=label_idx,
            label_hidden=hidden,
        )
        return scores.view(batch, n_labels)

    def n_trainable_parameters(self):
        """Number of trained numbers (method maps and head; nothing of the backbone)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
