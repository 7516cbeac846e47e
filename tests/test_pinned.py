"""Fixed-seed probabilities recorded before the renovation (issue 16): refactoring keeps them.

The values were produced by this file's cases on the tiny random backbones of
``conftest.py`` with one thread (the sums' order, and so the last digits, depend on
the thread count). A change that alters training or prediction for a fixed seed
shows up here; a deliberate change of behaviour updates the numbers in the same
commit and says why in CHANGES.md (so far: the bilinear head training its per-class
residual instead of ``W``, which re-recorded ``lt_prefix_recipe`` and ``lt_prompt_texts``;
the probe start solved exactly by Newton's method, which re-recorded the three
probe-started cases, ``lt_prefix_recipe``, ``prefix_pairs`` and ``lt_prompt_texts``;
decoders getting the recipe by default, which set the earlier decoder scheme explicitly
in ``lt_prefix_decoder`` and ``prompt_decoder``, unchanged, and added the two
``*_decoder_recipe`` cases; decoders reading the prefix through a gate by default, which
set ``prefix_gate=False`` in ``lt_prefix_decoder_recipe``, unchanged, and added
``lt_prefix_decoder_gated``; the gate training at 10 times ``lr`` by default, which set
the gate's rate to ``lr`` in ``lt_prefix_decoder_gated``, unchanged, and added
``lt_prefix_decoder_gate_rate``).

The values hold whatever OpenBLAS kernel numpy and scipy select: with the probe solved
exactly, the six cases gave bit-identical probabilities with ``OPENBLAS_CORETYPE`` set
to Prescott, Nehalem, Sandybridge, Haswell and Zen (2026-12-02; L-BFGS had differed by
up to 4e-4). ``test_pins_hold_on_other_blas_kernels`` re-runs them under another kernel.
"""

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_pairs, make_texts

from sklearn_ltuning import LTuningClassifier

CASES = {  # name: (backbone, data, estimator parameters)
    "lt_prefix_recipe": ("bert", "pairs", dict(max_epochs=2, random_state=0)),
    "lt_prefix_paper": (
        "bert",
        "pairs",
        dict(objective="binary", max_epochs=2, random_state=0, lr=0.02),
    ),
    "lt_prompt_texts": ("bert", "texts", dict(method="lt_prompt", max_epochs=2, random_state=1)),
    "prefix_pairs": ("bert", "pairs", dict(method="prefix", max_epochs=2, random_state=2)),
    # The earlier decoder scheme, now set explicitly (decoders get the recipe by default).
    "prompt_decoder": (
        "gpt2",
        "texts",
        dict(
            method="prompt",
            max_epochs=2,
            random_state=3,
            head_init="default",
            lr_schedule="constant",
            early_stopping=False,
        ),
    ),
    "prompt_decoder_recipe": ("gpt2", "texts", dict(method="prompt", max_epochs=2, random_state=3)),
    "lt_prefix_decoder": (
        "gpt2",
        "pairs",
        dict(
            max_epochs=2,
            random_state=4,
            lr=0.02,
            head="pair",
            lr_schedule="constant",
            early_stopping=False,
        ),
    ),
    # The recipe before decoders got the gated prefix by default, set explicitly.
    "lt_prefix_decoder_recipe": (
        "gpt2",
        "pairs",
        dict(max_epochs=2, random_state=4, prefix_gate=False),
    ),
    # The gated prefix before the gate got its own rate (10x lr), set explicitly.
    "lt_prefix_decoder_gated": (
        "gpt2",
        "pairs",
        dict(
            max_epochs=2,
            random_state=4,
            net_kwargs={"optimizer__param_groups": [("gate", {"lr": 1e-3})]},
        ),
    ),
    "lt_prefix_decoder_gate_rate": ("gpt2", "pairs", dict(max_epochs=2, random_state=4)),
}

PINNED = {
    "lt_prefix_recipe": [
        [0.05705972, 0.88186494, 0.06107534],
        [0.94514469, 0.03581333, 0.01904198],
        [0.02626344, 0.07091931, 0.90281725],
    ],
    "lt_prefix_paper": [
        [0.33336172, 0.33334561, 0.33329267],
        [0.33336805, 0.33334801, 0.33328395],
        [0.33336690, 0.33334771, 0.33328539],
    ],
    "lt_prompt_texts": [
        [0.38296253, 0.61703747],
        [0.79100854, 0.20899146],
        [0.42227325, 0.57772675],
    ],
    "prefix_pairs": [
        [0.03870292, 0.91576396, 0.04553312],
        [0.92570584, 0.05368807, 0.02060608],
        [0.02339723, 0.09629096, 0.88031181],
    ],
    "prompt_decoder": [
        [0.33366639, 0.66633361],
        [0.44280966, 0.55719034],
        [0.44179600, 0.55820400],
    ],
    "prompt_decoder_recipe": [
        [0.17438295, 0.82561705],
        [0.60010089, 0.39989911],
        [0.58301173, 0.41698827],
    ],
    "lt_prefix_decoder": [
        [0.32078864, 0.34498620, 0.33422516],
        [0.31971697, 0.34629664, 0.33398639],
        [0.32255530, 0.34353456, 0.33391014],
    ],
    "lt_prefix_decoder_recipe": [
        [0.02690422, 0.53955523, 0.43354055],
        [0.40734584, 0.55734439, 0.03530977],
        [0.02666854, 0.00867935, 0.96465211],
    ],
    "lt_prefix_decoder_gated": [
        [0.02873267, 0.55484658, 0.41642075],
        [0.42122130, 0.54555989, 0.03321881],
        [0.02750822, 0.00887471, 0.96361708],
    ],
    "lt_prefix_decoder_gate_rate": [
        [0.02877121, 0.55482564, 0.41640315],
        [0.42146271, 0.54534829, 0.03318899],
        [0.02753243, 0.00886788, 0.96359968],
    ],
}


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixed_seed_probabilities_are_unchanged(name, one_thread, tiny_backbones):
    arch, data, params = CASES[name]
    X, y = make_pairs(48) if data == "pairs" else make_texts(40)
    clf = LTuningClassifier(backbone=tiny_backbones(arch), **params).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X[:3]), PINNED[name], rtol=0, atol=2e-6)


#: An OpenBLAS kernel that every x86-64 CPU in use can run, and which differs from the
#: one OpenBLAS picks by itself on any recent CPU.
OTHER_KERNEL = "Prescott"


def _blas_kernels(env):
    """The OpenBLAS kernels numpy and scipy run under ``env``, as threadpoolctl names them."""
    code = (
        "import numpy, scipy.linalg, threadpoolctl; "
        "print(sorted(str(i.get('architecture')) for i in threadpoolctl.threadpool_info()))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 kernel names")
def test_pins_hold_on_other_blas_kernels():
    """The pins do not depend on the BLAS kernel the CPU selects (they once did)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    other = {**env, "OPENBLAS_CORETYPE": OTHER_KERNEL}
    if _blas_kernels(other) == _blas_kernels(env):
        pytest.skip(f"OPENBLAS_CORETYPE={OTHER_KERNEL} selects this machine's own kernel")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__)), "-q", "-p", "no:cacheprovider",
         "-k", "test_fixed_seed_probabilities_are_unchanged"],
        env=other, capture_output=True, text=True, cwd=Path(__file__).parent,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
