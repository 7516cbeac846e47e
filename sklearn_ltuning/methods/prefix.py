"""Prefix tuning (P-Tuning v2 form): trainable per-layer keys and values shared by all classes."""

from __future__ import annotations

import torch
from torch import nn

from .base import MethodModule


class PrefixTuning(MethodModule):
    """Classic prefix tuning baseline with a K-way head.

    Trained: ``prefix`` of shape (n_layers, 2, n_kv_heads, prefix_length, head_dim),
    initialised N(0, 0.02) so training starts close to the frozen model, and the head.
    """

    injects = "prefix"

    def __init__(self, backbone, n_classes, prefix_length, pooling="mean", label_hidden=None):
        super().__init__(backbone, n_classes, prefix_length, pooling)
        s = backbone.shape
        self.prefix = nn.Parameter(
            torch.randn(s.n_layers, 2, s.n_kv_heads, prefix_length, s.head_dim) * 0.02
        )

    def virtual_tokens(self, batch_size, label_idx=None, label_hidden=None):
        return self.prefix.unsqueeze(2).expand(-1, -1, batch_size, -1, -1, -1)
