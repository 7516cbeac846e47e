"""sklearn API conventions: params, clone, repr, tags, and the estimator checks that apply."""

import pytest
from sklearn.base import clone, is_classifier
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from sklearn_ltuning import LTuningClassifier

# The remaining checks of sklearn.utils.estimator_checks feed numeric arrays
# (random floats, sparse matrices, NaN-filled arrays) as X. LTuningClassifier
# reads raw text, so for those inputs it must raise the TypeError that
# test_inputs.py asserts; they are not run here for that reason.
API_CHECKS = [
    check_parameters_default_constructible,
    check_no_attributes_set_in_init,
    check_get_params_invariance,
    check_set_params,
    check_estimator_repr,
    check_do_not_raise_errors_in_init_or_set_params,
]


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_api_checks(check):
    check("LTuningClassifier", LTuningClassifier())


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
