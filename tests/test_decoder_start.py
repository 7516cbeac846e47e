"""benchmarks/decoder_start.py measures the start the estimator really takes."""

import json

import numpy as np

from benchmarks.decoder_start import VARIANTS, report_text, start_accuracies
from benchmarks.reproduce import fixed_split
from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.callbacks import StepValidation


def _data():
    rng = np.random.RandomState(0)
    words = ["good", "bad", "fine", "awful", "great", "poor"]
    X = [" ".join(rng.choice(words, 5)) for _ in range(120)]
    positive = [sum(w in ("good", "fine", "great") for w in x.split()) >= 3 for x in X]
    y = np.where(positive, "pos", "neg")
    return X, y


def test_step_zero_start_equals_the_estimators_first_validation(tiny_backbones, tmp_path):
    X, y = _data()
    folder = tiny_backbones("llama")
    result = start_accuracies({"train": (X[:80], y[:80]), "valid": (X[80:], y[80:])}, folder, 0)
    assert set(result["valid_accuracy"]) == set(VARIANTS)
    # The gated prefix starts exactly at the probe.
    assert result["valid_accuracy"]["gated start"] == result["valid_accuracy"]["probe"]
    # A real fit with the same seed scores the same start before its first step.
    clf = LTuningClassifier(
        method="lt_prefix",
        backbone=folder,
        random_state=0,
        train_split=fixed_split(80, 40),
        max_epochs=1,
        callbacks=[StepValidation(every=100)],
        prefix_gate=False,
    )
    clf.fit(X, y)
    first = clf.history_[0, "step_scores"][0]
    assert first["step"] == 0
    assert result["valid_accuracy"]["start"] == first["valid_acc"]

    record = {"status": "ok", "dataset": "sst2", "backbone": "b", "seed": 0, **result}
    (tmp_path / "a.json").write_text(json.dumps(record))
    text = report_text(tmp_path)
    assert "| start | " in text and "| seed 0 | mean | spread |" in text
    del record["valid_accuracy"]["gated start"]  # as recorded before the gate existed
    (tmp_path / "a.json").write_text(json.dumps(record))
    assert "| gated start | not run | not run | not run |" in report_text(tmp_path)


def test_start_settings_variant_builds_the_module_with_that_shift(tiny_backbones):
    from benchmarks.reproduce import start_settings
    from sklearn_ltuning.methods import METHODS

    X, y = _data()
    before = METHODS["lt_prefix"]
    clf = LTuningClassifier(
        method="lt_prefix", backbone=tiny_backbones("llama"), max_epochs=1, random_state=0
    )
    with start_settings("lt_prefix", {"max_initial_shift": 0.01}):
        clf.fit(X[:40], y[:40])
    assert clf.net_.module_.max_initial_shift == 0.01
    assert METHODS["lt_prefix"] is before  # the record is back after the fit
    assert clf.fit(X[:40], y[:40]).net_.module_.max_initial_shift == 0.05
