"""Each family entry of ``backbones/families.py`` against the tiny model of that family."""

import inspect

import pytest
import torch
from conftest import ARCHITECTURES, PROMPT_ONLY

from sklearn_ltuning.backbones.families import FAMILIES, UNKNOWN, family
from sklearn_ltuning.backbones.injection import default_position_ids, install_hidden_prefix_hooks
from sklearn_ltuning.backbones.loading import load_backbone


def _model(tiny_backbones, arch):
    from transformers import AutoModel

    # A fresh copy: the cached handle's model already has the hidden-prefix hooks.
    return AutoModel.from_pretrained(tiny_backbones(arch)).eval()


@pytest.mark.parametrize("arch", ARCHITECTURES + PROMPT_ONLY)
def test_family_entry_matches_the_model(tiny_backbones, arch):
    model = _model(tiny_backbones, arch)
    config = model.config
    assert config.model_type in FAMILIES
    facts = family(config.model_type)
    # Every entry that has a tiny model states all its facts.
    assert facts.prefix_path is not None and facts.token_types is not None
    params = inspect.signature(model.forward).parameters
    ids = torch.tensor([[2, 5, 6, 7, 8, 9], [2, 9, 10, 11, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])

    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=mask).last_hidden_state
        # decoder: changing the last token leaves every earlier position unchanged.
        changed = ids.clone()
        changed[0, 5] = 12
        other = model(input_ids=changed, attention_mask=mask).last_hidden_state
        unchanged = torch.allclose(plain[0, :5], other[0, :5], atol=1e-6)
        assert unchanged == facts.decoder
        # positions: the ids the package passes on the cache path are the model's own.
        if "position_ids" in params:
            explicit = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=default_position_ids(load_backbone(tiny_backbones(arch)).shape, mask),
            ).last_hidden_state
            real = mask.bool()
            torch.testing.assert_close(explicit[real], plain[real], rtol=1e-4, atol=1e-5)

    has_cache = any(a in params for a in ("cache", "past_key_values"))
    if facts.prefix_path == "cache":
        assert has_cache
    else:
        assert not has_cache
        assert install_hidden_prefix_hooks(model) == (facts.prefix_path == "hidden")
    takes_types = "token_type_ids" in params and (config.to_dict().get("type_vocab_size") or 0) >= 2
    assert takes_types == facts.token_types


def test_after_padding_positions_are_pinned_on_a_model_that_uses_them(tiny_backbones):
    # The test above compares explicit ids with the model's own only where forward
    # takes position_ids; make sure one "after_padding" family is really checked.
    model = _model(tiny_backbones, "roberta")
    assert family(model.config.model_type).positions == "after_padding"
    assert "position_ids" in inspect.signature(model.forward).parameters
    mask = torch.tensor([[1, 1, 0]])
    ids = default_position_ids(load_backbone(tiny_backbones("roberta")).shape, mask)
    pad = model.config.pad_token_id
    assert ids.tolist() == [[pad + 1, pad + 2, pad]]


def test_unknown_model_type_is_read_from_the_model():
    assert family("no-such-type") is UNKNOWN
    assert UNKNOWN.prefix_path is None and UNKNOWN.token_types is None
