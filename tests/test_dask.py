"""GridSearchCV on a real Dask cluster (scheduler + 2 worker processes on loopback).

joblib's ``dask`` backend sends each fit to a worker; an estimator pickles its
backbone as its source, so each worker process loads a backbone once and reuses it.
"""

import os

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sklearn_ltuning import LTuningClassifier

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

GRID = {"prefix_length": [4, 6], "method": ["lt_prefix", "prompt"]}


def _grid(tiny_bert):
    clf = LTuningClassifier(backbone=tiny_bert, max_epochs=1, batch_size=8, random_state=0, lr=1e-2)
    return GridSearchCV(clf, GRID, cv=2, n_jobs=-1)


def _worker_loads():
    # Backbones this worker process holds: one entry per (source, device) it loaded.
    from sklearn_ltuning.backbones import loading

    return len(loading._LOADED)


@pytest.fixture(scope="module")
def client():
    # Dask's nanny writes OMP_NUM_THREADS=1 (and MKL/OpenBLAS, MALLOC_TRIM) into this
    # process's environment before spawning workers. Left there, every later test's
    # subprocess would train on 1 thread while this process uses all cores, and float
    # sums taken in another order diverge (tests/test_resume.py compares exactly that).
    environ = dict(os.environ)
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
    os.environ.clear()
    os.environ.update(environ)


def test_grid_search_on_dask_cluster_equals_in_process(client, tiny_bert, pairs):
    X, y = pairs
    with joblib.parallel_config(backend="dask"):
        remote = _grid(tiny_bert).fit(X, y)
    workers = client.run(_worker_loads)
    assert len(workers) == 2
    # Fits really ran on the workers, and each worker loaded the backbone at most once
    # for its 4 (of 8) fits.
    assert sum(workers.values()) >= 1
    assert all(n <= 1 for n in workers.values())

    local = _grid(tiny_bert).set_params(n_jobs=None).fit(X, y)
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key], atol=1e-12)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.best_estimator_.predict_proba(X), local.best_estimator_.predict_proba(X), atol=1e-5
    )
