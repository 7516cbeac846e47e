"""End-to-end check on a GPU: fit, predict, save, load, and peak memory, for a chosen backbone.

Run it whenever a GPU is available (CI has none). It fits LT-prefix (and, with
``--methods``, others) on the bundled SNLI sample, predicts, saves the model folder,
loads it back and checks that the loaded model predicts the same, and reports the
accelerator's peak memory and the wall times. On a machine without CUDA it runs on the
CPU (``--device cpu``), which checks the script itself.

Usage::

    python -m benchmarks.gpu_check --backbone smollm2-135m --dtype bfloat16 \\
        --gradient-checkpointing true
    python -m benchmarks.gpu_check --backbone /path/to/Llama-3.2-1B --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np


def main(argv=None):
    from sklearn_ltuning import LTuningClassifier
    from sklearn_ltuning.datasets import load_snli_sample

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--load-in", default=None, choices=["8bit", "4bit"])
    parser.add_argument("--gradient-checkpointing", default="false", choices=["true", "false"])
    parser.add_argument("--methods", nargs="+", default=["lt_prefix"])
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    device = "cuda" if cuda else ("cpu" if args.device == "auto" else args.device)
    X, y = load_snli_sample()
    X_train, y_train = X[: args.n_train], y[: args.n_train]
    X_test, y_test = X[-args.n_test :], y[-args.n_test :]
    results = {
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "torch": torch.__version__,
        "backbone": args.backbone,
        "dtype": args.dtype,
        "load_in": args.load_in,
        "gradient_checkpointing": args.gradient_checkpointing == "true",
        "methods": {},
    }
    for method in args.methods:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        clf = LTuningClassifier(
            method=method,
            backbone=args.backbone,
            device=device,
            dtype=args.dtype,
            load_in=args.load_in,
            gradient_checkpointing=args.gradient_checkpointing == "true",
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            random_state=0,
        )
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        proba = clf.predict_proba(X_test)
        predict_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as folder:
            clf.save(f"{folder}/model")
            loaded = LTuningClassifier.load(f"{folder}/model")
            same = float(np.abs(loaded.predict_proba(X_test) - proba).max())
        row = {
            "accuracy": float(np.mean(clf.classes_[proba.argmax(1)] == np.asarray(y_test))),
            "fit_s": round(fit_s, 1),
            "predict_s": round(predict_s, 1),
            "save_load_max_abs_diff": same,
            "trained_params": int(clf.n_trainable_params_),
            "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        }
        results["methods"][method] = row
        print(f"{method}: {row}", flush=True)
        assert same < 1e-3, f"the loaded model predicts differently (max |dp| = {same})"
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
