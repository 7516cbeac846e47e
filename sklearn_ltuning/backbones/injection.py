"""How a prefix or a prompt enters a frozen backbone, and how its output is pooled.

Two prefix paths
----------------
* ``"cache"`` (BERT, RoBERTa, ELECTRA, GPT-2, Llama, Qwen2, Gemma, Falcon, Bloom, ...):
  the prefix is extra keys and values at every layer, handed to the model as a fresh
  key/value cache (P-Tuning v2). It has no position of its own: the input keeps the
  positions the model gives it without a prefix, so a fully masked prefix leaves
  the output unchanged. Explicit ``position_ids`` are passed because BERT-style
  embeddings would otherwise offset positions by the cache length.
* ``"hidden"`` (DistilBERT, MPNet, DeBERTa-v2/v3, ALBERT-free stacks, ModernBERT: models
  whose attention takes no cache): ``prefix_length`` placeholder positions are put
  before the input and, at the entrance of every layer, a pre-hook replaces their
  hidden states with the prefix for that layer (the paper's "per-layer hidden
  states for the prefix positions"). The prefix occupies positions ``0 .. P-1``.

A cache prefix can also be read through a gate (``prefix_gate``; SDPA attention on
models that use transformers' ``AttentionInterface``): each layer attends to the input's
own keys exactly as without a prefix, to the prefix's keys in a separate softmax, and
adds the second with a trained per-head gate that starts at zero (:func:`_gated_attention`).
A prefix in the shared softmax always takes attention from the input, even with keys and
values near zero; with the gate at zero the output is the frozen model's, bit for bit.

Prompts (``"prompt"``, ``"lt_prompt"``) are embeddings placed before the input
embeddings on every backbone; they occupy positions ``0 .. P-1``. On a causal model a
prompt can also be read through the gate: its keys and values, read on their own
(:func:`prompt_prefix`), become a cache prefix.

On models with sliding-window layers (Gemma 2/3, and any config whose ``layer_types``
holds ``"sliding_attention"``) the cache prefix stays visible to every input position in
those layers too, as P-Tuning v2's prefix is in every layer; the window still applies
among the input's own tokens (:func:`prefix_attention_mask`). Prompts are input
positions: on such layers they fall out of the window like any early token.

Inputs are truncated to ``max_positions - prefix_length`` tokens in every case, so one
budget rule holds for all methods and backbones. The version-dependent cache and mask
handling of transformers lives in :func:`make_prefix_cache` and
:func:`prefix_attention_mask` and nowhere else.

Trained tensors are float32; they are cast to the backbone's dtype where they enter it
(the cache, the prompt embeddings, the hidden-state pre-hook), so a bfloat16 or float16
backbone trains float32 maps.

With :func:`gradient_checkpointing` on, every layer of the backbone is recomputed in the
backward pass instead of keeping its activations (:func:`install_checkpointing`). The
prefix cache never grows (each layer returns the prefix and the input's own keys and
values without storing the latter), so recomputing a layer reads the same cache.

Prefix layout
-------------
Methods produce prefixes as one tensor of shape (batch, prefix_length, n_layers,
width): ``width = 2 * n_kv_heads * head_dim`` (keys then values) on the cache path,
``width = hidden_size`` on the hidden path (see :func:`prefix_width`).
"""

from __future__ import annotations

import contextlib
import functools
import threading

import torch

from .families import family

_ACTIVE = threading.local()


def prefix_width(shape):
    """Numbers per prefix position and layer for this backbone's prefix path."""
    if shape.prefix_path == "cache":
        return 2 * shape.n_kv_heads * shape.head_dim
    return shape.hidden_size


def _prefix_layer_class():
    """A cache layer that holds a prefix and never stores what a layer appends."""
    from transformers.cache_utils import DynamicLayer

    class PrefixLayer(DynamicLayer):
        def update(self, key_states, value_states, *args, **kwargs):
            # [prefix, input] without storing the input: the cache length stays the
            # prefix length for every layer, and a layer recomputed by gradient
            # checkpointing reads the same cache again.
            keys = torch.cat([self.keys, key_states], dim=-2)
            return keys, torch.cat([self.values, value_states], dim=-2)

    return PrefixLayer


_PREFIX_LAYER = None


def make_prefix_cache(prefix, shape):
    """Build a fresh key/value cache holding a prefix for every layer.

    Parameters
    ----------
    prefix : torch.Tensor of shape (batch, prefix_length, n_layers, 2 * n_kv_heads * head_dim)
        In the backbone's dtype.
    shape : BackboneShape

    Returns
    -------
    cache : transformers.DynamicCache
        Layer ``i`` holds keys and values of shape (batch, n_kv_heads, prefix_length,
        head_dim), sized by ``num_key_value_heads`` for grouped-query attention. Its
        layers return the prefix followed by the input's keys and values and store
        nothing, so the cache can be read any number of times.
    """
    from transformers import DynamicCache

    global _PREFIX_LAYER
    if _PREFIX_LAYER is None:
        _PREFIX_LAYER = _prefix_layer_class()
    batch, length = prefix.shape[:2]
    kv = prefix.view(batch, length, shape.n_layers, 2, shape.n_kv_heads, shape.head_dim)
    kv = kv.permute(2, 3, 0, 4, 1, 5)  # (n_layers, 2, batch, n_kv_heads, length, head_dim)
    layers = []
    for keys, values in kv:
        layer = _PREFIX_LAYER()
        layer.lazy_initialization(keys, values)
        layer.keys, layer.values = keys, values
        layers.append(layer)
    cache = DynamicCache()
    cache.layers = layers
    return cache


def prefix_attention_mask(handle, attention_mask, inputs_embeds, cache, position_ids):
    """The attention mask of a forward with a cache prefix.

    The 2-D mask (prefix positions first) on most models. On models with
    sliding-window layers, the mask mapping such models take (``{"full_attention":
    ..., "sliding_attention": ...}``), built by transformers' own mask functions with the
    prefix's positions visible to every query: otherwise a sliding-window layer would
    hide the prefix from every input token past the window.

    Parameters
    ----------
    handle : BackboneHandle
    attention_mask : torch.LongTensor of shape (batch, prefix_length + length)
    inputs_embeds : torch.Tensor of shape (batch, length, hidden_size)
    cache : transformers.Cache
        From :func:`make_prefix_cache`.
    position_ids : torch.LongTensor of shape (batch, length)
    """
    if not handle.shape.sliding_layers:
        return attention_mask
    from transformers import masking_utils

    n_prefix = cache.get_seq_length()

    def prefix_visible(batch_idx, head_idx, q_idx, kv_idx):
        return kv_idx < n_prefix

    kwargs = {
        "config": handle.model.config,
        "inputs_embeds": inputs_embeds,
        "attention_mask": attention_mask,
        "cache": cache,
        "position_ids": position_ids,
        "or_mask_function": prefix_visible,
    }
    return {
        "full_attention": masking_utils.create_causal_mask(**kwargs),
        "sliding_attention": masking_utils.create_sliding_window_causal_mask(**kwargs),
    }


#: The attention implementation under which :func:`_gated_attention` is registered with
#: transformers (``AttentionInterface``), for prefixes read through a gate.
GATED_ATTENTION = "sklearn_ltuning_gated_sdpa"


def _gated_attention(
    module, query, key, value, attention_mask, *, prefix_gate=None, prefix_length=0, **kwargs
):
    """SDPA attention with the cache prefix read through its own softmax and a gate.

    Without ``prefix_gate`` this is transformers' SDPA attention, unchanged. With it
    (zero-initialised attention, LLaMA-Adapter): the input attends to its own keys as
    if no prefix were there, attends to the prefix's keys in a separate softmax, and
    the two are added with a per-head gate of the layer, ``own + gate * prefix``. At a
    gate of zero the output is exactly the frozen model's: a prefix in the shared
    softmax takes attention mass from the input's own tokens even when its keys and
    values are near zero, which on a decoder moved the features the probe-started
    head reads (BENCHMARKS.md, "Where LT-prefix starts on a decoder").
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if prefix_gate is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    _ACTIVE.gated_layers = getattr(_ACTIVE, "gated_layers", 0) + 1
    n = prefix_length
    mask = None if attention_mask is None else attention_mask[..., n:]
    own, _ = sdpa_attention_forward(module, query, key[:, :, n:], value[:, :, n:], mask, **kwargs)
    # Every input position sees every prefix position (no causal order, no padding).
    kwargs["is_causal"] = False
    prefix, _ = sdpa_attention_forward(
        module, query, key[:, :, :n], value[:, :, :n], None, **kwargs
    )
    gate = prefix_gate[module.layer_idx].to(own.dtype)  # one per attention head
    return own + gate[None, None, :, None] * prefix, None  # (batch, length, heads, dim)


def use_gated_attention(handle):
    """Switch the backbone to :data:`GATED_ATTENTION` (once); a clear error if it cannot.

    The gated implementation is SDPA itself whenever no gate is passed, so a backbone
    shared with other estimators reads exactly as before.
    """
    model = handle.model
    if model.config._attn_implementation == GATED_ATTENTION:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    need = handle.shape.gate_needs("prefix")  # decided once, at loading
    if need:
        raise ValueError(
            f"A gated prefix needs {need} (its attention: "
            f"{model.config._attn_implementation!r}). Use the ungated prefix with it."
        )
    AttentionInterface.register(GATED_ATTENTION, _gated_attention)
    AttentionMaskInterface.register(GATED_ATTENTION, sdpa_mask)
    model.set_attn_implementation(GATED_ATTENTION)


def default_position_ids(shape, attention_mask):
    """Positions the model would give the input if no prefix were present.

    Parameters
    ----------
    shape : BackboneShape
    attention_mask : torch.LongTensor of shape (batch, length)

    Returns
    -------
    position_ids : torch.LongTensor of shape (batch, length)
    """
    batch, length = attention_mask.shape
    if family(shape.model_type).positions == "after_padding":
        # Real tokens count from padding_idx + 1; pads get padding_idx.
        padding_idx = shape.position_offset - 1
        return (torch.cumsum(attention_mask, 1) * attention_mask + padding_idx).long()
    positions = torch.arange(length, device=attention_mask.device)
    return positions.unsqueeze(0).expand(batch, length)


def _find_layers(model):
    """The ModuleList of transformer layers (one entry per hidden layer)."""
    n_layers = model.config.num_hidden_layers
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            return module
    return None


def _replace_prefix_hidden(index, module, args, kwargs):
    prefix = getattr(_ACTIVE, "prefix", None)
    if prefix is None:
        return None
    layer_prefix = prefix[:, :, index]  # (batch, prefix_length, hidden)
    n_virtual = layer_prefix.shape[1]
    if args:
        hidden = args[0]
        hidden = torch.cat([layer_prefix.to(hidden.dtype), hidden[:, n_virtual:]], 1)
        return (hidden, *args[1:]), kwargs
    hidden = kwargs["hidden_states"]
    kwargs["hidden_states"] = torch.cat([layer_prefix.to(hidden.dtype), hidden[:, n_virtual:]], 1)
    return args, kwargs


def install_hidden_prefix_hooks(model):
    """Install, once, the per-layer pre-hooks of the hidden-state prefix path.

    The hooks do nothing unless a forward runs inside :func:`_hidden_prefix`, so the
    shared backbone behaves as usual for every other caller.

    Returns
    -------
    installed : bool
        False when no list of ``num_hidden_layers`` layers was found.
    """
    if getattr(model, "_sklearn_ltuning_hooks", False):
        return True
    layers = _find_layers(model)
    if layers is None:
        return False
    for index, layer in enumerate(layers):
        layer.register_forward_pre_hook(
            functools.partial(_replace_prefix_hidden, index), with_kwargs=True
        )
    model._sklearn_ltuning_hooks = True
    return True


def install_checkpointing(model):
    """Wrap, once, every layer's forward so that it can be recomputed in the backward pass.

    The wrapper does nothing unless a forward runs inside :func:`gradient_checkpointing`
    with gradients enabled; then each layer keeps only its inputs and recomputes its
    activations in the backward pass (``torch.utils.checkpoint``, non-reentrant). Not
    transformers' own ``gradient_checkpointing_enable``: it acts only on a model in
    training mode (which would turn on the frozen backbone's dropout) and drops the
    key/value cache that carries the prefix.

    Returns
    -------
    installed : bool
        False when no list of ``num_hidden_layers`` layers was found.
    """
    if getattr(model, "_sklearn_ltuning_checkpointing", False):
        return True
    layers = _find_layers(model)
    if layers is None:
        return False
    from torch.utils.checkpoint import checkpoint

    for layer in layers:

        def forward(*args, _forward=layer.forward, **kwargs):
            if getattr(_ACTIVE, "checkpoint", False) and torch.is_grad_enabled():
                return checkpoint(_forward, *args, use_reentrant=False, **kwargs)
            return _forward(*args, **kwargs)

        layer.forward = forward
    model._sklearn_ltuning_checkpointing = True
    return True


@contextlib.contextmanager
def gradient_checkpointing(enabled=True):
    """Inside this block, layers wrapped by :func:`install_checkpointing` are recomputed."""
    before = getattr(_ACTIVE, "checkpoint", False)
    _ACTIVE.checkpoint = bool(enabled)
    try:
        yield
    finally:
        _ACTIVE.checkpoint = before


@contextlib.contextmanager
def _hidden_prefix(prefix):
    _ACTIVE.prefix = prefix
    try:
        yield
    finally:
        _ACTIVE.prefix = None


def _forward_kwargs(handle, attention_mask, token_type_ids, own_cache=False):
    kwargs = {"attention_mask": attention_mask}
    if not own_cache and "use_cache" in handle.shape.forward_args:
        # One forward, no generation: the model's own key/value cache would only cost
        # memory, and a layer recomputed by gradient checkpointing would append to it
        # a second time.
        kwargs["use_cache"] = False
    if token_type_ids is not None and handle.shape.uses_token_types:
        kwargs["token_type_ids"] = token_type_ids
    return kwargs


def _prepend(handle, input_ids, attention_mask, token_type_ids, virtual):
    """Inputs for a forward with ``virtual`` embeddings (batch, P, d) before the input."""
    batch, n_virtual = input_ids.shape[0], virtual.shape[1]
    embeds = handle.model.get_input_embeddings()(input_ids)
    embeds = torch.cat([virtual.to(embeds.dtype), embeds], dim=1)
    mask = torch.cat([attention_mask.new_ones(batch, n_virtual), attention_mask], 1)
    if token_type_ids is not None:
        token_type_ids = torch.cat([token_type_ids.new_zeros(batch, n_virtual), token_type_ids], 1)
    return {"inputs_embeds": embeds, **_forward_kwargs(handle, mask, token_type_ids)}


def prompt_prefix(handle, prompt):
    """A prompt's keys and values at every layer, in the prefix layout.

    On a causal model the prompt's positions attend only to the prompt, so their keys
    and values do not depend on the input after them: reading the prompt once, on its
    own, and handing it to the input as a cache prefix is what prompt tuning computes.
    The prompt is read at positions ``-P .. -1``, so the input keeps the positions it
    has without a prompt (with a gate at zero the output is then exactly the frozen
    model's) while rotary attention sees the prompt just before it, as in the sequence.
    Identical rows (one prompt per label for LT-prompt, repeated over the batch) are
    read once.

    Parameters
    ----------
    handle : BackboneHandle
        A causal model on the cache prefix path, with rotary positions.
    prompt : torch.Tensor of shape (batch, prefix_length, embedding_size)

    Returns
    -------
    prefix : torch.Tensor of shape (batch, prefix_length, n_layers, 2 * n_kv_heads * head_dim)
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    model, shape = handle.model, handle.shape
    batch, n = prompt.shape[:2]
    unique, inverse = torch.unique(prompt.detach().flatten(1), dim=0, return_inverse=True)
    rows = torch.arange(batch, device=prompt.device)
    first = inverse.new_full((len(unique),), batch).scatter_reduce(0, inverse, rows, "amin")
    distinct = prompt.index_select(0, first)
    # Full layers throughout: a sliding-window layer's cache would keep only the window.
    cache = DynamicCache()
    cache.layers = [DynamicLayer() for _ in range(shape.n_layers)]
    positions = torch.arange(-n, 0, device=prompt.device).expand(len(first), n)
    # The prompt's forward is a few tokens: it keeps its activations (no checkpointing,
    # which would append to the cache a second time when recomputing a layer).
    with gradient_checkpointing(False):
        model(
            inputs_embeds=distinct.to(model.dtype),
            attention_mask=torch.ones(len(first), n, dtype=torch.long, device=prompt.device),
            position_ids=positions,
            use_cache=True,
            **{shape.cache_arg: cache},
        )
    kv = torch.stack([torch.stack([layer.keys, layer.values]) for layer in cache.layers])
    # (n_layers, 2, rows, n_kv_heads, P, head_dim) -> (rows, P, n_layers, 2 * n_kv * head_dim)
    prefix = kv.permute(2, 4, 0, 1, 3, 5).reshape(len(first), n, shape.n_layers, -1)
    return prefix.index_select(0, inverse)


def run_backbone(
    handle,
    input_ids,
    attention_mask,
    token_type_ids=None,
    *,
    prefix=None,
    prompt=None,
    prefix_gate=None,
):
    """Run the frozen backbone on a batch, with an optional prefix or prompt.

    Parameters
    ----------
    handle : BackboneHandle
    input_ids, attention_mask : torch.LongTensor of shape (batch, length)
        Right-padded input tokens.
    token_type_ids : torch.LongTensor of shape (batch, length), optional
    prefix : torch.Tensor of shape (batch, prefix_length, n_layers, width)
        Per-layer prefix (prefix methods); ``width`` from :func:`prefix_width`.
    prompt : torch.Tensor of shape (batch, prefix_length, hidden_size)
        Embeddings placed before the input embeddings (prompt methods).
    prefix_gate : torch.Tensor of shape (n_layers, n_heads), optional
        Read the prefix through its own softmax, scaled per layer and head by this
        gate (:func:`_gated_attention`); zero leaves the output as without a prefix.
        Cache path with SDPA attention only. With a ``prompt`` (decoders only), the
        prompt's keys and values read on their own (:func:`prompt_prefix`) are the
        prefix the gate reads.

    Returns
    -------
    hidden : torch.Tensor of shape (batch, length, hidden_size)
        Last hidden states at the input positions only.
    """
    model, shape = handle.model, handle.shape
    if prompt is not None and prefix_gate is not None:
        need = shape.gate_needs("prompt")
        if need:
            raise ValueError(f"A gated prompt needs {need}. Use the ungated prompt with it.")
        # A causal model's prompt never sees the input after it: its keys and values,
        # read once, are a prefix, and the gate applies to them as to any prefix.
        prefix, prompt = prompt_prefix(handle, prompt), None
    if prompt is not None:
        out = model(**_prepend(handle, input_ids, attention_mask, token_type_ids, prompt))
        return out.last_hidden_state[:, prompt.shape[1] :]
    if prefix is None:
        out = model(input_ids=input_ids, **_forward_kwargs(handle, attention_mask, token_type_ids))
        return out.last_hidden_state
    n_virtual = prefix.shape[1]
    if prefix_gate is not None:
        use_gated_attention(handle)  # refuses the hidden path and non-SDPA attention
    if shape.prefix_path == "hidden":
        # Placeholders only: every layer's pre-hook overwrites these positions.
        placeholder = prefix.new_zeros(input_ids.shape[0], n_virtual, shape.hidden_size)
        with _hidden_prefix(prefix):
            out = model(**_prepend(handle, input_ids, attention_mask, token_type_ids, placeholder))
        return out.last_hidden_state[:, n_virtual:]
    batch = input_ids.shape[0]
    mask = torch.cat([attention_mask.new_ones(batch, n_virtual), attention_mask], 1)
    kwargs = _forward_kwargs(handle, mask, token_type_ids, own_cache=True)
    positions = default_position_ids(shape, attention_mask)
    if "position_ids" in shape.forward_args:
        kwargs["position_ids"] = positions
    cache = make_prefix_cache(prefix.to(model.dtype), shape)
    kwargs[shape.cache_arg] = cache
    if prefix_gate is not None:
        # transformers hands a model's extra keyword arguments down to every layer's
        # attention function (also to layers that gradient checkpointing recomputes).
        kwargs.update(prefix_gate=prefix_gate, prefix_length=n_virtual)
        _ACTIVE.gated_layers = 0
    if shape.sliding_layers:
        embeds = model.get_input_embeddings()(input_ids)
        kwargs["attention_mask"] = prefix_attention_mask(handle, mask, embeds, cache, positions)
        hidden = model(inputs_embeds=embeds, **kwargs).last_hidden_state
    else:
        hidden = model(input_ids=input_ids, **kwargs).last_hidden_state
    if prefix_gate is not None and _ACTIVE.gated_layers != shape.n_layers:
        # A model class that does not pass its keyword arguments on would otherwise
        # read the prefix ungated, silently.
        raise ValueError(
            f"The gated prefix reached {_ACTIVE.gated_layers} of {shape.n_layers} attention "
            f"layers of this backbone ({shape.model_type!r}): its model class does not pass "
            "the gate on. Use the ungated prefix with this backbone."
        )
    return hidden


def pool(hidden, mask, how):
    """Pool the positions a mask selects into one vector per row.

    Parameters
    ----------
    hidden : torch.Tensor of shape (batch, length, hidden_size)
    mask : torch.Tensor of shape (batch, length)
        1 at the positions to pool: the attention mask for a whole input, or the
        positions of one segment of a pair (not necessarily at the start).
    how : {"mean", "cls", "last"}
        ``"mean"`` averages the selected positions (what sentence-transformers
        checkpoints were trained for); ``"cls"`` takes the first selected position;
        ``"last"`` the last one (decoders, whose last token is the only one that has
        seen everything before it).

    Returns
    -------
    pooled : torch.Tensor of shape (batch, hidden_size)
    """
    if how == "mean":
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    if how not in ("cls", "last"):
        raise ValueError(f"pooling must be 'mean', 'cls' or 'last'; got {how!r}.")
    selected = mask > 0
    if how == "cls":
        index = selected.int().argmax(1)  # first selected position
    else:
        positions = torch.arange(mask.shape[1], device=mask.device)
        index = torch.where(selected, positions, -1).argmax(1)  # last selected position
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), index]


def pair_blocks(u, v):
    """The four comparison blocks of two pooled segments: [u, v, |u - v|, u * v].

    Sentence-pair classifiers (InferSent, Sentence-BERT) read this form: a linear
    head on it can weigh agreement and difference per dimension, which a single
    vector pooled over both texts has mixed away.

    Parameters
    ----------
    u, v : torch.Tensor of shape (batch, hidden_size)

    Returns
    -------
    features : torch.Tensor of shape (batch, 4 * hidden_size)
    """
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)


def split_segments(input_ids, segment_ids, frame, pad_id):
    """Cut a cross-encoded pair into its two texts, each framed as a single text.

    Parameters
    ----------
    input_ids, segment_ids : torch.LongTensor of shape (batch, length)
        ``segment_ids`` as made by :func:`~sklearn_ltuning.inputs.tokenize`: 1 for
        the first text, 2 for the second, 0 for special tokens.
    frame : tuple of (list of int, list of int)
        Special tokens the tokenizer puts before and after one text ([CLS] and
        [SEP] for BERT).
    pad_id : int

    Returns
    -------
    input_ids, attention_mask : torch.LongTensor of shape (2 * batch, width)
        The first texts of every row, then the second texts, right-padded to one
        width so both go through the backbone in one forward.
    """
    head, tail = (torch.as_tensor(t, dtype=input_ids.dtype, device=input_ids.device) for t in frame)
    batch = input_ids.shape[0]
    keep = torch.cat([segment_ids == 1, segment_ids == 2])  # (2 * batch, length)
    ids = input_ids.repeat(2, 1)
    n_text = keep.sum(1)
    total = len(head) + n_text + len(tail)
    width = int(total.max())
    out = ids.new_full((2 * batch, width), pad_id)
    rank = keep.long().cumsum(1) - 1
    rows, cols = keep.nonzero(as_tuple=True)
    out[rows, len(head) + rank[rows, cols]] = ids[rows, cols]
    if len(head):
        out[:, : len(head)] = head
    if len(tail):
        where = len(head) + n_text.unsqueeze(1) + torch.arange(len(tail), device=ids.device)
        out.scatter_(1, where, tail.expand(2 * batch, -1))
    mask = (torch.arange(width, device=ids.device) < total.unsqueeze(1)).long()
    return out, mask
