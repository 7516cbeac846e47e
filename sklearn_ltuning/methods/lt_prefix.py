"""LT-prefix (paper eq. 1): a label-specific prefix for every layer, made from the label text."""

from __future__ import annotations

import torch
from torch import nn

from ..backbones.injection import pool, prefix_width, run_backbone
from .base import MethodModule


class LTPrefix(MethodModule):
    """L-Tuning prefix: p_y = Z_psi(F_phi(h_y)) at every layer.

    ``h_y`` (n_labels, l, d) are the frozen backbone's last hidden states of each
    label text, padded with "." tokens to ``l = prefix_length`` tokens.

    The map starts from PyTorch's default initialisation, rescaled so that the
    initial prefixes have the root-mean-square of the backbone's own keys and values
    at each layer (:attr:`BackboneHandle.prefix_rms`) and then, where that is too
    loud for the backbone (decoders), scaled down until the prefixes move its output
    by at most :attr:`max_initial_shift`; the pair head starts at zero.

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
    max_initial_shift : float, default=0.3
        Largest relative change that the initial label prefixes' content may cause
        in the pooled output of the probe sentences (:meth:`_limit_output_shift`).
    prefix_dropout : float, default=0.0
        Dropout on the generated prefixes during training (a regulariser; 0: none).
    **kwargs
        ``pair_encoding``, ``head``, ``zero_shot``: see :class:`MethodModule`.
    """

    label_conditioned = True
    injects = "prefix"

    def __init__(
        self, *args, label_map="pooled", max_initial_shift=0.3, prefix_dropout=0.0, **kwargs
    ):
        # The base class takes (backbone, n_classes, prefix_length, pooling, labels,
        # ...) and keeps the labels' hidden states as the buffer read below.
        super().__init__(*args, **kwargs)
        backbone, prefix_length, label_hidden = self.backbone, self.prefix_length, self.label_hidden
        self.label_map = label_map
        self.max_initial_shift = float(max_initial_shift)
        self.prefix_dropout = nn.Dropout(float(prefix_dropout))
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
            if self.gate is None:  # a zero gate already leaves the frozen output as it is
                self._limit_output_shift(label_hidden)

    @torch.no_grad()
    def _match_backbone_scale(self, label_hidden):
        """Rescale the map so the initial label prefixes have the backbone's own scale.

        With PyTorch's default initialisation the prefixes are about ten times
        smaller than real keys and values (MiniLM), so labels barely change the
        output and training sits on a plateau for epochs. The scale is matched per
        layer and per part (keys, values) of :attr:`BackboneHandle.prefix_rms`:
        rows of the map that produce one layer's keys (or values) are multiplied by
        one factor, so the prefixes stay a linear map of the label states.
        """
        target = self.backbone.prefix_rms.to(self.transform.weight.device)
        n_layers, n_parts = target.shape
        prefixes = self.label_prefixes(label_hidden).float()
        n_labels, length = prefixes.shape[:2]
        grouped = prefixes.reshape(n_labels, length, n_layers, n_parts, -1)
        current = grouped.pow(2).mean(dim=(0, 1, 4)).sqrt()  # (n_layers, n_parts)
        factor = torch.where(current > 0, target / current.clamp(min=1e-12), 1.0)
        # Output rows are ordered (label position if pooled, layer, width) and the
        # width is the parts one after the other.
        weight = self.transform.weight
        part = prefix_width(self.backbone.shape) // n_parts
        rows = weight.view(-1, n_layers, n_parts, part, weight.shape[1])
        rows.mul_(factor[None, :, :, None, None].to(weight.dtype))

    @torch.no_grad()
    def _limit_output_shift(self, label_hidden):
        """Scale the initial prefixes down until they move the frozen output moderately.

        Keys and values at the backbone's own scale suit encoders (on MiniLM they
        change the pooled output of a sentence by about 30 %), but random keys of
        that size take over a decoder's attention (on SmolLM2 they change the output
        by about 100 %), so every label reads as noise at the start and training
        cannot separate them (measurements: ``BENCHMARKS.md``, decoder checks). So
        the map is multiplied by the
        largest factor ``<= 1`` for which :meth:`_output_shift` stays at most
        :attr:`max_initial_shift`, found by bisection on a log scale.
        """
        shift = self._output_shift(label_hidden)
        if shift(1.0) <= self.max_initial_shift:
            return
        low, high = -3.0, 0.0  # log10 of the factor
        for _ in range(10):
            middle = (low + high) / 2
            if shift(10.0**middle) > self.max_initial_shift:
                high = middle
            else:
                low = middle
        self.transform.weight.mul_(10.0**low)

    @torch.no_grad()
    def _output_shift(self, label_hidden):
        """How far the current label prefixes move the frozen output of the probes.

        Returns
        -------
        shift : callable
            ``shift(scale)`` is the mean relative change of the pooled output of
            :data:`~sklearn_ltuning.backbones.loading.PROBE_TEXTS`, each read after
            every label's prefix times ``scale``, against an all-zero prefix of the
            same length (so only the prefixes' content counts).
        """
        from ..backbones.loading import PROBE_TEXTS

        handle = self.backbone
        device = self.transform.weight.device
        enc = handle.tokenizer(list(PROBE_TEXTS), return_tensors="pt", padding=True)
        n_labels = label_hidden.shape[0]
        ids = enc["input_ids"].to(device).repeat_interleave(n_labels, 0)
        mask = enc["attention_mask"].to(device).repeat_interleave(n_labels, 0)
        prefixes = self.label_prefixes(label_hidden).repeat(len(PROBE_TEXTS), 1, 1, 1)

        def pooled(scale):
            hidden = run_backbone(handle, ids, mask, prefix=prefixes * scale)
            return pool(hidden, mask, self.reader.pooling).float()

        reference = pooled(0.0)
        size = reference.norm(dim=-1).clamp(min=1e-12)

        def shift(scale):
            return float(((pooled(scale) - reference).norm(dim=-1) / size).mean())

        return shift

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

    def virtual_tokens(self, batch_size, label_idx=None, labels=None):
        hidden = self.label_hidden if labels is None else labels.hidden
        return self.prefix_dropout(self.label_prefixes(hidden).index_select(0, label_idx))
