"""sklearn API conventions: params, clone, repr, tags, and the estimator checks that apply."""

import pathlib
import tempfile

from conftest import NUMERIC_X_CHECKS, WORDING_CHECKS, make_tiny_bert
from sklearn.base import clone, is_classifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ltuning import LTuningClassifier

NUMERIC_X = (
    "fits on numeric X; LTuningClassifier reads texts and refuses numbers with a "
    "message naming the fix (tests/test_inputs.py)"
)
CLASSIFIER_NUMERIC_X_CHECKS = (
    "check_class_weight_classifiers",
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_one_label",
    "check_classifiers_train",
    "check_decision_proba_consistency",
    "check_estimators_partial_fit_n_features",
    "check_supervised_y_2d",
)
EXPECTED_FAILED_CHECKS = {
    **{name: NUMERIC_X for name in NUMERIC_X_CHECKS + CLASSIFIER_NUMERIC_X_CHECKS},
    **WORDING_CHECKS,
}

# A tiny random backbone built at collection time: parametrize_with_checks needs the
# estimator instance before any fixture runs.
_TINY = str(make_tiny_bert(pathlib.Path(tempfile.mkdtemp(prefix="ltuning-checks-")) / "bert"))


@parametrize_with_checks(
    [LTuningClassifier(backbone=_TINY, max_epochs=1, prefix_length=2, batch_size=8)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_is_classifier_with_text_tags():
    clf = LTuningClassifier()
    assert is_classifier(clf)
    tags = clf.__sklearn_tags__()
    assert tags.input_tags.string
    assert tags.estimator_type == "classifier"


def test_init_stores_arguments_unchanged_and_clone_copies_them():
    callbacks = []
    clf = LTuningClassifier(
        method="prompt",
        prefix_length=3,
        label_texts={"a": "b"},
        callbacks=callbacks,
        net_kwargs={"optimizer__weight_decay": 0.1},
    )
    assert clf.callbacks is callbacks
    params = clf.get_params()
    assert params["method"] == "prompt" and params["prefix_length"] == 3
    copy = clone(clf)
    assert copy.get_params()["net_kwargs"] == {"optimizer__weight_decay": 0.1}
    assert "prefix_length=3" in repr(clf)


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, sklearn_ltuning; print('transformers' in sys.modules, 'skorch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
