"""Features of a batch: the backbone's output pooled per text, normalised and compared.

One implementation serves every reader of frozen (or prefixed) features: the methods'
modules (with their virtual tokens), the probe that starts their heads, the
:class:`~sklearn_ltuning.FrozenEmbeddings` transformer and the zero-shot reading of
label texts.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .backbones.injection import (
    gradient_checkpointing,
    install_checkpointing,
    pair_blocks,
    pool,
    run_backbone,
    split_segments,
)

#: How pooled vectors are normalised (see :class:`FeatureReader`).
NORMS = ("layer", "l2", None)


class FeatureReader:
    """Read a collated batch into one feature row per input.

    Parameters
    ----------
    backbone : BackboneHandle
    pooling : {"mean", "cls", "last"}
        How positions are pooled (over the whole input, or over each text of a pair).
    pair_encoding : {"joint", "cross", "separate"}, default="joint"
        ``"joint"`` (single texts, and the paper's way for pairs): one forward, one
        vector pooled over all input positions. ``"cross"``: one forward over the
        pair, each text pooled over its own positions. ``"separate"``: each text
        through its own forward. Both give ``[u, v, |u - v|, u * v]``.
    norm : {"layer", "l2", None}, default="layer"
        ``"layer"``: each pooled vector centred and scaled to unit variance across its
        dimensions (a LayerNorm without parameters). The pooled output of a frozen
        model can be tiny or huge per dimension (MiniLM's untrained pooler, decoders'
        massive activations); this puts every backbone on one scale for a head.
        ``"l2"``: unit length (sentence-transformers' ``normalize_embeddings``).
        None: as pooled.
    checkpoint : bool, default=False
        Recompute the backbone's layers in the backward pass instead of keeping their
        activations (:func:`~sklearn_ltuning.backbones.injection.install_checkpointing`).
    """

    def __init__(self, backbone, pooling, pair_encoding="joint", norm="layer", checkpoint=False):
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}; got {norm!r}.")
        self.backbone = backbone
        self.pooling = pooling
        self.pair_encoding = pair_encoding
        self.norm = norm
        self.checkpoint = bool(checkpoint)
        if self.checkpoint and not install_checkpointing(backbone.model):
            raise ValueError(
                f"gradient_checkpointing=True, but the layers of backbone "
                f"{backbone.source.name or backbone.source.path!r} could not be found to "
                "wrap them. Use gradient_checkpointing=False with this backbone."
            )
        self.frame = None
        if pair_encoding == "separate":
            from .inputs import single_text_frame

            self.frame = single_text_frame(backbone.tokenizer)

    @property
    def n_features(self):
        """Width of a feature row: ``d`` (joint), else ``4 d``."""
        d = self.backbone.shape.hidden_size
        return d if self.pair_encoding == "joint" else 4 * d

    def _normalise(self, pooled):
        return normalise(pooled, self.norm)

    def __call__(
        self,
        input_ids,
        attention_mask,
        token_type_ids=None,
        segment_ids=None,
        *,
        injects=None,
        tokens=None,
        gate=None,
    ):
        """Feature rows of a batch.

        Parameters
        ----------
        input_ids, attention_mask, token_type_ids, segment_ids : torch.LongTensor
            A batch as collated by :func:`~sklearn_ltuning.inputs.collate`.
        injects : {"prefix", "prompt"}, optional
            Where ``tokens`` enter the backbone.
        tokens : torch.Tensor, optional
            Virtual tokens of a method; None reads the frozen backbone alone.
        gate : torch.Tensor of shape (n_layers, n_heads), optional
            A prefix's gate (:func:`~sklearn_ltuning.backbones.injection.run_backbone`).

        Returns
        -------
        features : torch.Tensor of shape (batch, n_features)
        """
        with gradient_checkpointing(self.checkpoint):
            return self._read(
                input_ids, attention_mask, token_type_ids, segment_ids, injects, tokens, gate
            )

    def _read(
        self, input_ids, attention_mask, token_type_ids, segment_ids, injects, tokens, gate=None
    ):
        handle = self.backbone
        extra = {} if tokens is None else {injects: tokens}
        if gate is not None and tokens is not None:
            extra["prefix_gate"] = gate
        if self.pair_encoding == "separate":
            ids, mask = split_segments(input_ids, segment_ids, self.frame, handle.pad_token_id)
            if tokens is not None:
                extra[injects] = torch.cat([tokens, tokens])
            hidden = run_backbone(handle, ids, mask, None, **extra).float()
            u, v = self._normalise(pool(hidden, mask, self.pooling)).chunk(2)
            return pair_blocks(u, v)
        # Features are float32 whatever the backbone's dtype: the heads read them.
        hidden = run_backbone(handle, input_ids, attention_mask, token_type_ids, **extra).float()
        if self.pair_encoding == "cross":
            u = self._normalise(pool(hidden, segment_ids == 1, self.pooling))
            v = self._normalise(pool(hidden, segment_ids == 2, self.pooling))
            return pair_blocks(u, v)
        return self._normalise(pool(hidden, attention_mask, self.pooling))


def normalise(pooled, norm):
    """One pooled vector per row, normalised: ``"layer"``, ``"l2"`` or None (as pooled)."""
    if norm == "layer":
        return F.layer_norm(pooled, pooled.shape[-1:])
    if norm == "l2":
        return F.normalize(pooled, dim=-1)
    return pooled


def read_arrays(reader, arrays, batch_size, *, progress=False):
    """Frozen feature rows of padded inputs, read in batches of similar length.

    Parameters
    ----------
    reader : FeatureReader
    arrays : dict of numpy.ndarray
        From :func:`~sklearn_ltuning.inputs.pad` (with ``length``).
    batch_size : int
    progress : bool, default=False
        Show a tqdm progress bar over the batches.

    Returns
    -------
    features : numpy.ndarray of shape (n_rows, n_features), float32
        In the rows' order.
    """
    from .inputs import collate

    lengths = np.asarray(arrays["length"])
    # Sorted by length so that each batch holds little padding.
    order = np.argsort(lengths, kind="stable")
    device = reader.backbone.device
    out = np.empty((len(lengths), reader.n_features), dtype=np.float32)
    starts = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="frozen features", unit="batch")
    with torch.inference_mode():
        for start in starts:
            rows = order[start : start + batch_size]
            batch = [({k: v[i] for k, v in arrays.items()}, 0) for i in rows]
            X, _ = collate(batch)
            X = {k: v.to(device) for k, v in X.items()}
            out[rows] = reader(**X).float().cpu().numpy()
    return out
