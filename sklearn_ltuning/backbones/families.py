"""Backbone family facts, one table keyed by ``config.model_type``.

Loading (:func:`~sklearn_ltuning.backbones.loading.load_backbone`) and prefix
injection (:mod:`~sklearn_ltuning.backbones.injection`) read these facts here and
nowhere else. ``tests/test_families.py`` pins every entry that has a tiny model in
the test suite against what that model really does; a family missing from the
table is treated as a decoder with absolute positions, and its prefix path and
segment ids are read from its ``forward`` signature.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """What sklearn_ltuning needs to know about one model family.

    Attributes
    ----------
    decoder : bool
        Causal self-attention: pooled from the last real token by default, and the
        recipe's ``"auto"`` keeps the paper's scheme.
    positions : {"absolute", "after_padding"}
        Position ids the model gives an input without a prefix (passed explicitly
        on the cache path, where the model would otherwise count the prefix):
        ``"absolute"`` counts from 0 (also the rotary models' ids);
        ``"after_padding"`` counts real tokens from ``pad_token_id + 1`` and gives
        pads ``pad_token_id`` (RoBERTa's ``create_position_ids_from_input_ids``), so
        the first ``pad_token_id + 1`` rows of the position table are never a real
        token's and the input budget is that much shorter.
    prefix_path : {"cache", "hidden", "none"} or None
        How a prefix enters every layer: as keys/values through the model's cache,
        as per-layer hidden states of placeholder positions (models whose attention
        takes no cache), or not at all (prompt methods only, e.g. ALBERT's one
        shared layer). None: read from the model's ``forward`` signature.
    token_types : bool or None
        Whether the model takes segment ids (``token_type_ids`` with at least two
        types). None: read from the model's signature and config.
    """

    decoder: bool
    positions: str = "absolute"
    prefix_path: str | None = None
    token_types: bool | None = None


_ENCODER_CACHE = Family(decoder=False, prefix_path="cache", token_types=True)
_ROBERTA = Family(decoder=False, positions="after_padding", prefix_path="cache", token_types=False)
_DECODER = Family(decoder=True, prefix_path="cache", token_types=False)

#: ``config.model_type`` -> family facts. Entries with a tiny model in the tests are
#: complete; the others give only what is known without one (None: read from the model).
FAMILIES = {
    "bert": _ENCODER_CACHE,
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
    "camembert": _ROBERTA,
    "distilbert": Family(decoder=False, prefix_path="hidden", token_types=False),
    "mpnet": Family(
        decoder=False, positions="after_padding", prefix_path="hidden", token_types=False
    ),
    "deberta-v2": Family(decoder=False, prefix_path="hidden", token_types=False),
    "modernbert": Family(decoder=False, prefix_path="hidden", token_types=False),
    "albert": Family(decoder=False, prefix_path="none", token_types=True),
    "electra": Family(decoder=False),
    "deberta": Family(decoder=False),
    "ernie": Family(decoder=False),
    "nomic_bert": Family(decoder=False),
    "xlm": Family(decoder=False),
    "gpt2": _DECODER,
    "llama": _DECODER,
    "qwen2": _DECODER,
    # Sliding-window and global layers mixed (config.layer_types); see injection.py.
    "gemma3_text": _DECODER,
    "gemma2": _DECODER,
}
#: Facts assumed for a model type missing from :data:`FAMILIES`.
UNKNOWN = Family(decoder=True)


def family(model_type):
    """The facts of ``model_type`` (:data:`UNKNOWN` when it is not in the table)."""
    return FAMILIES.get(model_type, UNKNOWN)
