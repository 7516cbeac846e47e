"""A prefix read through a zero-initialised gate (its own softmax) starts at the frozen model."""

import contextlib

import numpy as np
import pytest
import torch
from conftest import make_pairs

from benchmarks.reproduce import fixed_split
from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.backbones.injection import (
    GATED_ATTENTION,
    prefix_width,
    prompt_prefix,
    run_backbone,
)
from sklearn_ltuning.backbones.loading import load_backbone
from sklearn_ltuning.callbacks import StepValidation
from sklearn_ltuning.methods import METHODS
from sklearn_ltuning.plan import read_label_set


def _inputs(handle, n_prefix=4):
    torch.manual_seed(0)
    ids = torch.randint(5, 60, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[0, 6:] = 0  # one right-padded row
    shape = handle.shape
    prefix = torch.randn(3, n_prefix, shape.n_layers, prefix_width(shape))
    return ids, mask, prefix


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3", "gpt2"])
def test_zero_gate_reads_exactly_the_frozen_model(tiny_backbones, arch):
    handle = load_backbone(tiny_backbones(arch))
    ids, mask, prefix = _inputs(handle)
    frozen = run_backbone(handle, ids, mask)
    ungated = run_backbone(handle, ids, mask, prefix=prefix)
    gate = torch.zeros(handle.shape.n_layers, handle.shape.n_heads, requires_grad=True)
    prefix.requires_grad_(True)
    gated = run_backbone(handle, ids, mask, prefix=prefix, prefix_gate=gate)
    real = mask.bool()
    assert handle.model.config._attn_implementation == GATED_ATTENTION
    # An ungated prefix moves the output (it shares the softmax with the input) ...
    assert (ungated - frozen)[real].abs().max() > 1e-3
    # ... a gated one at zero leaves it exactly as it was.
    torch.testing.assert_close(gated[real], frozen[real], rtol=0, atol=1e-6)
    # A random projection: a sum or a squared norm is constant after GPT-2's LayerNorm.
    weights = torch.randn(gated.shape[-1], generator=torch.Generator().manual_seed(1))
    (gated[real] @ weights).sum().backward()
    assert gate.grad.abs().max() > 1e-3  # the gate opens from zero
    assert prefix.grad.abs().max() == 0  # the prefix's content counts once it has
    # Every layer's gate acts, on sliding-window layers too (gemma3).
    for layer in range(handle.shape.n_layers):
        opened = torch.zeros_like(gate.detach())
        opened[layer] = 0.5
        moved = run_backbone(handle, ids, mask, prefix=prefix.detach(), prefix_gate=opened)
        assert (moved - frozen)[real].abs().max() > 1e-4, layer
    # The switched backbone reads as before without a gate (it may be shared).
    torch.testing.assert_close(run_backbone(handle, ids, mask), frozen, rtol=0, atol=0)
    torch.testing.assert_close(run_backbone(handle, ids, mask, prefix=prefix), ungated)


def test_gated_prefix_is_the_sum_of_two_softmaxes(tiny_backbones):
    """One layer, checked against attention written out by hand."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from sklearn_ltuning.backbones.injection import _gated_attention

    torch.manual_seed(0)
    module = torch.nn.Module()
    module.layer_idx, module.is_causal, module.num_key_value_groups = 1, True, 1
    q = torch.randn(2, 3, 5, 4)  # (batch, heads, length, dim)
    k, v = torch.randn(2, 3, 2 + 5, 4), torch.randn(2, 3, 2 + 5, 4)
    gate = torch.tensor([[9.0, 9.0, 9.0], [0.0, 0.5, -1.0]])
    out, _ = _gated_attention(module, q, k, v, None, prefix_gate=gate, prefix_length=2)

    def attend(keys, values, causal):
        scores = q @ keys.transpose(-1, -2) / 2.0
        if causal:
            scores = scores.masked_fill(torch.ones(5, 5).triu(1).bool(), float("-inf"))
        return (scores.softmax(-1) @ values).transpose(1, 2)  # (batch, length, heads, dim)

    expected = attend(k[:, :, 2:], v[:, :, 2:], True) + gate[1][None, None, :, None] * attend(
        k[:, :, :2], v[:, :, :2], False
    )
    torch.testing.assert_close(out, expected)
    plain, _ = sdpa_attention_forward(module, q, k, v, None)
    torch.testing.assert_close(_gated_attention(module, q, k, v, None)[0], plain)


def test_gated_prefix_refused_where_it_cannot_be_read(tiny_backbones):
    handle = load_backbone(tiny_backbones("distilbert"))  # prefix as hidden states
    ids, mask, prefix = _inputs(handle)
    gate = torch.zeros(handle.shape.n_layers, handle.shape.n_heads)
    with pytest.raises(ValueError, match="ungated prefix"):
        run_backbone(handle, ids, mask, prefix=prefix, prefix_gate=gate)


@pytest.mark.parametrize("method", ["lt_prefix", "lt_prompt"])
def test_gated_prefix_gradients_survive_checkpointing(tiny_backbones, method):
    handle = load_backbone(tiny_backbones("llama"))
    texts = ["entailment", "neutral", "contradiction"]
    labels = read_label_set(handle, texts, texts, prefix_length=4, hidden=True, embed=False)
    X, y = make_pairs(6)
    columns = [[a for a, _ in X], [b for _, b in X]]
    from sklearn_ltuning.inputs import collate, pad, tokenize

    arrays = pad(tokenize(handle.tokenizer, columns, 48), handle.pad_token_id)
    batch = collate([({k: v[i] for k, v in arrays.items()}, 0) for i in range(len(X))])[0]
    target = torch.tensor([texts.index(v) for v in y])

    def gradients(checkpoint):
        torch.manual_seed(0)
        module = METHODS[method].module(
            handle, 3, 4, "last", labels, gradient_checkpointing=checkpoint, prefix_gate=True
        )
        torch.nn.init.normal_(module.head.linear.weight, std=0.1)
        with torch.no_grad():
            module.gate.fill_(0.3)
        torch.nn.functional.cross_entropy(module(**batch), target).backward()
        return {n: p.grad.clone() for n, p in module.named_parameters()}

    plain, checkpointed = gradients(False), gradients(True)
    assert "gate" in plain
    for name, grad in plain.items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(checkpointed[name], grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["lt_prefix", "prefix", "lt_prompt", "prompt"])
def test_gated_fit_starts_at_the_probe_and_trains_the_gate(tiny_backbones, method):
    rng = np.random.RandomState(0)
    words = ["good", "bad", "fine", "awful", "great", "poor"]
    X = [" ".join(rng.choice(words, 5)) for _ in range(120)]
    y = np.where([sum(w in ("good", "fine", "great") for w in x.split()) >= 3 for x in X],
                 "pos", "neg")  # fmt: skip

    def fit(gate, seed):
        return LTuningClassifier(
            method=method, backbone=tiny_backbones("llama"), random_state=seed, max_epochs=1,
            train_split=fixed_split(80, 40), callbacks=[StepValidation(every=100)],
            prefix_gate=gate,
        ).fit(X, y)  # fmt: skip

    # "auto": gated on a decoder (prefix methods); prompt methods ask for it.
    gate = "auto" if METHODS[method].injects == "prefix" else True
    gated = [fit(gate, seed) for seed in (0, 1)]
    starts = [clf.history_[0, "step_scores"][0] for clf in gated]
    assert starts[0]["step"] == 0
    # Every seed starts at the same point: the probe read without virtual tokens.
    assert starts[0]["valid_acc"] == starts[1]["valid_acc"]
    assert starts[0]["valid_loss"] == pytest.approx(starts[1]["valid_loss"], abs=1e-6)
    module = gated[0].net_.module_
    shape = module.backbone.shape
    assert module.gate.shape == (shape.n_layers, shape.n_heads)
    assert module.gate.abs().max() > 0  # trained
    assert gated[0].recipe_.prefix_gate
    plain = fit(False, 0).net_.module_
    assert plain.gate is None
    assert gated[0].n_trainable_params_ == plain.n_trainable_parameters() + module.gate.numel()
    assert np.isfinite(gated[0].predict_proba(X)).all()


def _gate_lr(clf):
    gate = clf.net_.module_.gate
    (group,) = [g for g in clf.net_.optimizer_.param_groups if any(p is gate for p in g["params"])]
    return group["lr"]


def test_the_gate_trains_at_its_own_rate_unless_the_user_sets_one(tiny_backbones):
    from sklearn_ltuning.training import GATE_LR_SCALE

    X, y = make_pairs(24)
    params = dict(backbone=tiny_backbones("llama"), max_epochs=1, lr=2e-3, lr_schedule="constant")
    clf = LTuningClassifier(**params).fit(X, y)
    assert clf.recipe_.prefix_gate and GATE_LR_SCALE == 10
    assert _gate_lr(clf) == pytest.approx(2e-3 * GATE_LR_SCALE)
    others = [g["lr"] for g in clf.net_.optimizer_.param_groups if g["lr"] != _gate_lr(clf)]
    assert others == [pytest.approx(2e-3)]
    own = {"optimizer__param_groups": [("gate", {"lr": 5e-4})]}
    assert _gate_lr(LTuningClassifier(**params, net_kwargs=own).fit(X, y)) == 5e-4
    ungated = LTuningClassifier(**params, prefix_gate=False).fit(X, y)
    assert len(ungated.net_.optimizer_.param_groups) == 1
    # A gated prompt keeps the rate its screen measured.
    prompt = LTuningClassifier(**params, method="lt_prompt", prefix_gate=True).fit(X, y)
    assert [g["lr"] for g in prompt.net_.optimizer_.param_groups] == [2e-3]


def test_reproduce_gate_variant_records_how_far_the_gate_opened(tiny_backbones):
    from argparse import Namespace

    from benchmarks.reproduce import run_ltuning

    X, y = make_pairs(36)
    data = {"train": (X[:24], y[:24]), "valid": (X[24:30], y[24:30]), "test": (X[30:], y[30:])}
    args = Namespace(backbone=tiny_backbones("llama"), prefix_length=4, max_length=48,
                     epochs=1, batch_size=8)  # fmt: skip
    gated = run_ltuning(data, "lt_prefix:gate", 1e-3, 1, args)
    assert 0 < gated["gate_abs_mean"] <= gated["gate_abs_max"]
    # The gate's own rate, 10x: it opens further in the same steps.
    faster = run_ltuning(data, "lt_prefix:gate10", 1e-3, 1, args)
    assert faster["gate_abs_max"] > 3 * gated["gate_abs_max"]
    assert "gate_abs_mean" not in run_ltuning(data, "lt_prefix", 1e-3, 1, args)  # the paper's


@pytest.mark.parametrize(
    "arch, params, expected",
    [
        ("llama", {}, True),  # a decoder with the probe start
        ("llama", {"method": "prefix"}, True),
        ("llama", {"method": "lt_prompt"}, False),  # prompts: gated only when asked
        ("llama", {"method": "lt_prompt", "prefix_gate": True}, True),
        ("qwen2", {"method": "prompt", "prefix_gate": True}, True),
        ("llama", {"objective": "binary"}, False),  # the paper's scheme: no probe start
        ("llama", {"prefix_gate": False}, False),
        ("bert", {}, False),  # an encoder: its start barely moves
        ("bert", {"prefix_gate": True}, True),
    ],
)
def test_prefix_gate_auto_resolves_per_backbone_and_method(tiny_backbones, arch, params, expected):
    X, y = make_pairs(24)
    clf = LTuningClassifier(backbone=tiny_backbones(arch), max_epochs=1, random_state=0, **params)
    clf.fit(X, y)
    assert clf.recipe_.prefix_gate is expected
    assert (getattr(clf.net_.module_, "gate", None) is not None) is expected


def test_prefix_gate_true_refused_where_the_prefix_is_hidden_states(tiny_backbones):
    X, y = make_pairs(24)
    clf = LTuningClassifier(backbone=tiny_backbones("distilbert"), prefix_gate=True, max_epochs=1)
    with pytest.raises(ValueError, match="prefix_gate=True needs a backbone whose prefix"):
        clf.fit(X, y)


@contextlib.contextmanager
def _loaded_ungateable(monkeypatch):
    """Backbones load as if their attention could not be gated (e.g. not SDPA)."""
    import dataclasses

    from sklearn_ltuning.backbones import loading

    real = loading._shape_of
    monkeypatch.setattr(
        loading,
        "_shape_of",
        lambda *args, **kwargs: dataclasses.replace(real(*args, **kwargs), gateable=False),
    )
    loading.clear_backbone_cache()
    try:
        yield
    finally:
        loading.clear_backbone_cache()


def test_auto_leaves_a_decoder_without_sdpa_ungated(tiny_backbones, monkeypatch):
    with _loaded_ungateable(monkeypatch):
        X, y = make_pairs(24)
        clf = LTuningClassifier(backbone=tiny_backbones("llama"), max_epochs=1).fit(X, y)
        assert clf.recipe_.prefix_gate is False and clf.net_.module_.gate is None
        with pytest.raises(ValueError, match="prefix_gate=True needs"):
            LTuningClassifier(backbone=tiny_backbones("llama"), prefix_gate=True).fit(X, y)


def test_gated_model_round_trips(tiny_backbones, tmp_path):
    X, y = make_pairs(24)
    clf = LTuningClassifier(backbone=tiny_backbones("llama"), max_epochs=1, random_state=0)
    proba = clf.fit(X, y).predict_proba(X)
    loaded = LTuningClassifier.load(clf.save(tmp_path / "m"))
    assert loaded.recipe_.prefix_gate
    torch.testing.assert_close(loaded.net_.module_.gate, clf.net_.module_.gate)
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-6)


@pytest.mark.parametrize("arch, method", [("gpt2", "lt_prompt"), ("distilbert", "lt_prefix")])
def test_an_edited_folder_whose_gate_the_backbone_cannot_read_is_refused_at_loading(
    tiny_backbones, tmp_path, arch, method
):
    import json

    X, y = make_pairs(24)
    clf = LTuningClassifier(backbone=tiny_backbones(arch), method=method, max_epochs=1)
    folder = clf.fit(X, y).save(tmp_path / "m")
    assert not clf.recipe_.prefix_gate
    config = json.loads((folder / "config.json").read_text())
    config["recipe_"]["prefix_gate"] = True  # the gate's state is not even in the weights
    (folder / "config.json").write_text(json.dumps(config))
    kind = method.removeprefix("lt_")
    with pytest.raises(ValueError, match=rf"'recipe_.prefix_gate' is true, but a gated {kind}"):
        LTuningClassifier.load(folder)


def test_a_gated_folder_is_refused_where_the_backbone_loads_ungateable(
    tiny_backbones, tmp_path, monkeypatch
):
    """The same weights read without SDPA (e.g. an older transformers) cannot read the gate."""
    X, y = make_pairs(24)
    clf = LTuningClassifier(backbone=tiny_backbones("llama"), max_epochs=1, random_state=0)
    folder = clf.fit(X, y).save(tmp_path / "m")
    assert clf.recipe_.prefix_gate
    with _loaded_ungateable(monkeypatch):
        with pytest.raises(ValueError, match="a gated prefix needs a backbone whose prefix"):
            LTuningClassifier.load(folder)


def test_version_5_folders_load_ungated(tiny_backbones, tmp_path):
    import json

    X, y = make_pairs(24)
    clf = LTuningClassifier(
        backbone=tiny_backbones("llama"), max_epochs=1, random_state=0, prefix_gate=False
    ).fit(X, y)
    folder = clf.save(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    # As version 5 wrote it: no gate anywhere.
    config["format_version"] = 5
    del config["params"]["prefix_gate"], config["recipe_"]["prefix_gate"]
    (folder / "config.json").write_text(json.dumps(config))
    loaded = LTuningClassifier.load(folder)
    assert loaded.prefix_gate is False and loaded.recipe_.prefix_gate is False
    assert loaded.net_.module_.gate is None
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("method", ["lt_prefix", "lt_prompt"])
def test_int8_prediction_reads_the_gated_prefix(tiny_backbones, method):
    X, y = make_pairs(24)
    clf = LTuningClassifier(
        backbone=tiny_backbones("llama"), method=method, prefix_gate=True, max_epochs=1,
        random_state=0,
    )  # fmt: skip
    proba = clf.fit(X, y).predict_proba(X)
    assert clf.recipe_.prefix_gate
    quantized = clf.set_params(predict_quantization="int8").predict_proba(X)
    np.testing.assert_allclose(quantized, proba, atol=0.05)  # measured: 0.015


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_a_prompt_read_on_its_own_is_the_prompt_in_the_sequence(tiny_backbones, arch, tmp_path):
    """prompt_prefix: the prompt's keys and values as a cache prefix are prompt tuning."""
    import json
    import shutil

    folder = tmp_path / arch
    shutil.copytree(tiny_backbones(arch), folder)
    config = json.loads((folder / "config.json").read_text())
    # Gemma 3's sliding window would hide an in-sequence prompt from later tokens, while
    # a cache prefix stays visible (documented); a window longer than the test inputs.
    config["sliding_window"] = 64
    (folder / "config.json").write_text(json.dumps(config))
    handle = load_backbone(str(folder))
    ids, mask, _ = _inputs(handle)
    distinct = torch.randn(2, 4, handle.shape.embedding_size, requires_grad=True)
    prompt = distinct[torch.tensor([0, 1, 0])]  # LT-prompt: one prompt per label
    in_sequence = run_backbone(handle, ids, mask, prompt=prompt)
    real = mask.bool()
    as_prefix = run_backbone(handle, ids, mask, prefix=prompt_prefix(handle, prompt))
    torch.testing.assert_close(as_prefix[real], in_sequence[real], rtol=1e-4, atol=1e-5)
    # The gated read: the frozen model at a gate of zero, the prompt once it opens.
    frozen = run_backbone(handle, ids, mask)
    gate = torch.zeros(handle.shape.n_layers, handle.shape.n_heads, requires_grad=True)
    gated = run_backbone(handle, ids, mask, prompt=prompt, prefix_gate=gate)
    torch.testing.assert_close(gated[real], frozen[real], rtol=0, atol=1e-6)
    gated[real].sum().backward()
    assert gate.grad.abs().max() > 1e-3
    prompt = distinct[torch.tensor([0, 1, 0])]  # a fresh graph
    opened = run_backbone(handle, ids, mask, prompt=prompt, prefix_gate=gate.detach() + 0.5)
    (opened[real] @ torch.randn(opened.shape[-1])).sum().backward()
    assert distinct.grad[0].abs().max() > 0 and distinct.grad[1].abs().max() > 0


def test_a_gated_prompt_reads_each_distinct_prompt_once(tiny_backbones, monkeypatch):
    handle = load_backbone(tiny_backbones("llama"))
    ids, mask, _ = _inputs(handle)
    rows = []
    real = handle.model.forward

    def spy(*args, **kwargs):
        if "inputs_embeds" in kwargs:
            rows.append(kwargs["inputs_embeds"].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(handle.model, "forward", spy)
    prompt = torch.randn(2, 4, handle.shape.embedding_size)[torch.tensor([1, 0, 1])]
    prefix = prompt_prefix(handle, prompt)
    assert rows == [2]
    torch.testing.assert_close(prefix[0], prefix[2], rtol=0, atol=0)
    assert (prefix[0] - prefix[1]).abs().max() > 0


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
def test_a_gated_prompt_is_refused_without_a_causal_rotary_model(tiny_backbones, arch):
    X, y = make_pairs(24)
    clf = LTuningClassifier(
        backbone=tiny_backbones(arch), method="lt_prompt", prefix_gate=True, max_epochs=1
    )
    with pytest.raises(ValueError, match="causal backbone with rotary positions"):
        clf.fit(X, y)
    # Where no estimator setting was checked (a loaded folder's edited recipe), the read
    # itself refuses, with a message instead of an index error deep in the model.
    handle = load_backbone(tiny_backbones(arch))
    ids, mask, _ = _inputs(handle)
    prompt = torch.randn(3, 4, handle.shape.embedding_size)
    gate = torch.zeros(handle.shape.n_layers, handle.shape.n_heads)
    with pytest.raises(ValueError, match="Use the ungated prompt"):
        run_backbone(handle, ids, mask, prompt=prompt, prefix_gate=gate)
