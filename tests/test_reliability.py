"""Interrupted training, determinism, very long and arbitrary Unicode inputs (fuzzed)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skorch.callbacks import Callback

from sklearn_ltuning import LTuningClassifier


class InterruptAt(Callback):
    """Raise KeyboardInterrupt at the end of a given epoch, as Ctrl-C would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


def test_keyboard_interrupt_keeps_completed_epochs_and_warm_start_continues(tiny_bert, pairs):
    X, y = pairs
    clf = LTuningClassifier(
        backbone=tiny_bert,
        prefix_length=4,
        max_epochs=5,
        random_state=0,
        callbacks=[InterruptAt(2)],
        warm_start=True,
    )
    clf.fit(X, y)
    assert len(clf.history_) == 2
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    clf.set_params(callbacks=None)
    clf.fit(X, y)
    assert len(clf.history_) == 7


def test_extremely_long_texts_are_cut_to_the_position_budget(tiny_bert, pairs):
    X, y = pairs
    clf = LTuningClassifier(
        backbone=tiny_bert, prefix_length=50, max_length=512, max_epochs=1, random_state=0
    ).fit(X, y)
    assert clf.max_input_tokens_ == 64 - 50
    long_pair = (" ".join(["the dog runs in the park ."] * 2000), "a dog runs .")
    proba = clf.predict_proba([long_pair, X[0]])
    assert np.all(np.isfinite(proba))


TEXT = st.one_of(
    st.text(min_size=1, max_size=40),
    st.text(
        alphabet=st.characters(categories=["Cc", "Cf", "So", "Lo", "Mn"]), min_size=1, max_size=20
    ),
    st.just("مرحبا بالعالم \u202eevil\u202c"),
    st.just("🙂🚀 " * 300),
    st.just(""),
    st.just(" \t\n"),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(TEXT, min_size=4, max_size=10),
    class_names=st.lists(st.text(min_size=1, max_size=10), min_size=2, max_size=3, unique=True),
)
def test_arbitrary_unicode_never_crashes(tiny_bert, texts, class_names):
    y = [class_names[i % len(class_names)] for i in range(len(texts))]
    words = ["good", "bad", "fun"]
    label_texts = {c: words[i] for i, c in enumerate(class_names)}
    clf = LTuningClassifier(
        backbone=tiny_bert,
        prefix_length=4,
        max_epochs=1,
        batch_size=4,
        random_state=0,
        label_texts=label_texts,
    )
    if any(not t.strip() for t in texts):
        with pytest.raises(ValueError, match="empty or whitespace"):
            clf.fit(texts, y)
        return
    clf.fit(texts, y)
    proba = clf.predict_proba(texts)
    assert proba.shape == (len(texts), len(class_names))
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
