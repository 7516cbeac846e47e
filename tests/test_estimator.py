"""LTuningClassifier end to end on a tiny random backbone: fit, predict, errors, sklearn tools."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from skorch.callbacks import EarlyStopping, LRScheduler

from sklearn_ltuning import LTuningClassifier

METHODS = ["lt_prefix", "lt_prompt", "prefix", "prompt"]


def make(tiny_bert, **kwargs):
    params = dict(backbone=tiny_bert, prefix_length=4, max_epochs=1, batch_size=8, random_state=0)
    params.update(kwargs)
    return LTuningClassifier(**params)


@pytest.fixture(scope="module", params=METHODS)
def fitted(request, tiny_bert, pairs):
    X, y = pairs
    return make(tiny_bert, method=request.param).fit(X, y)


def test_fit_predict_proba_on_pairs(fitted, pairs):
    X, y = pairs
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(proba))
    pred = fitted.predict(X)
    assert set(pred) <= set(fitted.classes_)
    np.testing.assert_array_equal(pred, fitted.classes_[proba.argmax(axis=1)])
    assert 0.0 <= fitted.score(X, y) <= 1.0
    assert list(fitted.classes_) == ["contradiction", "entailment", "neutral"]
    assert fitted.n_features_in_ == 2
    assert fitted.decision_function(X).shape == (len(X), 3)


def test_backbone_is_unchanged_and_gradient_free_after_fit(tiny_bert, pairs):
    from sklearn_ltuning.backbones.loading import load_backbone

    handle = load_backbone(tiny_bert)
    before = {k: v.clone() for k, v in handle.model.state_dict().items()}
    X, y = pairs
    for method in METHODS:
        clf = make(tiny_bert, method=method, max_epochs=2).fit(X, y)
        trained = dict(clf.net_.module_.named_parameters())
        assert trained, "the method must have trainable parameters"
    after = handle.model.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    assert all(p.grad is None and not p.requires_grad for p in handle.model.parameters())


def test_training_changes_the_method_parameters(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, method="lt_prefix", max_epochs=1)
    import skorch

    init = make(tiny_bert, method="lt_prefix", max_epochs=1, lr=1e-12).fit(X, y)
    clf.fit(X, y)
    a = dict(clf.net_.module_.named_parameters())
    b = dict(init.net_.module_.named_parameters())
    assert any(not torch.allclose(a[k], b[k]) for k in a)
    assert isinstance(clf.net_, skorch.NeuralNet)


def test_single_texts_and_integer_labels(tiny_bert, texts):
    X, y = texts
    y_int = np.array([1 if v == "positive" else 0 for v in y])
    clf = make(tiny_bert, method="lt_prefix").fit(pd.Series(X), y_int)
    assert clf.n_features_in_ == 1
    assert list(clf.classes_) == [0, 1]
    assert clf.label_texts_ == ["0", "1"]
    assert clf.predict(X).dtype.kind == "i"
    assert clf.decision_function(X).shape == (len(X),)


def test_label_texts_template_and_dict(tiny_bert, texts):
    X, y = texts
    clf = make(tiny_bert, prefix_length=8, label_texts="this text has {label} sentiment").fit(X, y)
    assert clf.label_texts_ == [
        "this text has negative sentiment",
        "this text has positive sentiment",
    ]
    clf = make(tiny_bert, label_texts={"positive": "good", "negative": "bad"}).fit(X, y)
    assert clf.label_texts_ == ["bad", "good"]


def test_dataframe_input_and_column_selecting_pipeline(tiny_bert, pairs):
    X, y = pairs
    frame = pd.DataFrame(X, columns=["premise", "hypothesis"])
    frame["id"] = range(len(frame))
    frame["noise"] = 1.5
    select = ColumnTransformer([("texts", "passthrough", ["premise", "hypothesis"])])
    pipe = make_pipeline(select, make(tiny_bert)).fit(frame, y)
    assert pipe.predict_proba(frame).shape == (len(X), 3)
    clf = make(tiny_bert).fit(frame[["premise", "hypothesis"]], y)
    assert list(clf.feature_names_in_) == ["premise", "hypothesis"]


def test_grid_search_over_prefix_length_and_method(tiny_bert, pairs):
    X, y = pairs
    grid = GridSearchCV(
        make(tiny_bert), {"prefix_length": [2, 4], "method": ["lt_prefix", "prefix"]}, cv=2
    )
    # prefix_length=2 cuts the three label texts ([CLS] word [SEP]): one warning per
    # text and length, not one per candidate and fold.
    with pytest.warns(UserWarning, match="prefix_length >= 3") as seen:
        grid.fit(X, y)
    assert len([w for w in seen if "prefix_length >= 3" in str(w.message)]) <= 3
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.predict(X[:3]).shape == (3,)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_cross_val_score_and_clone(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, method="prompt")
    scores = cross_val_score(clf, X, y, cv=2)
    assert scores.shape == (2,)
    assert not hasattr(clf, "net_")
    assert clone(clf).get_params() == clf.get_params()


def test_validation_split_records_k_way_loss_and_accuracy(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, method="lt_prefix", max_epochs=2, train_split=0.25).fit(X, y)
    history = clf.history_
    assert len(history) == 2
    for row in history:
        assert np.isfinite(row["valid_loss"])
        assert 0.0 <= row["valid_acc"] <= 1.0
        assert np.isfinite(row["train_loss"])


def test_skorch_callbacks_pass_through(tiny_bert, pairs):
    X, y = pairs
    stopper = EarlyStopping(patience=1, threshold=10.0)  # impossible improvement: stops early
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    clf = make(tiny_bert, max_epochs=5, train_split=0.25, callbacks=[stopper, sched]).fit(X, y)
    assert len(clf.history_) < 5
    assert clf.net_.optimizer_.param_groups[0]["lr"] < clf.lr


def test_label_encodings_are_not_recomputed_per_batch_or_per_fit(tiny_bert, pairs, label_reads):
    X, y = pairs
    make(tiny_bert, method="lt_prompt", prefix_length=5).fit(X, y)
    calls = label_reads
    calls.clear()
    make(tiny_bert, method="lt_prompt", prefix_length=5, max_epochs=2).fit(X, y)
    make(tiny_bert, method="lt_prefix", prefix_length=5).fit(X, y)
    assert calls == []


def test_softmax_objective_and_token_label_map(tiny_bert, pairs):
    X, y = pairs
    for kwargs in ({"objective": "softmax"}, {"label_map": "token"}):
        clf = make(tiny_bert, method="lt_prefix", **kwargs).fit(X, y)
        np.testing.assert_allclose(clf.predict_proba(X).sum(1), 1.0, rtol=1e-6)


def test_same_random_state_same_model_and_different_states_differ(tiny_bert, pairs):
    X, y = pairs
    a = make(tiny_bert, method="lt_prefix", random_state=3).fit(X, y).predict_proba(X)
    b = make(tiny_bert, method="lt_prefix", random_state=3).fit(X, y).predict_proba(X)
    c = make(tiny_bert, method="lt_prefix", random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.abs(a - c).max() > 1e-6


def test_predictions_keep_the_callers_order(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert).fit(X, y)
    full = clf.predict_proba(X)
    one_by_one = np.vstack([clf.predict_proba([x]) for x in X])
    np.testing.assert_allclose(full, one_by_one, rtol=1e-4, atol=1e-5)
    reversed_ = clf.predict_proba(X[::-1])
    np.testing.assert_allclose(full[::-1], reversed_, rtol=1e-4, atol=1e-5)


def test_pickle_round_trip_is_small_and_predicts_the_same(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, method="lt_prefix").fit(X, y)
    blob = pickle.dumps(clf)
    # The backbone travels as its source only (see test_persistence for the bound).
    embeddings = clf.backbone_.model.get_input_embeddings().weight.detach().numpy()
    assert embeddings[:4].tobytes() not in blob
    again = pickle.loads(blob)
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_warm_start_and_partial_fit_continue_training(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, warm_start=True).fit(X, y)
    net = clf.net_
    clf.fit(X, y)
    assert clf.net_ is net
    assert len(clf.history_) == 2
    clf2 = make(tiny_bert).partial_fit(X, y)
    clf2.partial_fit(X, y)
    assert len(clf2.history_) == 2


def test_predict_before_fit_raises_not_fitted(tiny_bert, pairs):
    with pytest.raises(NotFittedError):
        make(tiny_bert).predict(pairs[0])


def test_predict_with_the_wrong_form_after_fit(fitted, texts):
    with pytest.raises(ValueError, match="fitted on 2"):
        fitted.predict(texts[0])


BAD_FIT = [
    ("X and y lengths", lambda X, y: (X, y[:-1]), {}, ValueError, "different lengths"),
    ("3 columns", lambda X, y: ([(a, b, b) for a, b in X], y), {}, ValueError, "3 columns"),
    ("None text", lambda X, y: ([(None, X[0][1])] + X[1:], y), {}, ValueError, "missing"),
    ("NaN text", lambda X, y: ([(np.nan, X[0][1])] + X[1:], y), {}, ValueError, "missing"),
    ("number text", lambda X, y: ([(X[0][0], 7)] + X[1:], y), {}, TypeError, "strings"),
    ("empty text", lambda X, y: ([("", X[0][1])] + X[1:], y), {}, ValueError, "empty"),
    ("one class", lambda X, y: (X, ["entailment"] * len(y)), {}, ValueError, "two classes"),
    (
        "missing label text",
        lambda X, y: (X, y),
        {"label_texts": {"entailment": "yes"}},
        ValueError,
        "label_texts",
    ),
    (
        "empty label text",
        lambda X, y: (X, y),
        {"label_texts": {"entailment": "yes", "neutral": "", "contradiction": "no"}},
        ValueError,
        "label_texts",
    ),
    ("unknown method", lambda X, y: (X, y), {"method": "lora"}, ValueError, "method"),
    (
        "unknown backbone",
        lambda X, y: (X, y),
        {"backbone": "no-such-model"},
        ValueError,
        "minilm-l6",
    ),
    ("prefix_length 0", lambda X, y: (X, y), {"prefix_length": 0}, ValueError, "prefix_length"),
    (
        "prefix_length too large",
        lambda X, y: (X, y),
        {"prefix_length": 60},
        ValueError,
        "prefix_length=60",
    ),
    ("batch_size 0", lambda X, y: (X, y), {"batch_size": 0}, ValueError, "batch_size"),
    ("negative lr", lambda X, y: (X, y), {"lr": -1.0}, ValueError, "lr"),
    ("mixed label types", lambda X, y: (X, [1] + list(y[1:])), {}, TypeError, "mixes"),
    ("y None", lambda X, y: (X, None), {}, ValueError, "y is required"),
    ("X dict", lambda X, y: ({"premise": [a for a, _ in X]}, y), {}, TypeError, "dict"),
    ("X generator", lambda X, y: ((p for p in X), y), {}, TypeError, "generator"),
    (
        "X sparse",
        lambda X, y: (__import__("scipy.sparse").sparse.csr_matrix(np.ones((len(y), 2))), y),
        {},
        TypeError,
        "sparse",
    ),
    ("bytes text", lambda X, y: ([(b"caf\xe9", X[0][1])] + X[1:], y), {}, TypeError, "bytes"),
    (
        "whitespace text",
        lambda X, y: ([(X[0][0], "  \t")] + X[1:], y),
        {},
        ValueError,
        "whitespace",
    ),
    (
        "ragged rows",
        lambda X, y: ([X[0] + ("extra",)] + X[1:], y),
        {},
        ValueError,
        "different lengths",
    ),
    (
        "unseen label_texts key",
        lambda X, y: (X, y),
        {"label_texts": {"entailment": "a", "neutral": "b", "contradiction": "c", "other": "d"}},
        ValueError,
        "not in y",
    ),
    (
        "duplicated label texts",
        lambda X, y: (X, y),
        {"label_texts": {"entailment": "same", "neutral": "same", "contradiction": "c"}},
        ValueError,
        "same text",
    ),
    ("max_epochs 0", lambda X, y: (X, y), {"max_epochs": 0}, ValueError, "max_epochs"),
    ("unknown pooling", lambda X, y: (X, y), {"pooling": "max"}, ValueError, "pooling"),
    ("empty device", lambda X, y: (X, y), {"device": ""}, ValueError, "not a torch device"),
    (
        "label_texts list",
        lambda X, y: (X, y),
        {"label_texts": ["a", "b", "c"]},
        ValueError,
        "label_texts",
    ),
]


@pytest.mark.parametrize("case", BAD_FIT, ids=[c[0] for c in BAD_FIT])
def test_bad_input_is_refused_before_training(tiny_bert, pairs, case):
    _, transform, params, error, match = case
    X, y = pairs
    X, y = transform(list(X), list(y))
    clf = make(tiny_bert, **params)
    with pytest.raises(error, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")
    with pytest.raises(NotFittedError):
        clf.predict(pairs[0])


def test_failed_refit_keeps_no_half_fitted_state(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert).fit(X, y)
    proba = clf.predict_proba(X)
    clf.set_params(label_texts={"entailment": "yes"})
    with pytest.raises(ValueError):
        clf.fit(X, y)
    # The earlier fitted model is still whole and usable.
    np.testing.assert_allclose(clf.predict_proba(X), proba)


def test_dataloader_settings_that_cannot_apply_are_refused(tiny_bert, pairs):
    X, y = pairs
    clf = make(tiny_bert, net_kwargs={"iterator_train__collate_fn": lambda b: b})
    with pytest.raises(ValueError, match="iterator_train__collate_fn.*builds its own batches"):
        clf.fit(X, y)


def test_a_subclass_can_bring_its_own_net_class(tiny_bert, pairs, tmp_path):
    from sklearn_ltuning.training import LTuningNet

    class CountingNet(LTuningNet):
        steps = 0

        def train_step_single(self, batch, **fit_params):
            CountingNet.steps += 1
            return super().train_step_single(batch, **fit_params)

    class MyClassifier(LTuningClassifier):
        net_class = CountingNet

    X, y = pairs
    clf = MyClassifier(backbone=tiny_bert, prefix_length=4, max_epochs=1, batch_size=16).fit(X, y)
    assert type(clf.net_) is CountingNet and CountingNet.steps == 3
    assert type(MyClassifier.load(clf.save(tmp_path / "m")).net_) is CountingNet


def test_dataframe_column_names_are_checked_at_predict_as_in_sklearn(tiny_bert, pairs):
    X, y = pairs
    frame = pd.DataFrame(X, columns=["premise", "hypothesis"])
    clf = make(tiny_bert).fit(frame, y)
    renamed = frame.rename(columns={"premise": "first", "hypothesis": "second"})
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(renamed)
    assert clf.predict(frame).shape == (len(X),)
