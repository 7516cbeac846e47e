"""Command line front: ``sklearn-ltuning demo`` (and ``python -m sklearn_ltuning``)."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args):
    import numpy as np
    from sklearn.model_selection import train_test_split

    from . import LTuningClassifier
    from .datasets import load_snli_sample

    X, y = load_snli_sample()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.n_test, train_size=args.n_train, stratify=y, random_state=0
    )
    print(
        f"SNLI sample (CC BY-SA 4.0): {len(X_train)} training pairs, {len(X_test)} test pairs, "
        f"classes {sorted(set(y))}; backbone {args.backbone!r}; {args.epochs} epochs.",
        flush=True,
    )
    majority = max(np.mean(np.asarray(y_test) == c) for c in set(y_test))
    anchor = _frozen_embedding_anchor(args.backbone, X_train, y_train, X_test, y_test)
    rows = []
    for method in args.methods:
        clf = LTuningClassifier(
            method=method,
            backbone=args.backbone,
            prefix_length=args.prefix_length,
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            random_state=args.seed,
            verbose=args.verbose,
        )
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        acc = clf.score(X_test, y_test)
        pred_s = time.perf_counter() - start
        rows.append((method, acc, clf.n_trainable_params_, fit_s, pred_s))
        print(
            f"  {method:<10} test accuracy {acc:.3f}  (fit {fit_s:.0f} s, predict {pred_s:.0f} s)",
            flush=True,
        )
    print(f"\n{'method':<12}{'accuracy':>10}{'trained params':>16}{'fit s':>8}{'predict s':>11}")
    print(f"{'majority':<12}{majority:>10.3f}{0:>16}{'':>8}{'':>11}")
    print(f"{'frozen+LR':<12}{anchor:>10.3f}{'(anchor)':>16}{'':>8}{'':>11}")
    for method, acc, n_params, fit_s, pred_s in rows:
        print(f"{method:<12}{acc:>10.3f}{n_params:>16,}{fit_s:>8.0f}{pred_s:>11.1f}")
    return 0


def _frozen_embedding_anchor(backbone, X_train, y_train, X_test, y_test):
    """Accuracy of logistic regression on frozen mean embeddings [u, v, |u-v|, u*v]."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from .backbones.loading import load_backbone

    handle = load_backbone(backbone)

    def embed(texts):
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                enc = handle.tokenizer(
                    texts[i : i + 64],
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                hidden = handle.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1)
                out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
        return np.vstack(out)

    def features(pairs):
        u = embed([a for a, _ in pairs])
        v = embed([b for _, b in pairs])
        return np.hstack([u, v, np.abs(u - v), u * v])

    probe = LogisticRegression(max_iter=2000).fit(features(X_train), y_train)
    return probe.score(features(X_test), y_test)


def build_parser():
    """The ``sklearn-ltuning`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="sklearn-ltuning",
        description="L-Tuning of frozen language models as a scikit-learn estimator.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="train LT-prefix and prefix tuning on the bundled SNLI sample and compare",
        description="Train on the bundled SNLI sample (default backbone) and print test "
        "accuracy of each method next to the majority class and a frozen-embedding + "
        "logistic-regression anchor.",
    )
    demo.add_argument(
        "--methods",
        nargs="+",
        default=["lt_prefix", "prefix"],
        choices=["lt_prefix", "lt_prompt", "prefix", "prompt"],
    )
    demo.add_argument("--backbone", default="minilm-l6")
    demo.add_argument("--n-train", type=int, default=2400)
    demo.add_argument("--n-test", type=int, default=600)
    demo.add_argument("--epochs", type=int, default=3)
    demo.add_argument("--batch-size", type=int, default=16)
    demo.add_argument("--prefix-length", type=int, default=8)
    demo.add_argument("--lr", type=float, default=1e-3)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--verbose", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    """Entry point of the ``sklearn-ltuning`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"sklearn-ltuning: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
