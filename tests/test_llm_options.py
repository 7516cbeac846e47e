"""Options for large decoders: backbone dtype, gradient checkpointing, quantized loading,
and prefixes on sliding-window layers."""

import numpy as np
import pytest
import torch
from conftest import make_pairs

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.backbones.injection import (
    default_position_ids,
    make_prefix_cache,
    prefix_attention_mask,
    prefix_width,
    run_backbone,
)
from sklearn_ltuning.backbones.loading import load_backbone
from sklearn_ltuning.inputs import collate, pad, tokenize
from sklearn_ltuning.methods import METHODS, method_spec
from sklearn_ltuning.plan import make_plan, read_label_set
from sklearn_ltuning.training import Loop, restore_net

#: Largest probability difference allowed between a bfloat16 and a float32 backbone with
#: the same trained numbers. Measured on the tiny models (bert, llama, gemma3; all four
#: methods): at most 0.008.
BF16_ATOL = 0.02


def _twin(clf, **params):
    """The fitted estimator's trained numbers on a backbone loaded with other settings."""
    twin = LTuningClassifier(**{**clf.get_params(), **params})
    plan = make_plan(
        twin,
        method_spec(clf.method),
        twin._load_backbone(),
        clf.recipe_,
        clf.classes_,
        clf.label_texts_,
        clf.max_input_tokens_,
        clf.n_features_in_,
    )
    net = restore_net(plan, Loop.of(twin), clf.net_.module_.state_dict(), [])
    return twin._set_fitted(plan, net, clf.classes_, None)


@pytest.mark.parametrize(
    "arch, params",
    [
        (arch, {"method": method})
        for arch in ("bert", "llama", "gemma3")
        for method in ("lt_prefix", "prompt")
    ]
    + [(arch, {"method": "lt_prompt", "prefix_gate": True}) for arch in ("llama", "gemma3")],
)
def test_bfloat16_backbone_predicts_as_float32(tiny_backbones, arch, params):
    X, y = make_pairs(24)
    clf = LTuningClassifier(
        backbone=tiny_backbones(arch), prefix_length=4, max_epochs=1, random_state=0, **params
    ).fit(X, y)
    bf16 = _twin(clf, dtype="bfloat16")
    assert bf16.backbone_.model.dtype == torch.bfloat16
    # The trained parts stay float32.
    assert all(p.dtype == torch.float32 for p in bf16.net_.module_.parameters())
    np.testing.assert_allclose(bf16.predict_proba(X), clf.predict_proba(X), atol=BF16_ATOL)


def test_bfloat16_fits_and_round_trips(tiny_backbones, tmp_path):
    X, y = make_pairs(24)
    clf = LTuningClassifier(
        backbone=tiny_backbones("llama"), dtype="bfloat16", prefix_length=4, max_epochs=1,
        random_state=0,
    ).fit(X, y)  # fmt: skip
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    loaded = LTuningClassifier.load(clf.save(tmp_path / "m"))
    assert loaded.dtype == "bfloat16" and loaded.backbone_.model.dtype == torch.bfloat16
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-6)


def _batch(handle, X):
    columns = [[a for a, _ in X], [b for _, b in X]]
    arrays = pad(tokenize(handle.tokenizer, columns, 48), handle.pad_token_id)
    return collate([({k: v[i] for k, v in arrays.items()}, 0) for i in range(len(X))])[0]


@pytest.mark.parametrize(
    "arch, method, encoding",
    [
        ("llama", "lt_prefix", "joint"),  # cache path on a decoder
        ("gemma3", "lt_prefix", "cross"),  # cache path with sliding-window layers
        ("bert", "prefix", "separate"),  # cache path, two forwards per pair
        ("distilbert", "lt_prefix", "joint"),  # hidden-state path (pre-hooks)
        ("llama", "lt_prompt", "joint"),  # prompt path
    ],
)
def test_gradient_checkpointing_gives_the_same_gradients(tiny_backbones, arch, method, encoding):
    handle = load_backbone(tiny_backbones(arch))
    texts = ["entailment", "neutral", "contradiction"]
    labels = read_label_set(handle, texts, texts, prefix_length=4, hidden=True, embed=False)
    X, y = make_pairs(6)
    batch = _batch(handle, X)
    target = torch.tensor([texts.index(v) for v in y])
    attention = next(m for name, m in handle.model.named_modules() if name.endswith("attn") or
                     name.endswith("attention"))  # fmt: skip
    calls = []
    hook = attention.register_forward_hook(lambda *args: calls.append(1))

    def gradients(checkpoint):
        torch.manual_seed(0)
        module = METHODS[method].module(
            handle, 3, 4, "mean", labels, pair_encoding=encoding,
            gradient_checkpointing=checkpoint,
        )  # fmt: skip
        torch.nn.init.normal_(module.head.linear.weight, std=0.1)  # the pair head starts at 0
        calls.clear()
        loss = torch.nn.functional.cross_entropy(module(**batch), target)
        loss.backward()
        return {n: p.grad.clone() for n, p in module.named_parameters()}, len(calls)

    try:
        plain, n_plain = gradients(False)
        checkpointed, n_checkpointed = gradients(True)
    finally:
        hook.remove()
    assert n_checkpointed == 2 * n_plain  # every layer ran again in the backward pass
    assert plain.keys() == checkpointed.keys()
    for name, grad in plain.items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-4, atol=1e-6)


def test_checkpointing_is_an_estimator_setting_that_trains_the_same(tiny_backbones):
    X, y = make_pairs(24)
    common = dict(backbone=tiny_backbones("llama"), prefix_length=4, max_epochs=1, random_state=0)
    plain = LTuningClassifier(**common).fit(X, y)
    checkpointed = LTuningClassifier(gradient_checkpointing=True, **common).fit(X, y)
    np.testing.assert_allclose(
        checkpointed.predict_proba(X), plain.predict_proba(X), rtol=1e-4, atol=1e-6
    )


def test_quantized_loading_is_refused_without_a_gpu(tiny_bert, pairs):
    X, y = pairs
    with pytest.raises(ValueError, match=r"load_in='8bit'.*CUDA GPU.*load_in=None"):
        LTuningClassifier(backbone=tiny_bert, load_in="8bit").fit(X, y)
    with pytest.raises(ValueError, match="load_in"):
        LTuningClassifier(backbone=tiny_bert, load_in="2bit").fit(X, y)
    with pytest.raises(ValueError, match="dtype"):
        LTuningClassifier(backbone=tiny_bert, dtype="int8").fit(X, y)


def _sliding_only(tmp_path):
    """A one-layer Gemma 3 whose only layer attends within a window of 4 tokens."""
    import transformers as T
    from conftest import _byte_level_tokenizer

    tokenizer = _byte_level_tokenizer()
    config = T.Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, intermediate_size=64, max_position_embeddings=64,
        sliding_window=4, layer_types=["sliding_attention"], bos_token_id=0, eos_token_id=1,
        pad_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    T.AutoModel.from_config(config).save_pretrained(tmp_path / "gemma3")
    tokenizer.save_pretrained(tmp_path / "gemma3")
    return load_backbone(str(tmp_path / "gemma3"))


def test_cache_prefix_reaches_every_position_of_a_sliding_window_layer(tmp_path):
    handle = _sliding_only(tmp_path)
    assert handle.shape.sliding_layers
    enc = handle.tokenizer(
        ["a man plays in the park with the dog and the cat .", "a dog runs ."],
        return_tensors="pt",
        padding=True,
    )
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert ids.shape[1] > 3 * 4  # well past the window
    prefix = torch.randn(2, 3, 1, prefix_width(handle.shape))
    with torch.no_grad():
        zero = run_backbone(handle, ids, mask, prefix=torch.zeros_like(prefix))
        moved = (run_backbone(handle, ids, mask, prefix=prefix) - zero).norm(dim=-1)
        # Every real position reads the prefix (without its own mask, only the first
        # window - 1 positions did).
        assert (moved[mask.bool()] > 1e-3).all()
        # A masked prefix leaves the model as it is: the window still applies among the
        # input's own tokens, padding too.
        plain = handle.model(input_ids=ids, attention_mask=mask).last_hidden_state
        cache = make_prefix_cache(prefix, handle.shape)
        positions = default_position_ids(handle.shape, mask)
        embeds = handle.model.get_input_embeddings()(ids)
        masked_prefix = torch.cat([torch.zeros(2, 3, dtype=torch.long), mask], 1)
        masks = prefix_attention_mask(handle, masked_prefix, embeds, cache, positions)
        masked = handle.model(
            inputs_embeds=embeds, attention_mask=masks, position_ids=positions, cache=cache
        ).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(masked[real], plain[real], rtol=1e-4, atol=1e-5)


def test_device_auto_takes_the_gpu_only_when_there_is_one(tiny_bert):
    X, y = make_pairs(24)
    clf = LTuningClassifier(backbone=tiny_bert, max_epochs=1, prefix_length=4, device="auto")
    clf.fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert clf.backbone_.device.type == expected
    assert clf.net_.device.split(":")[0] == expected
    assert clf.predict_proba(X[:3]).shape == (3, 3)
