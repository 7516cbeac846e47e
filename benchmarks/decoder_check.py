"""Real-model check of the decoder backbone: the four methods on SmolLM2-135M over a SICK sample.

Fits each method on ``--n-train`` SICK training pairs, scores a held-back part of the
same file, and reports accuracy next to the majority class, fit and predict time, and
the process's peak resident memory. Results are printed as a Markdown table and, with
``--write``, appended to BENCHMARKS.md.

Usage::

    python benchmarks/decoder_check.py --data-dir ../shared/data --write
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_ltuning import LTuningClassifier


def peak_rss_gib():
    """Peak resident memory of this process in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument(
        "--methods", nargs="+", default=["lt_prefix", "lt_prompt", "prefix", "prompt"]
    )
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--objective", choices=["binary", "softmax"], default="binary")
    parser.add_argument("--label-map", choices=["pooled", "token"], default="pooled")
    parser.add_argument(
        "--seed", type=int, default=0, help="random_state of the estimators (the split stays fixed)"
    )
    parser.add_argument("--write", action="store_true", help="append the table to BENCHMARKS.md")
    args = parser.parse_args(argv)

    frame = pd.read_csv(Path(args.data_dir) / "sick" / "train.csv")
    frame = frame.sample(args.n_train + args.n_test, random_state=0)
    X = list(zip(frame.premise, frame.hypothesis, strict=True))
    y = frame.label.to_numpy()
    X_train, y_train = X[: args.n_train], y[: args.n_train]
    X_test, y_test = X[args.n_train :], y[args.n_train :]
    majority = max(np.mean(y_test == c) for c in np.unique(y_test))

    rows = []
    for method in args.methods:
        clf = LTuningClassifier(
            method=method,
            backbone=args.backbone,
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            max_length=args.max_length,
            lr=args.lr,
            objective=args.objective,
            random_state=args.seed,
            **({"label_map": args.label_map} if method == "lt_prefix" else {}),
        )
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        acc = clf.score(X_test, y_test)
        pred_s = time.perf_counter() - start
        rows.append((method, acc, clf.n_trainable_params_, fit_s, pred_s, peak_rss_gib()))
        print(
            f"{method}: accuracy {acc:.3f} (majority {majority:.3f}), fit {fit_s:.0f} s, "
            f"predict {pred_s:.0f} s, peak RSS {peak_rss_gib():.2f} GiB",
            flush=True,
        )

    command = "python benchmarks/decoder_check.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(v) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k != "write"
    )
    lines = [
        f"### Decoder check: {args.backbone} on SICK ({args.n_train} train / {args.n_test} "
        f"held-back pairs, {args.epochs} epochs, batch {args.batch_size}, max_length "
        f"{args.max_length}, lr {args.lr}, objective {args.objective}, LT-prefix map "
        f"{args.label_map}, seed {args.seed})",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, CPU only; "
        f"date {datetime.date.today().isoformat()}. Majority class: {majority:.3f}.",
        "",
        "| method | accuracy | trained params | fit s | predict s | peak RSS GiB (cumulative) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {m} | {a:.3f} | {p:,} | {f:.0f} | {t:.1f} | {r:.2f} |" for m, a, p, f, t, r in rows
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.write:
        with open(Path(__file__).parents[1] / "BENCHMARKS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
