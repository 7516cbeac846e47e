"""LT-prefix (paper eq. 1): a label-specific prefix for every layer, made from the label text."""

from __future__ import annotations

import torch
from torch import nn

from ..backbones.injection import prefix_width
from .base import MethodModule


class LTPrefix(MethodModule):
    """L-Tuning prefix: p_y = Z_psi(F_phi(h_y)) at every layer.

    ``h_y`` (n_labels, l, d) are the frozen backbone's last hidden states of each
    label text, padded with "." tokens to ``l = prefix_length`` tokens.

    The map starts from PyTorch's default initialisation, rescaled so that the
    initial prefixes have the root-mean-square of the backbone's own keys and values
    (:attr:`BackboneHandle.prefix_rms`), and the pair head starts at zero.

    Parameters
    ----------
    label_map : {"pooled", "token"}, default="pooled"
        ``"pooled"`` (the paper's default and the reference code): F_phi scores each
        label token with a ``Linear(d, 1)`` (self-attention pooling scores, l numbers
        per label) and Z_psi is ``Linear(l, l * m * width)`` with no bias, where
        ``width = 2 * d_kv`` (key and value) on cache-capable backbones: ``2 l^2 m d + d``
        parameters (plus ``2d`` for the head) when ``d_kv = d``.
        ``"token"`` (the reference code's second variant): skip the pooling and map
        each label token's hidden vector with ``Linear(d, m * width)``.
    """

    label_conditioned = True
    injects = "prefix"

    def __init__(
        self,
        backbone,
        n_classes,
        prefix_length,
        pooling="mean",
        label_hidden=None,
        label_map="pooled",
    ):
        super().__init__(backbone, n_classes, prefix_length, pooling, label_hidden)
        self.label_map = label_map
        per_position = backbone.shape.n_layers * prefix_width(backbone.shape)
        if label_map == "pooled":
            self.pool_scores = nn.Linear(backbone.shape.hidden_size, 1, bias=False)
            self.transform = nn.Linear(prefix_length, prefix_length * per_position, bias=False)
        elif label_map == "token":
            self.transform = nn.Linear(backbone.shape.hidden_size, per_position, bias=False)
        else:
            raise ValueError(f"label_map must be 'pooled' or 'token'; got {label_map!r}.")
        if label_hidden is not None:
            self._match_backbone_scale(label_hidden)

    @torch.no_grad()
    def _match_backbone_scale(self, label_hidden):
        """Rescale the map so the initial label prefixes have the backbone's own scale.

        With PyTorch's default initialisation the prefixes are about ten times
        smaller than real keys and values (MiniLM), so labels barely change the
        output and training sits on a plateau for epochs.
        """
        current = self.label_prefixes(label_hidden).float().pow(2).mean().sqrt()
        if current > 0:
            self.transform.weight.mul_(self.backbone.prefix_rms / current)

    def label_prefixes(self, label_hidden):
        """Prefixes of every label.

        Parameters
        ----------
        label_hidden : torch.Tensor of shape (n_labels, l, d)

        Returns
        -------
        prefixes : torch.Tensor of shape (n_labels, l, n_layers, width)
            ``width`` from :func:`~sklearn_ltuning.backbones.injection.prefix_width`.
        """
        n_labels, length = label_hidden.shape[:2]
        if self.label_map == "pooled":
            scores = self.pool_scores(label_hidden).squeeze(-1)  # (n_labels, l)
            flat = self.transform(scores)  # (n_labels, l * n_layers * width)
        else:
            flat = self.transform(label_hidden)  # (n_labels, l, n_layers * width)
        return flat.view(n_labels, length, self.backbone.shape.n_layers, -1)

    def virtual_tokens(self, batch_size, label_idx=None, label_hidden=None):
        hidden = self.label_hidden if label_hidden is None else label_hidden
        return self.label_prefixes(hidden).index_select(0, label_idx)
