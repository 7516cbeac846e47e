"""Checkpoints survive a SIGKILL mid-epoch and resume to the uninterrupted run's parameters."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import torch
from skorch.callbacks import Checkpoint, LoadInitState

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.inputs import LengthGroupedBatchSampler

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    torch.set_num_threads({threads})
    sys.path.insert(0, {tests!r})
    from conftest import make_pairs
    from skorch.callbacks import Callback, Checkpoint
    from sklearn_ltuning import LTuningClassifier

    class KillMidEpoch(Callback):
        def on_batch_end(self, net, training=False, **kwargs):
            if training and len(net.history) == 3 and len(net.history[-1]["batches"]) == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    X, y = make_pairs(48)
    LTuningClassifier(backbone={backbone!r}, prefix_length=4, max_epochs=5, batch_size=8,
                      random_state=7, callbacks=[Checkpoint(dirname={dirname!r}, monitor=None),
                                                 KillMidEpoch()]).fit(X, y)
    """
)


def params(clf):
    return {k: v.detach().clone() for k, v in clf.net_.module_.state_dict().items()}


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tiny_bert, pairs, tmp_path):
    from conftest import make_pairs

    X, y = make_pairs(48)
    dirname = str(tmp_path / "checkpoints")
    # The killed run and the two runs here must sum floats in the same order: the same
    # thread count, whatever an earlier test (or the caller) left in OMP_NUM_THREADS.
    threads = torch.get_num_threads()
    script = SCRIPT.format(
        tests=os.path.dirname(__file__), backbone=tiny_bert, dirname=dirname, threads=threads
    )
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == -9, proc.stderr  # killed by SIGKILL during epoch 3
    assert os.path.exists(os.path.join(dirname, "params.pt"))

    cp = Checkpoint(dirname=dirname, monitor=None)
    resumed = LTuningClassifier(
        backbone=tiny_bert,
        prefix_length=4,
        max_epochs=5,
        batch_size=8,
        random_state=7,
        callbacks=[cp, LoadInitState(cp)],
    ).fit(X, y)
    assert len(resumed.history_) == 5  # 2 epochs from the checkpoint + the 3 remaining

    straight = LTuningClassifier(
        backbone=tiny_bert, prefix_length=4, max_epochs=5, batch_size=8, random_state=7
    ).fit(X, y)
    a, b = params(resumed), params(straight)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.predict_proba(X), straight.predict_proba(X), atol=1e-6)


def test_each_epoch_draws_a_new_batch_order():
    lengths = np.arange(64) % 9
    gen = torch.Generator().manual_seed(0)
    sampler = LengthGroupedBatchSampler(lengths, 8, gen)
    first, second = list(sampler), list(sampler)
    assert first != second
    assert sorted(i for b in first for i in b) == list(range(64))
    assert len(sampler) == 8
