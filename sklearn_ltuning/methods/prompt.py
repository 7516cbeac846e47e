"""Prompt tuning (Lester et al. 2021): trainable input embeddings shared by all classes."""

from __future__ import annotations

import torch
from torch import nn

from .base import MethodModule


class PromptTuning(MethodModule):
    """Classic prompt tuning baseline with a K-way head.

    Trained: ``prompt`` of shape (prefix_length, hidden_size), initialised from the
    embeddings of randomly drawn vocabulary tokens (Lester et al.'s recommended
    initialisation), and the head.
    """

    injects = "prompt"

    def __init__(self, backbone, n_classes, prefix_length, pooling="mean", labels=None, **kwargs):
        super().__init__(backbone, n_classes, prefix_length, pooling, labels, **kwargs)
        table = backbone.model.get_input_embeddings().weight
        rows = torch.randint(0, table.shape[0], (prefix_length,))
        self.prompt = nn.Parameter(table[rows].detach().clone().to(torch.float32))

    def virtual_tokens(self, batch_size, label_idx=None, labels=None):
        return self.prompt.unsqueeze(0).expand(batch_size, -1, -1)
