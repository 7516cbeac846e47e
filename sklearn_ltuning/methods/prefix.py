"""Prefix tuning (P-Tuning v2 form): trainable per-layer keys and values shared by all classes."""

from __future__ import annotations

import torch
from torch import nn

from ..backbones.injection import prefix_width
from .base import MethodModule


class PrefixTuning(MethodModule):
    """Classic prefix tuning baseline with a K-way head.

    Trained: ``prefix`` of shape (prefix_length, n_layers, width), initialised
    N(0, 0.02) so training starts close to the frozen model, and the head. ``width``
    is ``2 * n_kv_heads * head_dim`` (keys and values) on cache-capable backbones and
    ``hidden_size`` (per-layer hidden states) on the others; see
    :mod:`sklearn_ltuning.backbones.injection`.
    """

    injects = "prefix"

    def __init__(self, backbone, n_classes, prefix_length, pooling="mean", labels=None, **kwargs):
        super().__init__(backbone, n_classes, prefix_length, pooling, labels, **kwargs)
        width = prefix_width(backbone.shape)
        self.prefix = nn.Parameter(
            torch.randn(prefix_length, backbone.shape.n_layers, width) * 0.02
        )

    def virtual_tokens(self, batch_size, label_idx=None, labels=None):
        return self.prefix.unsqueeze(0).expand(batch_size, -1, -1, -1)
