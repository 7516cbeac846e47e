"""The four methods: parameter counts, how virtual tokens change the backbone, K-way scoring."""

import pytest
import torch

from sklearn_ltuning.backbones.injection import make_prefix_cache, pool, prefix_width, run_backbone
from sklearn_ltuning.backbones.loading import load_backbone
from sklearn_ltuning.methods import METHODS
from sklearn_ltuning.plan import read_label_set


@pytest.fixture(scope="module")
def handle(tiny_bert):
    return load_backbone(tiny_bert)


@pytest.fixture(scope="module")
def batch(handle):
    enc = handle.tokenizer(
        ["a man plays in the park.", "the dog sleeps."],
        ["a man plays.", "nobody sleeps."],
        padding=True,
        return_tensors="pt",
    )
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def build(handle, method, length=4, trained_head=True, **kwargs):
    texts = ["entailment", "neutral", "contradiction"]
    labels = read_label_set(handle, texts, texts, prefix_length=length, hidden=True, embed=False)
    torch.manual_seed(0)
    module = METHODS[method].module(handle, 3, length, "mean", labels, **kwargs)
    if trained_head:  # as after some training: the L-Tuning head starts at zero
        torch.nn.init.normal_(module.head.linear.weight, std=0.1)
    return module


@pytest.mark.parametrize("method", ["lt_prefix", "lt_prompt"])
def test_l_tuning_starts_with_a_zero_head_and_prefixes_at_the_backbone_scale(handle, method):
    extra = {"max_initial_shift": float("inf")} if method == "lt_prefix" else {}
    module = build(handle, method, trained_head=False, **extra)
    assert torch.count_nonzero(module.head.linear.weight) == 0
    if method == "lt_prefix":
        prefixes = module.label_prefixes(module.label_hidden)
        target = handle.prefix_rms  # (n_layers, n_parts): keys and values of each layer
        grouped = prefixes.reshape(*prefixes.shape[:3], target.shape[1], -1)
        rms = grouped.pow(2).mean(dim=(0, 1, 4)).sqrt()
        torch.testing.assert_close(rms, target, rtol=1e-4, atol=0)


def test_lt_prefix_parameter_count_matches_the_paper(handle):
    # Appendix A.5: d (pooling) + 2 l^2 m d (key/value map, no bias) + 2d (head).
    s, length = handle.shape, 4
    assert s.n_kv_heads * s.head_dim == s.hidden_size  # the configuration the formula describes
    d, m = s.hidden_size, s.n_layers
    module = build(handle, "lt_prefix", length)
    assert module.n_trainable_parameters() == 2 * length**2 * m * d + 3 * d


def test_lt_prompt_parameter_count_matches_the_paper(handle):
    d = handle.shape.hidden_size
    assert build(handle, "lt_prompt").n_trainable_parameters() == d * (d + 2)


def test_token_variant_maps_each_label_token(handle):
    s = handle.shape
    module = build(handle, "lt_prefix", label_map="token")
    per_position = s.n_layers * 2 * s.hidden_size
    assert module.n_trainable_parameters() == s.hidden_size * per_position + 2 * s.hidden_size


def test_masked_prefix_leaves_the_output_unchanged(handle, batch):
    # The position convention: inputs keep positions 0..L-1 with a prefix present,
    # so a prefix that no token may attend to changes nothing.
    s = handle.shape
    prefix = torch.randn(2, 3, s.n_layers, prefix_width(s))
    plain = run_backbone(handle, **batch)
    with torch.no_grad():
        mask = torch.cat([torch.zeros(2, 3, dtype=torch.long), batch["attention_mask"]], 1)
        masked = handle.model(
            input_ids=batch["input_ids"],
            attention_mask=mask,
            token_type_ids=batch["token_type_ids"],
            position_ids=torch.arange(batch["input_ids"].shape[1]).expand(2, -1),
            **{s.cache_arg: make_prefix_cache(prefix, s)},
        ).last_hidden_state
        attended = run_backbone(handle, **batch, prefix=prefix)
    torch.testing.assert_close(masked, plain)
    assert (attended - plain).abs().max() > 1e-3


def test_prefix_cache_holds_keys_and_values_per_layer(handle):
    s = handle.shape
    prefix = torch.arange(2 * 3 * s.n_layers * prefix_width(s), dtype=torch.float32)
    cache = make_prefix_cache(prefix.view(2, 3, s.n_layers, -1), s)
    assert cache.get_seq_length() == 3
    keys = cache.layers[1].keys
    assert keys.shape == (2, s.n_kv_heads, 3, s.head_dim)
    # Position 0 of row 0 at layer 1: keys are the first half of that width slice.
    start = 1 * prefix_width(s)
    assert keys[0, 0, 0, 0].item() == start


@pytest.mark.parametrize("method", sorted(METHODS))
def test_virtual_tokens_change_the_backbone_output(handle, batch, method):
    module = build(handle, method)
    with torch.no_grad():
        plain = pool(run_backbone(handle, **batch), batch["attention_mask"], "mean")
        idx = torch.tensor([0, 1])
        tokens = module.virtual_tokens(2, idx)
        steered = pool(
            run_backbone(handle, **batch, **{module.injects: tokens}),
            batch["attention_mask"],
            "mean",
        )
    assert (steered - plain).abs().max() > 1e-4


@pytest.mark.parametrize("method", ["lt_prefix", "lt_prompt"])
def test_batched_k_way_scores_equal_per_label_scores(handle, batch, method):
    module = build(handle, method).eval()
    with torch.no_grad():
        folded = module(**batch)
        assert folded.shape == (2, 3)
        for k in range(3):
            one = module.score_pairs(**batch, label_idx=torch.full((2,), k))
            torch.testing.assert_close(folded[:, k], one, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["lt_prefix", "lt_prompt"])
def test_different_labels_give_different_scores(handle, batch, method):
    module = build(handle, method).eval()
    with torch.no_grad():
        scores = module(**batch)
    assert scores.std(dim=1).min() > 0


def test_gradients_reach_only_the_method_and_head(handle, batch):
    module = build(handle, "lt_prefix")
    loss = module.score_pairs(**batch, label_idx=torch.tensor([0, 2])).sum()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    assert all(p.grad is None for p in handle.model.parameters())
    assert not any(p.requires_grad for p in handle.model.parameters())
    assert all(not n.startswith("backbone") for n in module.state_dict())
