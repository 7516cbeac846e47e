"""FrozenEmbeddings: the frozen backbone's features as a scikit-learn transformer."""

import pathlib
import pickle
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import NUMERIC_X_CHECKS, WORDING_CHECKS, make_pairs, make_texts, make_tiny_bert
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ltuning import FrozenEmbeddings, LTuningClassifier, make_frozen_probe
from sklearn_ltuning.backbones.loading import load_backbone


def test_pairs_give_the_four_blocks_of_separately_read_texts(tiny_bert):
    X, _ = make_pairs(12)
    pairs = FrozenEmbeddings(backbone=tiny_bert).fit(X)
    d = load_backbone(tiny_bert).shape.hidden_size
    features = pairs.transform(X)
    assert features.shape == (12, 4 * d) and features.dtype == np.float32
    assert pairs.pair_encoding_ == "separate" and pairs.pooling_ == "mean"
    # u and v are the texts' own embeddings (LayerNorm-ed, so zero mean, unit variance).
    single = FrozenEmbeddings(backbone=tiny_bert).fit([a for a, _ in X])
    u = single.transform([a for a, _ in X])
    v = single.transform([b for _, b in X])
    np.testing.assert_allclose(features[:, :d], u, atol=1e-5)
    np.testing.assert_allclose(features[:, d : 2 * d], v, atol=1e-5)
    np.testing.assert_allclose(features[:, 2 * d : 3 * d], np.abs(u - v), atol=1e-5)
    np.testing.assert_allclose(features[:, 3 * d :], u * v, atol=1e-5)
    np.testing.assert_allclose(u.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(u.std(1), 1, atol=1e-3)


def test_norm_options(tiny_bert):
    X, _ = make_texts(6)
    raw = FrozenEmbeddings(backbone=tiny_bert, norm=None).fit_transform(X)
    unit = FrozenEmbeddings(backbone=tiny_bert, norm="l2").fit_transform(X)
    np.testing.assert_allclose(unit, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)


def test_the_features_are_what_the_classifier_s_probe_reads(tiny_bert):
    # One implementation: the head's start is fitted on exactly these features.
    X, y = make_pairs(24)
    clf = LTuningClassifier(backbone=tiny_bert, prefix_length=4, max_epochs=1).fit(X, y)
    arrays = clf.plan_.arrays([[a for a, _ in X], [b for _, b in X]])
    arrays.pop("length")
    with torch.no_grad():
        inside = clf.net_.module_.features(**{k: torch.as_tensor(v) for k, v in arrays.items()})
    outside = FrozenEmbeddings(backbone=tiny_bert).fit(X).transform(X)
    np.testing.assert_allclose(outside, inside.numpy(), atol=1e-5)


def test_rows_keep_their_order_and_do_not_depend_on_the_batch(tiny_bert):
    X, _ = make_texts(20)
    X = [x + " very long" * (i % 5) for i, x in enumerate(X)]
    one = FrozenEmbeddings(backbone=tiny_bert, batch_size=1).fit_transform(X)
    many = FrozenEmbeddings(backbone=tiny_bert, batch_size=7).fit_transform(X)
    np.testing.assert_allclose(one, many, atol=1e-5)
    np.testing.assert_allclose(
        FrozenEmbeddings(backbone=tiny_bert).fit_transform(X[::-1]), many[::-1], atol=1e-5
    )


def test_pipeline_with_the_tuned_probe_and_model_selection(tiny_bert):
    X, y = make_pairs(60)
    probe = make_frozen_probe(tiny_bert, cv=3)
    assert isinstance(probe[0], FrozenEmbeddings)
    assert probe[0].norm == "l2"  # chosen on validation data (BENCHMARKS.md)
    assert isinstance(probe[1], StandardScaler)
    assert isinstance(probe[2], LogisticRegressionCV)
    assert probe.fit(X, y).score(X, y) > 0.5
    # C is chosen by accuracy, so the pipeline's score is an accuracy, as for any classifier.
    assert probe.score(X, y) == accuracy_score(y, probe.predict(X))
    grid = GridSearchCV(
        make_pipeline(FrozenEmbeddings(backbone=tiny_bert), LogisticRegressionCV(cv=2)),
        {"frozenembeddings__pooling": ["mean", "cls"]},
        cv=2,
    ).fit(X, y)
    assert grid.best_params_["frozenembeddings__pooling"] in ("mean", "cls")
    scores = cross_validate(probe, X, y, cv=2)
    assert len(scores["test_score"]) == 2


def test_pickle_keeps_the_backbone_out_and_gives_the_same_features(tiny_bert):
    X, _ = make_pairs(8)
    fitted = FrozenEmbeddings(backbone=tiny_bert).fit(X)
    blob = pickle.dumps(fitted)
    weights = fitted.backbone_.model.get_input_embeddings().weight.detach().numpy()
    assert weights[:4].tobytes() not in blob and len(blob) < 10_000
    again = pickle.loads(blob)
    assert again.backbone_.model is fitted.backbone_.model  # loaded once per process, by path
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))


def test_feature_names(tiny_bert):
    d = load_backbone(tiny_bert).shape.hidden_size
    X, _ = make_pairs(4)
    names = FrozenEmbeddings(backbone=tiny_bert).fit(X).get_feature_names_out()
    assert len(names) == 4 * d
    assert [names[0], names[d], names[2 * d], names[3 * d]] == ["u0", "v0", "abs_diff0", "product0"]
    single = FrozenEmbeddings(backbone=tiny_bert).fit([a for a, _ in X])
    assert list(single.get_feature_names_out()[:2]) == ["embedding0", "embedding1"]
    joint = FrozenEmbeddings(backbone=tiny_bert, pair_encoding="joint").fit(X)
    assert len(joint.get_feature_names_out()) == d
    frame = pd.DataFrame(X, columns=["premise", "hypothesis"])
    fitted = FrozenEmbeddings(backbone=tiny_bert).fit(frame)
    assert list(fitted.feature_names_in_) == ["premise", "hypothesis"]
    out = make_pipeline(fitted, StandardScaler()).set_output(transform="pandas")
    assert list(out.fit_transform(frame).columns[:2]) == ["u0", "u1"]


@pytest.mark.parametrize(
    "X, error, match",
    [
        ([("a man", "b"), ("", "c")], ValueError, "empty"),
        ([1.0, 2.0], TypeError, "strings"),
        ("one text", TypeError, "single str"),
        ([("a", "b", "c")], ValueError, "3 columns"),
    ],
)
def test_bad_input_is_refused_with_the_fix(tiny_bert, X, error, match):
    with pytest.raises(error, match=match):
        FrozenEmbeddings(backbone=tiny_bert).fit(X)


def test_transform_checks_fit_and_form(tiny_bert):
    X, _ = make_pairs(4)
    with pytest.raises(NotFittedError):
        FrozenEmbeddings(backbone=tiny_bert).transform(X)
    fitted = FrozenEmbeddings(backbone=tiny_bert).fit(X)
    with pytest.raises(ValueError, match="fitted on 2"):
        fitted.transform([a for a, _ in X])
    with pytest.raises(ValueError, match="Unknown backbone"):
        FrozenEmbeddings(backbone="no-such-model").fit(X)
    with pytest.raises(ValueError, match="pooling"):
        FrozenEmbeddings(backbone=tiny_bert, pooling="max").fit(X)


def test_progress_bar_when_verbose(tiny_bert, capsys):
    X, _ = make_texts(10)
    FrozenEmbeddings(backbone=tiny_bert, batch_size=2, verbose=1).fit_transform(X)
    assert "frozen features" in capsys.readouterr().err
    FrozenEmbeddings(backbone=tiny_bert, batch_size=2).fit_transform(X)
    assert capsys.readouterr().err == ""


def test_clone_keeps_parameters(tiny_bert):
    params = FrozenEmbeddings(backbone=tiny_bert, pooling="cls", norm=None).get_params()
    assert clone(FrozenEmbeddings(**params)).get_params() == params


NUMERIC_X = "fits on numeric X; FrozenEmbeddings reads texts and refuses numbers"
TRANSFORMER_NUMERIC_X_CHECKS = (
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
    "check_global_set_output_transform_polars",
    "check_set_output_transform_polars",
)
EXPECTED_FAILED_CHECKS = {
    **{name: NUMERIC_X for name in NUMERIC_X_CHECKS + TRANSFORMER_NUMERIC_X_CHECKS},
    **WORDING_CHECKS,
}
_TINY = str(make_tiny_bert(pathlib.Path(tempfile.mkdtemp(prefix="embeddings-checks-")) / "bert"))


@parametrize_with_checks(
    [FrozenEmbeddings(backbone=_TINY, batch_size=8)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
