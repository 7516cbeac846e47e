"""The real packaged backbone (all-MiniLM-L6-v2) on real data: offline loading, defaults learn."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_ltuning import LTuningClassifier

pytestmark = pytest.mark.slow

DATA = Path(os.environ.get("SKLEARN_LTUNING_DATA", Path(__file__).parents[2] / "shared" / "data"))
needs_data = pytest.mark.skipif(not (DATA / "sst2").is_dir(), reason=f"no benchmark data at {DATA}")


def test_minilm_loads_offline_with_its_shape(minilm):
    s = minilm.shape
    assert (s.model_type, s.n_layers, s.hidden_size, s.n_heads) == ("bert", 6, 384, 12)
    assert not s.is_decoder and s.prefix_path == "cache"
    n_params = sum(p.numel() for p in minilm.model.parameters())
    assert 22_000_000 < n_params < 23_500_000
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


@pytest.fixture(scope="module")
def sst2():
    train = pd.read_csv(DATA / "sst2" / "train.csv").sample(600, random_state=0)
    test = pd.read_csv(DATA / "sst2" / "test.csv").sample(400, random_state=0)
    return train.text.tolist(), train.label.to_numpy(), test.text.tolist(), test.label.to_numpy()


@needs_data
@pytest.mark.parametrize("method", ["prefix", "lt_prefix"])
def test_default_settings_learn_on_real_sentiment_data(sst2, method):
    # A default learning rate or initialisation that does not learn stays at the
    # majority class (about 0.5 here); the defaults start from a frozen-feature probe
    # and keep the best point on held-out data, so they must clear it clearly.
    X_train, y_train, X_test, y_test = sst2
    clf = LTuningClassifier(method=method, max_epochs=2, random_state=0).fit(X_train, y_train)
    majority = max(np.mean(y_test == c) for c in np.unique(y_test))
    assert clf.score(X_test, y_test) > majority + 0.1


@needs_data
def test_classic_prefix_is_not_below_the_tuned_frozen_probe(sst2, minilm):
    # Prefix tuning starts its K-way head at a probe on the frozen features, so it
    # starts from what the tuned frozen-embedding probe can do.
    from sklearn_ltuning import make_frozen_probe

    X_train, y_train, X_test, y_test = sst2
    probe_acc = make_frozen_probe("minilm-l6", cv=3).fit(X_train, y_train).score(X_test, y_test)
    clf = LTuningClassifier(method="prefix", max_epochs=4, random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= probe_acc - 0.03
