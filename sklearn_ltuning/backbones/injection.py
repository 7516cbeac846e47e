"""How a prefix or a prompt enters a frozen backbone, and how its output is pooled.

The version-dependent cache handling of transformers lives in :func:`make_prefix_cache`
and nowhere else.

Position convention
-------------------
* Prefix methods: the prefix is a set of extra keys and values at every layer and has
  no position of its own. The input tokens keep positions ``0 .. L-1``, exactly as the
  pre-trained model saw them, so a fully masked prefix leaves the output unchanged.
  Explicit ``position_ids`` are passed because BERT-style embeddings would otherwise
  offset positions by the cache length.
* Prompt methods: the prompt is real input (embeddings) and occupies positions
  ``0 .. P-1``; the input follows at ``P .. P+L-1``.

In both cases inputs are truncated to ``max_positions - prefix_length`` tokens, so one
budget rule holds for all four methods.
"""

from __future__ import annotations

import torch


def make_prefix_cache(prefix):
    """Build a fresh key/value cache holding a prefix for every layer.

    A new cache per forward is required: caches grow in place when the model
    appends the input's own keys and values.

    Parameters
    ----------
    prefix : torch.Tensor of shape (n_layers, 2, batch, n_kv_heads, prefix_length, head_dim)
        Keys (index 0) and values (index 1).

    Returns
    -------
    cache : transformers.DynamicCache
    """
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=[(layer[0], layer[1]) for layer in prefix])


def _forward_kwargs(handle, attention_mask, token_type_ids):
    kwargs = {"attention_mask": attention_mask}
    if token_type_ids is not None and "token_type_ids" in handle.forward_args:
        kwargs["token_type_ids"] = token_type_ids
    return kwargs


def run_backbone(
    handle, input_ids, attention_mask, token_type_ids=None, *, prefix=None, prompt=None
):
    """Run the frozen backbone on a batch, with an optional prefix or prompt.

    Parameters
    ----------
    handle : BackboneHandle
    input_ids, attention_mask : torch.LongTensor of shape (batch, length)
        Right-padded input tokens.
    token_type_ids : torch.LongTensor of shape (batch, length), optional
    prefix : torch.Tensor of shape (n_layers, 2, batch, n_kv_heads, prefix_length, head_dim)
        Per-layer keys and values (prefix methods).
    prompt : torch.Tensor of shape (batch, prefix_length, hidden_size)
        Embeddings placed before the input embeddings (prompt methods).

    Returns
    -------
    hidden : torch.Tensor of shape (batch, length, hidden_size)
        Last hidden states at the input positions only.
    """
    model, shape = handle.model, handle.shape
    batch, length = input_ids.shape
    if prompt is not None:
        n_virtual = prompt.shape[1]
        ones = attention_mask.new_ones(batch, n_virtual)
        embeds = torch.cat([prompt, model.get_input_embeddings()(input_ids)], dim=1)
        if token_type_ids is not None:
            token_type_ids = torch.cat(
                [token_type_ids.new_zeros(batch, n_virtual), token_type_ids], 1
            )
        kwargs = _forward_kwargs(handle, torch.cat([ones, attention_mask], 1), token_type_ids)
        out = model(inputs_embeds=embeds, **kwargs)
        return out.last_hidden_state[:, n_virtual:]
    if prefix is not None:
        if not shape.supports_cache:
            raise ValueError(
                f"Backbones of type {shape.model_type!r} take no key/value cache, so the "
                "prefix methods ('lt_prefix', 'prefix') cannot inject a prefix into them. "
                "Use method='lt_prompt' or method='prompt' with this backbone."
            )
        n_virtual = prefix.shape[-2]
        mask = torch.cat([attention_mask.new_ones(batch, n_virtual), attention_mask], 1)
        kwargs = _forward_kwargs(handle, mask, token_type_ids)
        if "position_ids" in handle.forward_args:
            positions = torch.arange(length, device=input_ids.device)
            kwargs["position_ids"] = positions.unsqueeze(0).expand(batch, length)
        kwargs[shape.cache_arg] = make_prefix_cache(prefix)
        out = model(input_ids=input_ids, **kwargs)
        return out.last_hidden_state
    out = model(input_ids=input_ids, **_forward_kwargs(handle, attention_mask, token_type_ids))
    return out.last_hidden_state


def pool(hidden, attention_mask, how):
    """Pool the input positions into one vector per row.

    Parameters
    ----------
    hidden : torch.Tensor of shape (batch, length, hidden_size)
    attention_mask : torch.LongTensor of shape (batch, length)
        Right-padded: real tokens first.
    how : {"mean", "cls", "last"}
        ``"mean"`` averages real tokens (what sentence-transformers checkpoints were
        trained for); ``"cls"`` takes the first token; ``"last"`` the last real token
        (decoders, whose last token is the only one that has seen the whole input).

    Returns
    -------
    pooled : torch.Tensor of shape (batch, hidden_size)
    """
    if how == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    if how == "cls":
        return hidden[:, 0]
    if how == "last":
        last = attention_mask.sum(1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling must be 'mean', 'cls' or 'last'; got {how!r}.")
