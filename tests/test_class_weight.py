"""``class_weight``: weighted loss, weighted probe start, save/load of the weights."""

import json

import numpy as np
import pytest
from conftest import make_texts

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.plan import resolve_class_weight


@pytest.fixture(scope="module")
def imbalanced():
    # 30 positive, 10 negative: the minority class is "negative".
    X, y = make_texts(60, seed=1)
    keep = [i for i, v in enumerate(y) if v == "positive"][:30]
    keep += [i for i, v in enumerate(y) if v == "negative"][:10]
    return [X[i] for i in keep], np.asarray(y)[keep]


def test_balanced_weights_follow_sklearn():
    y = np.array(["a"] * 30 + ["b"] * 10)
    assert resolve_class_weight("balanced", np.array(["a", "b"]), y) == (40 / 60, 40 / 20)
    assert resolve_class_weight(None, np.array(["a", "b"]), y) is None


def test_dict_weights_default_to_one_and_match_integer_classes_by_name():
    classes = np.array([0, 1, 2])
    assert resolve_class_weight({1: 3.0}, classes, None) == (1.0, 3.0, 1.0)
    # JSON (a model folder, the command line) gives string keys for integer classes.
    assert resolve_class_weight({"2": 0.5}, classes, None) == (1.0, 1.0, 0.5)


@pytest.mark.parametrize(
    "weights, message",
    [({"c": 2.0}, r"names classes \['c'\] that are not in y"), ({"a": 0}, "positive numbers")],
)
def test_bad_dict_weights_name_the_problem(tiny_bert, imbalanced, weights, message):
    X, y = imbalanced
    y = np.where(y == "positive", "a", "b")
    clf = LTuningClassifier(backbone=tiny_bert, prefix_length=4, max_epochs=1, class_weight=weights)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)


def _start(tiny_bert, X, y, class_weight, method="lt_prefix"):
    # A learning rate too small to move anything: predictions are the probe start.
    return LTuningClassifier(
        method=method,
        backbone=tiny_bert,
        prefix_length=4,
        max_epochs=1,
        lr=1e-12,
        early_stopping=False,
        random_state=0,
        class_weight=class_weight,
    ).fit(X, y)


@pytest.mark.parametrize("method", ["lt_prefix", "prefix"])
def test_balanced_start_gives_the_minority_class_more_probability(tiny_bert, imbalanced, method):
    X, y = imbalanced
    plain = _start(tiny_bert, X, y, None, method)
    balanced = _start(tiny_bert, X, y, "balanced", method)
    minority = list(plain.classes_).index("negative")
    assert balanced.recipe_.class_weight[minority] == pytest.approx(2.0)
    np.testing.assert_allclose(
        balanced.net_.criterion_.weight.numpy(), balanced.recipe_.class_weight
    )
    assert plain.net_.criterion_.weight is None
    p_plain = plain.predict_proba(X)[:, minority].mean()
    p_balanced = balanced.predict_proba(X)[:, minority].mean()
    assert p_balanced > p_plain + 0.01


@pytest.mark.parametrize("objective", ["softmax", "binary"])
def test_weights_change_the_training_loss_and_equal_weights_do_not(
    tiny_bert, imbalanced, objective
):
    X, y = imbalanced

    def first_loss(class_weight):
        clf = LTuningClassifier(
            backbone=tiny_bert,
            prefix_length=4,
            max_epochs=1,
            objective=objective,
            head_init="default",
            early_stopping=False,
            random_state=0,
            class_weight=class_weight,
        ).fit(X, y)
        return clf.history_[-1, "train_loss"]

    plain = first_loss(None)
    assert first_loss({"positive": 1.0, "negative": 1.0}) == pytest.approx(plain, rel=1e-5)
    assert first_loss({"negative": 4.0}) != pytest.approx(plain, rel=1e-3)


def test_weights_survive_save_and_load_with_integer_classes(tiny_bert, imbalanced, tmp_path):
    X, y = imbalanced
    y_int = (y == "positive").astype(int)
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=1, random_state=0, class_weight={0: 2.5}
    ).fit(X, y_int)
    folder = clf.save(tmp_path / "m")
    loaded = LTuningClassifier.load(folder)
    assert loaded.get_params()["class_weight"] == {0: 2.5}
    assert loaded.recipe_.class_weight == (2.5, 1.0)
    np.testing.assert_allclose(loaded.net_.criterion_.weight.numpy(), [2.5, 1.0])
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    # A tampered weight list is refused with the field named.
    config = json.loads((folder / "config.json").read_text())
    config["recipe_"]["class_weight"] = [2.5, -1.0]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="recipe_.class_weight.*one positive number per class"):
        LTuningClassifier.load(folder)
