"""Labels given at predict time (issue: open label sets) for the L-Tuning methods."""

import numpy as np
import pytest

from sklearn_ltuning import LTuningClassifier


@pytest.fixture(scope="module", params=["lt_prefix", "lt_prompt"])
def fitted(request, tiny_bert, texts):
    X, y = texts
    return LTuningClassifier(
        method=request.param, backbone=tiny_bert, prefix_length=6, max_epochs=1, random_state=0
    ).fit(X, y)


def test_new_labels_change_columns_and_keep_the_fitted_classes(fitted, texts):
    X, _ = texts
    before = fitted.predict_proba(X)
    labels = {"sport": "this is about sport", "science": "this is about science", "good": "good"}
    proba = fitted.predict_proba(X, labels=labels)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert set(fitted.predict(X, labels=labels)) <= set(labels)
    # The fitted classes and their scores are untouched by the call.
    assert list(fitted.classes_) == ["negative", "positive"]
    np.testing.assert_allclose(fitted.predict_proba(X), before, rtol=1e-6)


def test_fitted_texts_as_labels_reproduce_the_fitted_prediction(fitted, texts):
    X, _ = texts
    labels = dict(zip(fitted.classes_, fitted.label_texts_, strict=True))
    np.testing.assert_allclose(
        fitted.predict_proba(X, labels=labels), fitted.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    # Column order follows the labels given.
    reverse = dict(reversed(list(labels.items())))
    np.testing.assert_allclose(
        fitted.predict_proba(X, labels=reverse),
        fitted.predict_proba(X)[:, ::-1],
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_list_of_texts_names_labels_by_their_text(fitted, texts):
    X, _ = texts
    pred = fitted.predict(X, labels=["good", "bad", "fun"])
    assert set(pred) <= {"good", "bad", "fun"}
    assert fitted.decision_function(X, labels=["good", "bad"]).shape == (len(X),)


@pytest.mark.parametrize(
    "labels, match",
    [
        ({}, "empty"),
        ([], "empty"),
        (["good", "good"], "duplicated|same text"),
        ({"a": "good", "b": "good"}, "same text"),
        ({"a": ""}, "empty"),
        ({"a": 3}, "must be a str"),
        ("good", "dict .* or a list"),
    ],
)
def test_bad_labels_are_refused(fitted, texts, labels, match):
    with pytest.raises(ValueError, match=match):
        fitted.predict(texts[0], labels=labels)


def test_classic_methods_refuse_new_labels(tiny_bert, texts):
    X, y = texts
    clf = LTuningClassifier(
        method="prefix", backbone=tiny_bert, prefix_length=4, max_epochs=1, random_state=0
    ).fit(X, y)
    with pytest.raises(ValueError, match="lt_prefix.*lt_prompt"):
        clf.predict_proba(X, labels={"a": "good", "b": "bad"})


def test_open_labels_survive_save_and_load(fitted, texts, tmp_path):
    X, _ = texts
    labels = {"sport": "this is about sport", "good": "good", "bad": "bad"}
    before = fitted.predict_proba(X, labels=labels)
    loaded = LTuningClassifier.load(fitted.save(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(X, labels=labels), before, rtol=1e-5, atol=1e-6)
