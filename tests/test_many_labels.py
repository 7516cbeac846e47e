"""Many labels at bounded cost: sampled negatives, shortlisted prediction, readable label
texts from class names, and int8 prediction."""

import json
import random

import numpy as np
import pytest
import torch

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.labels import default_label_text

NAMES = "man woman child dog cat guitar ball music food park street house".split()


def make_many(n_per_class=4, seed=0):
    """Single texts over 12 classes whose names are words of the tiny vocabulary."""
    rng = random.Random(seed)
    X, y = [], []
    for _ in range(n_per_class):
        for name in NAMES:
            X.append(f"a {name} is {rng.choice(['here', 'outside', 'inside'])} .")
            y.append(name)
    return X, y


@pytest.fixture(scope="module")
def many(tiny_bert):
    X, y = make_many()
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=1, batch_size=8, random_state=0,
        negatives=3, hard_negatives=1, shortlist=4,
    ).fit(X, y)  # fmt: skip
    return clf, X, y


def test_auto_settings_switch_at_the_measured_label_count(tiny_bert, pairs):
    from sklearn_ltuning.plan import AUTO_NEGATIVES, AUTO_SHORTLIST, resolve_shortlist

    X, y = pairs
    three = LTuningClassifier(backbone=tiny_bert, prefix_length=4, max_epochs=1).fit(X, y)
    assert three.recipe_.negatives is None and three.plan_.shortlist is None
    X12, y12 = make_many(2)
    twelve = LTuningClassifier(backbone=tiny_bert, prefix_length=4, max_epochs=1).fit(X12, y12)
    assert twelve.recipe_.negatives == AUTO_NEGATIVES and twelve.recipe_.hard_negatives > 0
    assert twelve.plan_.shortlist == AUTO_SHORTLIST
    assert resolve_shortlist("auto", 3) is None and resolve_shortlist(5, 5) is None
    binary = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=1, objective="binary"
    ).fit(X12, y12)
    assert binary.recipe_.negatives is None  # the paper draws one wrong label per input


def test_shortlist_of_k_equal_to_k_is_exactly_the_exhaustive_prediction(many):
    clf, X, _ = many
    exhaustive = clf.set_params(shortlist=None).predict_proba(X)
    full = clf.set_params(shortlist=len(clf.classes_)).predict_proba(X)
    clf.set_params(shortlist=4)
    np.testing.assert_array_equal(full, exhaustive)


def test_shortlisted_probabilities_sum_to_one_and_rank_sensibly(many):
    clf, X, _ = many
    module = clf.net_.module_
    exhaustive = clf.set_params(shortlist=None).decision_function(X)
    clf.set_params(shortlist=4)
    scores = clf.decision_function(X)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 12)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    arrays, order = clf.plan_.sorted_arrays([X])
    arrays.pop("length")
    with torch.no_grad():
        frozen = module.frozen_scores(**{k: torch.as_tensor(v) for k, v in arrays.items()})
    top = np.empty((len(X), 4), dtype=int)
    top[order] = frozen.topk(4, dim=1).indices.numpy()
    for i in range(len(X)):
        inside = set(top[i])
        # Shortlisted labels have their full scores; the prediction is one of them and
        # every left-out label ranks below every shortlisted one.
        np.testing.assert_allclose(scores[i, top[i]], exhaustive[i, top[i]], rtol=1e-5, atol=1e-5)
        assert scores[i].argmax() in inside
        out = [j for j in range(12) if j not in inside]
        assert scores[i, out].max() < scores[i, top[i]].min()
        # The left-out labels keep the frozen reading's order among themselves.
        f = frozen[list(order).index(i)].numpy()
        ranked = sorted(out, key=lambda j: -f[j])
        assert all(scores[i, a] >= scores[i, b] for a, b in zip(ranked, ranked[1:], strict=False))


def test_open_labels_with_a_shortlist(many):
    clf, X, _ = many
    labels = {f"label{i}": name for i, name in enumerate(NAMES[::-1] + ["music", "food"][:0])}
    proba = clf.predict_proba(X[:5], labels=labels)
    assert proba.shape == (5, 12)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert set(clf.predict(X[:5], labels=labels)) <= set(labels)
    clf.set_params(shortlist=None)
    exhaustive = clf.predict_proba(X[:5], labels=labels)
    clf.set_params(shortlist=12)
    np.testing.assert_array_equal(clf.predict_proba(X[:5], labels=labels), exhaustive)
    clf.set_params(shortlist=4)


def test_sampled_training_reads_only_the_sampled_labels(many, monkeypatch):
    clf, X, y = many
    net, module = clf.net_, clf.net_.module_
    seen = []
    real = module.score_candidates

    def spy(*args, candidates, **kwargs):
        seen.append(candidates.clone())
        return real(*args, candidates=candidates, **kwargs)

    monkeypatch.setattr(module, "score_candidates", spy)
    arrays = clf.plan_.arrays([X[:8]])
    Xi, yi = (
        {k: torch.as_tensor(v) for k, v in arrays.items() if k != "length"},
        torch.as_tensor(np.searchsorted(clf.classes_, y[:8])),
    )
    module.zero_grad()
    loss, _ = net._sampled_step(Xi, yi, 12)
    loss.backward()
    (candidates,) = seen
    assert candidates.shape == (8, 1 + 3)  # own label + 3 negatives, not 12 readings
    assert (candidates[:, 0] == yi).all()
    assert all(len(set(row.tolist())) == 4 for row in candidates)  # no label twice
    # The bilinear head's per-class residual moves only for the labels that were read.
    touched = set(candidates.flatten().tolist())
    grad = module.head.label_residual.grad.abs().sum(0)
    assert {int(j) for j in torch.nonzero(grad).flatten()} == touched
    # The hard negative is the frozen reading's best wrong label.
    with torch.no_grad():
        frozen = module.frozen_scores(**Xi)
    frozen[torch.arange(8), yi] = -torch.inf
    assert (candidates[:, 1] == frozen.argmax(1)).all()


def test_sampled_softmax_correction_weighs_random_draws():
    from sklearn_ltuning.training import LTuningNet

    net = LTuningNet(torch.nn.Linear(1, 1), negatives=4, hard_negatives=0)
    net.rng_ = torch.Generator().manual_seed(0)

    class NoRanking:
        def frozen_scores(self, **kwargs):
            return None

    net.module_ = NoRanking()
    candidates, correction = net._candidates({}, torch.tensor([0, 5]), 11)
    assert candidates.shape == (2, 5)
    # 4 of the 10 wrong labels drawn: each stands for 10 / 4 of them.
    np.testing.assert_allclose(correction.numpy(), [0] + [np.log(10 / 4)] * 4, rtol=1e-6)


def test_new_settings_survive_save_and_load(many, tmp_path):
    clf, X, _ = many
    loaded = LTuningClassifier.load(clf.save(tmp_path / "m"))
    assert (loaded.negatives, loaded.hard_negatives, loaded.shortlist) == (3, 1, 4)
    assert loaded.recipe_.negatives == 3 and loaded.recipe_.hard_negatives == 1
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["recipe_"]["negatives"] == 3


def test_readable_label_texts_from_identifiers():
    assert default_label_text("card_arrival") == "card arrival"
    assert default_label_text("CardArrival") == "card arrival"
    assert default_label_text("getATMCard") == "get atm card"
    assert default_label_text("top-up_failed") == "top up failed"
    assert default_label_text("The relation") == "The relation"


def test_callable_label_texts_are_used_and_not_stored(tiny_bert, tmp_path):
    X, y = make_many(2)
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=1, random_state=0,
        label_texts=lambda name: f"a {name}",
    ).fit(X, y)  # fmt: skip
    assert clf.label_texts_[0] == f"a {clf.classes_[0]}"
    clf.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert "label_texts" in config["not_stored"] and config["params"]["label_texts"] is None
    loaded = LTuningClassifier.load(tmp_path / "m")
    assert loaded.label_texts is None and loaded.label_texts_ == clf.label_texts_


#: Largest probability difference allowed between int8 and float prediction on the tiny
#: BERT. Measured: at most 0.0002 over six fits (12-label texts and 3-label pairs, seeds
#: 0-2). The real backbones' accuracy figures are in BENCHMARKS.md ("int8 prediction").
INT8_ATOL = 0.005


def test_int8_prediction_is_close_to_float_and_leaves_the_float_backbone(many):
    clf, X, _ = many
    clf.set_params(shortlist=None)
    float_proba = clf.predict_proba(X)
    clf.set_params(predict_quantization="int8")
    int8_proba = clf.predict_proba(X)
    clf.set_params(predict_quantization=None, shortlist=4)
    np.testing.assert_allclose(int8_proba.sum(1), 1.0, rtol=1e-6)
    assert np.abs(int8_proba - float_proba).max() < INT8_ATOL
    assert (int8_proba.argmax(1) == float_proba.argmax(1)).mean() >= 0.9
    assert not np.array_equal(int8_proba, float_proba)  # the int8 copy was really used
    # The fitted model still reads with its float backbone.
    assert clf.net_.module_.backbone is clf.backbone_
    clf.set_params(shortlist=None)
    np.testing.assert_array_equal(clf.predict_proba(X), float_proba)
    clf.set_params(shortlist=4)


def test_int8_prediction_keeps_prefix_injection_correct(tiny_backbones):
    # A quantized copy of the decoder still takes a prefix through its cache: a masked
    # prefix leaves it as it is, an unmasked one moves it.
    from sklearn_ltuning.backbones.injection import make_prefix_cache, prefix_width, run_backbone
    from sklearn_ltuning.backbones.loading import int8_backbone, load_backbone

    handle = int8_backbone(load_backbone(tiny_backbones("llama")))
    assert handle.quantized == "int8"
    s = handle.shape
    ids, mask = torch.tensor([[2, 5, 6, 7, 8]]), torch.ones(1, 5, dtype=torch.long)
    prefix = torch.randn(1, 3, s.n_layers, prefix_width(s))
    with torch.no_grad():
        plain = run_backbone(handle, ids, mask)
        moved = run_backbone(handle, ids, mask, prefix=prefix)
        masked = handle.model(
            input_ids=ids,
            attention_mask=torch.cat([torch.zeros(1, 3, dtype=torch.long), mask], 1),
            position_ids=torch.arange(5)[None],
            cache=make_prefix_cache(prefix, s),
        ).last_hidden_state
    assert (moved - plain).abs().max() > 1e-3
    torch.testing.assert_close(masked, plain, rtol=1e-4, atol=1e-4)


def test_int8_is_refused_off_the_cpu_with_the_fix(many, monkeypatch):
    clf, X, _ = many
    handle = clf.backbone_
    monkeypatch.setattr(handle, "device", torch.device("cuda"))
    with pytest.raises(ValueError, match=r"CPU prediction.*predict_quantization=None"):
        clf.set_params(predict_quantization="int8").predict(X)
    clf.set_params(predict_quantization=None)
