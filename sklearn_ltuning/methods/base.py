"""What the four methods share: the frozen backbone, input pooling, the head, K-way scoring."""

from __future__ import annotations

import torch
from torch import nn

from ..backbones.injection import pair_blocks, pool, run_backbone, split_segments

#: How a (premise, hypothesis) pair is read; see :class:`MethodModule`.
PAIR_ENCODINGS = ("joint", "cross", "separate")
#: Heads of the label-conditioned methods; see :class:`MethodModule`.
LABEL_HEADS = ("pair", "bilinear")


class MethodModule(nn.Module):
    """Base of the four methods: frozen backbone + virtual tokens + pooling + head.

    A subclass only says how its virtual tokens are made (:meth:`virtual_tokens`)
    and whether they enter as a per-layer prefix or as an input prompt
    (``injects``). Label-conditioned subclasses (L-Tuning) score an (input, label)
    pair; the classic ones score all K classes at once with a K-way head.

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
    label_hidden : torch.Tensor of shape (n_classes, prefix_length, hidden_size), optional
        The frozen backbone's last hidden states of each label text (L-Tuning only).
    pair_encoding : {"joint", "cross", "separate"}, default="joint"
        ``"joint"`` (single texts, and the paper's way for pairs): one forward, one
        vector pooled over all input positions. ``"cross"``: one forward over the
        pair, each text pooled over its own positions, features
        ``[u, v, |u - v|, u * v]``. ``"separate"``: each text through its own
        forward (the virtual tokens applied to each), same four blocks.
    head : {"pair", "bilinear"}, default="pair"
        Label-conditioned methods only. ``"pair"``: the paper's head, two logits of
        "this label fits / does not fit" from the features read with the label's
        virtual tokens, ``o = C(M(x, p_y))``. ``"bilinear"``: that score plus
        ``[f, 1]^T W e_y``, where ``e_y`` is the label text's own frozen reading
        (``label_embed``) and ``W = Z + R pinv(E)^T``: ``Z`` a fixed zero-shot map,
        ``E`` the fitted label texts' readings and ``R`` (``label_residual``, one
        column per fitted class) the trained part. A label-aware linear classifier
        that can start from what the frozen model knows (:meth:`init_head_from_probe`)
        and that reads any label text, including ones not seen in training.
    label_embed : torch.Tensor of shape (n_classes, hidden_size), optional
        Unit-length frozen reading of each label text (``head="bilinear"`` only).
    zero_shot : bool, default=True
        Bilinear head on single texts only: read every label text zero-shot as well
        (``Z``: the cosine of the input's and the label text's frozen readings at a
        fitted temperature, see :meth:`init_head_from_probe`), so a new or reworded
        label text is read for what it says. ``Z`` is not trained: training moves
        only the fitted classes' residuals, so it cannot wear the zero-shot reading
        down. False: ``Z = 0`` (the least-norm probe start).
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
        label_hidden=None,
        *,
        pair_encoding="joint",
        head="pair",
        label_embed=None,
        zero_shot=True,
    ):
        super().__init__()
        if pair_encoding not in PAIR_ENCODINGS:
            raise ValueError(
                f"pair_encoding must be one of {PAIR_ENCODINGS}; got {pair_encoding!r}."
            )
        if head not in LABEL_HEADS:
            raise ValueError(f"head must be one of {LABEL_HEADS}; got {head!r}.")
        self.backbone = backbone
        self.n_classes = int(n_classes)
        self.prefix_length = int(prefix_length)
        self.pooling = pooling
        self.pair_encoding = pair_encoding
        self.head_kind = head if self.label_conditioned else "class"
        self.zero_shot = bool(zero_shot)
        shape = backbone.shape
        d = shape.hidden_size
        self.n_features = d if pair_encoding == "joint" else 4 * d
        # The pooled output of a frozen model can be tiny or huge per dimension
        # (MiniLM's untrained pooler, decoders' massive activations); a LayerNorm
        # without parameters puts every backbone on one scale for the head.
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        if self.label_conditioned:
            # Paper head: 2 logits (label does / does not fit), 2F parameters. It starts
            # at zero: a random head would add a random input-only term to every pair
            # score, noise that the balanced binary loss shrinks only slowly and that
            # drowns the (initially small) label-specific signal.
            self.head = nn.Linear(self.n_features, 2, bias=False)
            nn.init.zeros_(self.head.weight)
            if head == "bilinear":
                # W = Z + R pinv(E)^T with only R trained: one column per fitted class,
                # so training sharpens the fitted classes without touching how a new
                # label text is read (Z, and its share of R through pinv(E)). Training
                # W itself (F + 1 by d) let Adam move every direction of W at once
                # (BENCHMARKS.md, open labels). Zero until init_head_from_probe.
                self.label_residual = nn.Parameter(torch.zeros(self.n_features + 1, n_classes))
                # The zero-shot temperature t (Z = t / sqrt(d) I on the first d
                # features); saved with the weights, fitted by init_head_from_probe.
                self.register_buffer("zero_shot_scale", torch.zeros(()))
        else:
            self.head = nn.Linear(self.n_features, self.n_classes)
        if label_hidden is not None:
            self.register_buffer("label_hidden", label_hidden, persistent=False)
        else:
            self.label_hidden = None
        if label_embed is not None:
            self.register_buffer("label_embed", label_embed, persistent=False)
        else:
            self.label_embed = None
        if pair_encoding == "separate":
            from ..inputs import single_text_frame

            self._frame = single_text_frame(backbone.tokenizer)

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
    def features(
        self, input_ids, attention_mask, token_type_ids=None, segment_ids=None, tokens=None
    ):
        """What the head reads: pooled, normalised backbone output.

        Parameters
        ----------
        input_ids, attention_mask, token_type_ids, segment_ids : torch.LongTensor
            A batch as collated by :func:`~sklearn_ltuning.inputs.collate`.
        tokens : torch.Tensor, optional
            Virtual tokens from :meth:`virtual_tokens`; ``None`` reads the input
            with the frozen backbone alone (the probe features).

        Returns
        -------
        features : torch.Tensor of shape (batch, n_features)
        """
        extra = {} if tokens is None else {self.injects: tokens}
        if self.pair_encoding == "separate":
            ids, mask = split_segments(
                input_ids, segment_ids, self._frame, self.backbone.pad_token_id
            )
            if tokens is not None:
                extra = {self.injects: torch.cat([tokens, tokens])}
            hidden = run_backbone(self.backbone, ids, mask, None, **extra)
            u, v = self.norm(pool(hidden, mask, self.pooling)).chunk(2)
            return pair_blocks(u, v)
        hidden = run_backbone(self.backbone, input_ids, attention_mask, token_type_ids, **extra)
        if self.pair_encoding == "cross":
            u = self.norm(pool(hidden, segment_ids == 1, self.pooling))
            v = self.norm(pool(hidden, segment_ids == 2, self.pooling))
            return pair_blocks(u, v)
        return self.norm(pool(hidden, attention_mask, self.pooling))

    def encode(
        self,
        input_ids,
        attention_mask,
        token_type_ids=None,
        segment_ids=None,
        *,
        label_idx=None,
        label_hidden=None,
    ):
        """Features of the input read with the method's virtual tokens.

        Returns
        -------
        features : torch.Tensor of shape (batch, n_features)
        """
        tokens = self.virtual_tokens(input_ids.shape[0], label_idx, label_hidden)
        return self.features(input_ids, attention_mask, token_type_ids, segment_ids, tokens)

    def score_pairs(
        self,
        input_ids,
        attention_mask,
        token_type_ids=None,
        segment_ids=None,
        *,
        label_idx,
        label_hidden=None,
        label_embed=None,
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
        f = self.encode(
            input_ids,
            attention_mask,
            token_type_ids,
            segment_ids,
            label_idx=label_idx,
            label_hidden=label_hidden,
        )
        logits = self.head(f)
        scores = logits[:, 1] - logits[:, 0]
        if self.head_kind == "bilinear":
            scores = scores + self.bilinear_scores(f, label_idx, label_embed)
        return scores

    def bilinear_scores(self, f, label_idx, label_embed=None):
        """The bilinear head's part of each score, ``[f, 1]^T W e_y``.

        Parameters
        ----------
        f : torch.Tensor of shape (batch, n_features)
            Features from :meth:`encode`.
        label_idx : torch.LongTensor of shape (batch,)
            The label paired with each row.
        label_embed : torch.Tensor of shape (n_labels, hidden_size), optional
            Frozen readings of other label texts; ``None``: the fitted ones.

        Returns
        -------
        scores : torch.Tensor of shape (batch,)
        """
        weights = self.label_residual.T  # (K fitted, F + 1): R e_k for a fitted label
        if label_embed is not None:  # any label text: its share of each fitted residual
            route = label_embed.float() @ torch.linalg.pinv(self.label_embed.float())
            weights = route.to(weights.dtype) @ weights  # (n_labels, F + 1)
        fa = torch.cat([f, f.new_ones(f.shape[0], 1)], dim=1)
        scores = (fa * weights.index_select(0, label_idx)).sum(-1)
        if self.reads_zero_shot:
            embed = self.label_embed if label_embed is None else label_embed
            e = embed.index_select(0, label_idx)
            d = e.shape[1]
            # LayerNorm-ed features have norm sqrt(d): f / sqrt(d) . e is a cosine.
            scores = scores + self.zero_shot_scale * (f[:, :d] * e).sum(-1) / d**0.5
        return scores

    def forward(
        self,
        input_ids,
        attention_mask,
        token_type_ids=None,
        segment_ids=None,
        label_hidden=None,
        label_embed=None,
    ):
        """K-way scores of each input.

        For L-Tuning, inputs and labels are folded into the batch dimension
        (each input repeated once per label) so all K scores come from one
        batched forward.

        Parameters
        ----------
        label_hidden : torch.Tensor of shape (n_labels, prefix_length, hidden_size), optional
            Encoded label texts that replace the fitted ones for this call.
        label_embed : torch.Tensor of shape (n_labels, hidden_size), optional
            Their frozen readings (``head="bilinear"``).

        Returns
        -------
        scores : torch.Tensor of shape (batch, n_labels)
        """
        if not self.label_conditioned:
            return self.head(self.encode(input_ids, attention_mask, token_type_ids, segment_ids))
        hidden = self.label_hidden if label_hidden is None else label_hidden
        n_labels, batch = hidden.shape[0], input_ids.shape[0]

        def fold(t):
            return None if t is None else t.repeat_interleave(n_labels, dim=0)

        label_idx = torch.arange(n_labels, device=input_ids.device).repeat(batch)
        scores = self.score_pairs(
            fold(input_ids),
            fold(attention_mask),
            fold(token_type_ids),
            fold(segment_ids),
            label_idx=label_idx,
            label_hidden=hidden,
            label_embed=label_embed,
        )
        return scores.view(batch, n_labels)

    @property
    def reads_zero_shot(self):
        """Whether the head keeps a zero-shot reading of label texts (see ``zero_shot``)."""
        return self.head_kind == "bilinear" and self.zero_shot and self.pair_encoding == "joint"

    @torch.no_grad()
    def init_head_from_probe(self, coef, intercept, zero_shot_scale=0.0):
        """Start the head at a linear probe fitted on the frozen features.

        Parameters
        ----------
        coef : array-like of shape (n_classes, n_features)
        intercept : array-like of shape (n_classes,)
            A multinomial logistic regression on :meth:`features` without virtual
            tokens.
        zero_shot_scale : float, default=0.0
            Bilinear head: the temperature ``t`` of the zero-shot reading
            ``t cos(f, e)`` (fitted on the training data by
            :func:`~sklearn_ltuning.training.init_head_from_probe`); ignored when
            :attr:`reads_zero_shot` is false.

        Notes
        -----
        K-way head: its weights and biases become the probe's. Bilinear head, with
        ``E`` the fitted labels' frozen readings, ``Z`` the zero-shot map (``t / sqrt(d)``
        times the identity on the unit-variance features, zero when
        :attr:`reads_zero_shot` is false) and ``C`` the probe's weights::

            W = Z + R pinv(E)^T,   R = C - Z E^T

        so every fitted label scores exactly as the probe does (``W e_k = c_k``),
        while a label text's part outside the span of the fitted ones is read
        zero-shot (``W e = Z e`` for ``e`` orthogonal to them). Only ``R`` is
        trained. The paper's pair head has no class weights and is left as it is.
        """
        device = next(self.parameters()).device
        coef = torch.as_tensor(coef, dtype=torch.float32, device=device)
        intercept = torch.as_tensor(intercept, dtype=torch.float32, device=device)
        if self.head_kind == "class":
            self.head.weight.copy_(coef)
            self.head.bias.copy_(intercept)
        elif self.head_kind == "bilinear":
            augmented = torch.cat([coef, intercept[:, None]], dim=1)  # (K, F + 1)
            embed = self.label_embed.float()  # (K, d)
            scale = float(zero_shot_scale) if self.reads_zero_shot else 0.0
            d = embed.shape[1]
            residual = augmented.T.clone()
            residual[:d] -= embed.T * (scale / d**0.5)  # R = C - Z E^T
            self.label_residual.copy_(residual)
            self.zero_shot_scale.fill_(scale)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Models saved before R was the trained part (format version 2) hold W itself,
        # (F + 1) by d: their fitted classes' columns are W E^T, exactly; how they read
        # new label texts is not kept (no zero-shot part: the least-norm reading).
        old = state_dict.pop(prefix + "bilinear", None)
        if old is not None and self.head_kind == "bilinear" and self.label_embed is not None:
            state_dict.setdefault(prefix + "label_residual", old @ self.label_embed.T.to(old))
            state_dict.setdefault(prefix + "zero_shot_scale", old.new_zeros(()))
        elif old is not None:
            state_dict[prefix + "bilinear"] = old  # let strict loading name the mismatch
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def n_trainable_parameters(self):
        """Number of trained numbers (method maps and head; nothing of the backbone)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
