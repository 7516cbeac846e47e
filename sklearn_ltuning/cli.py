"""The sklearn-ltuning command line: demo, fit, predict and evaluate."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args):
    import numpy as np
    from sklearn.model_selection import train_test_split

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
        clf = _estimator(args, method, args.verbose)
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
    from sklearn.linear_model import LogisticRegression

    from .backbones.injection import frozen_embeddings
    from .backbones.loading import load_backbone

    handle = load_backbone(backbone)

    def features(pairs):
        u = frozen_embeddings(handle, [a for a, _ in pairs])
        v = frozen_embeddings(handle, [b for _, b in pairs])
        return np.hstack([u, v, np.abs(u - v), u * v])

    probe = LogisticRegression(max_iter=2000).fit(features(X_train), y_train)
    return probe.score(features(X_test), y_test)


def _texts(frame, columns, path):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; the file has {list(frame.columns)}."
        )
    return frame[list(columns)]


def _metrics(y_true, y_pred):
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "macro_f1": f1_score(y_true, y_pred, average="macro"),
        "mcc": matthews_corrcoef(y_true, y_pred),
    }


def _fit(args):
    from .datasets import read_table

    frame = read_table(args.train)
    X = _texts(frame, args.text_cols, args.train)
    y = _texts(frame, [args.label_col], args.train)[args.label_col].to_numpy()
    clf = _estimator(args, args.method, 0 if args.quiet else 1)
    clf.fit(X, y)
    out = clf.save(args.out)
    print(f"saved to {out}")
    if args.valid:
        valid = read_table(args.valid)
        y_valid = _texts(valid, [args.label_col], args.valid)[args.label_col].to_numpy()
        pred = clf.predict(_texts(valid, args.text_cols, args.valid))
        scores = _metrics(y_valid.astype(str), pred.astype(str))
        print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return 0


def _model_and_texts(args):
    from . import LTuningClassifier
    from .datasets import read_table

    clf = LTuningClassifier.load(
        args.model, backbone=args.backbone, trust_remote_code=args.trust_remote_code
    )
    frame = read_table(args.input)
    columns = args.text_cols or list(getattr(clf, "feature_names_in_", []))
    if not columns:
        raise ValueError("the model does not record its text columns; pass --text-cols.")
    return clf, frame, _texts(frame, columns, args.input)


def _predict(args):
    import pandas as pd

    clf, frame, X = _model_and_texts(args)
    out = pd.DataFrame(index=frame.index)
    if args.id_col in frame.columns:
        out[args.id_col] = frame[args.id_col]
    out["prediction"] = clf.predict(X)
    if args.proba:
        proba = clf.predict_proba(X)
        for j, cls in enumerate(clf.classes_):
            out[f"proba_{cls}"] = proba[:, j]
    out.to_csv(args.output, index=False)
    print(f"wrote {len(out)} predictions to {args.output}")
    return 0


def _evaluate(args):
    from sklearn.metrics import classification_report

    clf, frame, X = _model_and_texts(args)
    y = _texts(frame, [args.label_col], args.input)[args.label_col].to_numpy()
    pred = clf.predict(X)
    y, pred = y.astype(str), pred.astype(str)
    for name, value in _metrics(y, pred).items():
        print(f"{name}: {value:.4f}")
    print(classification_report(y, pred, zero_division=0))
    return 0


def _add_training_options(parser):
    """Options shared by ``demo`` and ``fit``; read back by :func:`_estimator`."""
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--prefix-length", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)


def _add_loading_options(parser):
    """Options of commands that load a model folder (the caller's permissions)."""
    parser.add_argument(
        "--backbone",
        default=None,
        help="your own copy of the backbone (registered name, folder or hub id) instead of "
        "the one the model folder names (default: the stored one, if it is a registered "
        "name or a local folder without custom code)",
    )
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the backbone's own model code to run (off by default; never read from "
        "the model folder)",
    )


def _estimator(args, method, verbose):
    from . import LTuningClassifier

    return LTuningClassifier(
        method=method,
        backbone=args.backbone,
        prefix_length=args.prefix_length,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        random_state=args.seed,
        verbose=verbose,
    )


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
    demo.add_argument("--n-train", type=int, default=2400)
    demo.add_argument("--n-test", type=int, default=600)
    _add_training_options(demo)
    demo.add_argument("--verbose", type=int, default=0)
    demo.set_defaults(func=_demo)

    fit = sub.add_parser(
        "fit",
        help="train on a CSV/JSONL file and save the model folder",
        description="Train LTuningClassifier on a CSV or JSONL file (one or "
        "two text columns) and save the fitted model to a folder.",
    )
    fit.add_argument("--train", required=True, help="CSV or JSONL training file")
    fit.add_argument(
        "--text-cols",
        nargs="+",
        default=["premise", "hypothesis"],
        help="one text column, or two for (premise, hypothesis) pairs",
    )
    fit.add_argument("--label-col", default="label")
    fit.add_argument("--out", required=True, help="model folder to write")
    fit.add_argument("--valid", help="optional CSV/JSONL file to report metrics on")
    fit.add_argument(
        "--method", default="lt_prefix", choices=["lt_prefix", "lt_prompt", "prefix", "prompt"]
    )
    _add_training_options(fit)
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(func=_fit)

    predict = sub.add_parser(
        "predict",
        help="predict a CSV/JSONL file with a saved model",
        description="Write predictions (and probabilities) as CSV, in "
        "the input's row order, keeping its id column.",
    )
    predict.add_argument("--model", required=True)
    _add_loading_options(predict)
    predict.add_argument("--input", required=True)
    predict.add_argument("--output", required=True)
    predict.add_argument("--proba", action="store_true", help="add a probability per class")
    predict.add_argument("--text-cols", nargs="+", help="default: the columns used in fit")
    predict.add_argument("--id-col", default="id", help="kept in the output when present")
    predict.set_defaults(func=_predict)

    evaluate = sub.add_parser(
        "evaluate",
        help="accuracy, macro-F1, MCC and a per-class report",
        description="Score a saved model on a labelled CSV/JSONL file.",
    )
    evaluate.add_argument("--model", required=True)
    _add_loading_options(evaluate)
    evaluate.add_argument("--input", required=True)
    evaluate.add_argument("--label-col", default="label")
    evaluate.add_argument("--text-cols", nargs="+", help="default: the columns used in fit")
    evaluate.set_defaults(func=_evaluate)
    return parser


def main(argv=None):
    """Entry point of the ``sklearn-ltuning`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        message = " ".join(str(exc).split())
        print(f"sklearn-ltuning: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
