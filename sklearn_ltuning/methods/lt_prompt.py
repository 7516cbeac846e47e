"""LT-prompt (paper eq. 2): label hidden states mapped by G into prompt embeddings."""

from __future__ import annotations

import torch
from torch import nn

from .base import MethodModule


class LTPrompt(MethodModule):
    """L-Tuning prompt: e(y) = G_gamma(h_y) placed before the input embeddings.

    G is a ``Linear(d, d)`` without bias (``d^2`` parameters; ``d(d + 2)`` with the
    head); its output has the width of the input embeddings, which differs from ``d``
    only on models such as ALBERT. It starts as a scaled identity whose scale maps the
    label hidden states to the root-mean-square of the backbone's input embeddings, so
    training starts from the label's own reading at the right magnitude.
    """

    label_conditioned = True
    injects = "prompt"

    def __init__(self, backbone, n_classes, prefix_length, pooling="mean", labels=None, **kwargs):
        super().__init__(backbone, n_classes, prefix_length, pooling, labels, **kwargs)
        d, d_embed = backbone.shape.hidden_size, backbone.shape.embedding_size
        self.transform = nn.Linear(d, d_embed, bias=False)
        scale = 1.0
        label_hidden = self.label_hidden
        if label_hidden is not None:
            table = backbone.model.get_input_embeddings().weight
            target = table.detach().float().pow(2).mean().sqrt()
            source = label_hidden.float().pow(2).mean().sqrt().clamp(min=1e-6)
            scale = float(target / source)
        with torch.no_grad():
            self.transform.weight.copy_(torch.eye(d_embed, d) * scale)

    def virtual_tokens(self, batch_size, label_idx=None, labels=None):
        hidden = self.label_hidden if labels is None else labels.hidden
        return self.transform(hidden).index_select(0, label_idx)
