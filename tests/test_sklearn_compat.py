"""sklearn API conventions: params, clone, repr, tags, and the estimator checks that apply."""

import pathlib
import tempfile

from conftest import make_tiny_bert
from sklearn.base import clone, is_classifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_ltuning import LTuningClassifier

#: Most of scikit-learn's estimator checks feed numeric arrays (random floats,
#: sparse matrices, NaN- or complex-filled arrays, 3- to 10-column matrices) as X.
#: LTuningClassifier reads raw text: for those inputs it raises a TypeError or
#: ValueError that names the problem and the fix (asserted in tests/test_inputs.py),
#: so a check that needs a fit on numbers cannot pass.
NUMERIC_X = (
    "fits on numeric X; LTuningClassifier reads texts and refuses numbers with a "
    "message naming the fix (tests/test_inputs.py)"
)
EXPECTED_FAILED_CHECKS = {
    name: NUMERIC_X
    for name in (
        "check_class_weight_classifiers",
        "check_classifier_data_not_an_array",
        "check_classifiers_classes",
        "check_classifiers_one_label",
        "check_classifiers_train",
        "check_complex_data",
        "check_decision_proba_consistency",
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimators_dtypes",
        "check_estimators_fit_returns_self",
        "check_estimators_nan_inf",
        "check_estimators_overwrite_params",
        "check_estimators_partial_fit_n_features",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_fit1d",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
        "check_requires_y_none",
        "check_supervised_y_2d",
    )
}
EXPECTED_FAILED_CHECKS.update(
    {
        "check_estimator_sparse_array": (
            "sparse X is refused with a TypeError that says so, but the check expects "
            "check_array's wording for numeric sparse data"
        ),
        "check_estimator_sparse_matrix": (
            "sparse X is refused with a TypeError that says so, but the check expects "
            "check_array's wording for numeric sparse data"
        ),
        "check_estimators_empty_data_messages": (
            "an empty X is refused ('X is empty' / 'X has 0 columns'), not with "
            "check_array's '0 feature(s)' wording"
        ),
    }
)

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
