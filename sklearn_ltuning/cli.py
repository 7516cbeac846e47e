"""The sklearn-ltuning command line: demo, fit, predict and evaluate."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args):
    import numpy as np
    from sklearn.model_selection import train_test_split

    from .datasets import load_snli_sample
    from .embeddings import make_frozen_probe

    X, y = load_snli_sample()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.n_test, train_size=args.n_train, stratify=y, random_state=0
    )
    print(
        f"SNLI sample (CC BY-SA 4.0): {len(X_train)} training pairs, {len(X_test)} test pairs, "
        f"classes {sorted(set(y))}; backbone {args.backbone!r}; {args.max_epochs} epochs.",
        flush=True,
    )
    majority = max(np.mean(np.asarray(y_test) == c) for c in set(y_test))
    probe = make_frozen_probe(args.backbone, max_length=args.max_length, device=args.device)
    anchor, anchor_fit_s, anchor_pred_s = fit_and_score(probe, X_train, y_train, X_test, y_test)
    n_anchor = probe[-1].coef_.size + probe[-1].intercept_.size
    print(f"[{ANCHOR}] tuned frozen-embedding probe: test accuracy {anchor:.3f}", flush=True)
    rows = []
    for i, method in enumerate(args.methods, 1):
        print(f"[{i}/{len(args.methods)}] training {method} ...", flush=True)
        clf = estimator_from_args(args, method, args.verbose)
        acc, fit_s, pred_s = fit_and_score(clf, X_train, y_train, X_test, y_test)
        rows.append((method, acc, clf.n_trainable_params_, fit_s, pred_s))
        print(
            f"[{i}/{len(args.methods)}] {method}: test accuracy {acc:.3f} "
            f"(fit {fit_s:.0f} s, predict {pred_s:.0f} s)",
            flush=True,
        )
    print(f"\n{'method':<12}{'accuracy':>10}{'trained params':>16}{'fit s':>8}{'predict s':>11}")
    print(f"{'majority':<12}{majority:>10.3f}{0:>16}{'':>8}{'':>11}")
    for method, acc, n_params, fit_s, pred_s in [
        (ANCHOR, anchor, n_anchor, anchor_fit_s, anchor_pred_s),
        *rows,
    ]:
        print(f"{method:<12}{acc:>10.3f}{n_params:>16,}{fit_s:>8.0f}{pred_s:>11.1f}")
    print(
        f"\nmajority: always predict the most frequent class (chance level). {ANCHOR}: the "
        "tuned frozen-embedding probe, make_pipeline(FrozenEmbeddings(norm='l2'), "
        "StandardScaler(), LogisticRegressionCV()) on the frozen backbone's unit-length "
        "embeddings of premise and hypothesis [u, v, |u-v|, u*v], C chosen by 5-fold "
        "cross-validation on the training pairs (the baseline to beat). Other rows: "
        "LTuningClassifier(method=...) trained on the same pairs; lt_* are L-Tuning, "
        "prefix/prompt the classic baselines."
    )
    print(demo_verdict(rows, anchor, majority))
    print("Measured figures and what they mean: docs/results.md (BENCHMARKS.md for commands).")
    return 0


#: The demo's anchor: the tuned frozen-embedding probe (:func:`make_frozen_probe`).
ANCHOR = "frozen+LRCV"


def demo_verdict(rows, anchor, majority):
    """One line saying which method won and by how much, from the printed numbers.

    Parameters
    ----------
    rows : list of tuple
        ``(method, accuracy, ...)`` per trained method.
    anchor, majority : float
        Accuracy of the tuned frozen-embedding probe and of the majority class.

    Returns
    -------
    line : str
    """
    if not rows:
        return "Verdict: no method was trained."
    best, best_acc = max(((r[0], r[1]) for r in rows), key=lambda r: r[1])
    line = f"Verdict: {best} is best at {best_acc:.3f}, {best_acc - anchor:+.3f} against {ANCHOR}"
    others = [(m, a) for m, a, *_ in rows if m != best]
    if others:
        second, second_acc = max(others, key=lambda r: r[1])
        line += f" and {best_acc - second_acc:+.3f} against {second}"
    if best_acc <= majority:
        line += "; no method beats the majority class"
    elif best_acc <= anchor:
        line += f"; no tuned method beats the tuned frozen-embedding probe ({ANCHOR})"
    return line + "."


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
    clf = estimator_from_args(args, args.method, 0 if args.quiet else 1)
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
    clf.set_params(predict_quantization=args.predict_quantization)
    if args.shortlist is not None:
        clf.set_params(shortlist=None if args.shortlist == "none" else args.shortlist)
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
    import numpy as np
    from sklearn.metrics import classification_report

    clf, frame, X = _model_and_texts(args)
    y = _texts(frame, [args.label_col], args.input)[args.label_col].to_numpy()
    pred = clf.predict(X)
    y, pred = y.astype(str), pred.astype(str)
    values, counts = np.unique(y, return_counts=True)
    majority = values[np.argmax(counts)]
    baseline = _metrics(y, np.full(len(y), majority))
    print(f"{'metric':<10}{'model':>10}{'majority class':>16}")
    for name, value in _metrics(y, pred).items():
        print(f"{name:<10}{value:>10.4f}{baseline[name]:>16.4f}")
    print(f"(majority class: always predict {majority!r}, {counts.max()} of {len(y)} rows)\n")
    print(classification_report(y, pred, zero_division=0))
    return 0


def _label_texts(value):
    """``--label-texts``: a template with ``{label}``, or a JSON object class -> text."""
    import json

    if value.lstrip().startswith("{") and "{label}" not in value:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not a JSON object: {exc}") from None
        if not isinstance(parsed, dict):
            raise argparse.ArgumentTypeError("must be a JSON object class -> text")
        return parsed
    return value


def _class_weight(value):
    """``--class-weight``: ``balanced``, ``none`` or a JSON object class -> weight."""
    import json

    if value.lower() in ("balanced", "none"):
        return None if value.lower() == "none" else "balanced"
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(
            "must be balanced, none or a JSON object class -> weight, e.g. '{\"1\": 2.0}'"
        )
    return parsed


def _auto_count(value):
    """``auto``, ``none`` or a whole number (any case)."""
    lowered = value.lower()
    if lowered in ("auto", "none"):
        return None if lowered == "none" else "auto"
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be auto, none or a whole number") from None


def _bool(value):
    """``true`` or ``false`` (any case)."""
    if value.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError("must be true or false")
    return value.lower() == "true"


def _auto_or_bool(value):
    """``auto``, ``true`` or ``false`` (any case)."""
    lowered = value.lower()
    if lowered not in ("auto", "true", "false"):
        raise argparse.ArgumentTypeError("must be auto, true or false")
    return "auto" if lowered == "auto" else lowered == "true"


#: Estimator settings reachable from ``fit`` and ``demo``: (flag, parameter, type, help).
#: Defaults and choices are read from :class:`LTuningClassifier` itself, so the command
#: line and the Python API cannot drift apart (a test checks that every constructor
#: parameter is here or in :data:`NOT_ON_THE_COMMAND_LINE`).
TRAINING_OPTIONS = (
    ("--backbone", "backbone", str, "registered name (list_backbones()), model folder or hub id"),
    ("--prefix-length", "prefix_length", int,
     "virtual tokens; for L-Tuning also the label text's length in tokens"),
    ("--label-texts", "label_texts", _label_texts,
     "text read per class: a template such as 'The relation is {label}.' or a JSON object "
     "class -> text; None reads the class names"),
    ("--label-map", "label_map", str, "LT-prefix: how label states become prefixes"),
    ("--objective", "objective", str,
     "L-Tuning: 'softmax' scores every label; 'binary' is the paper's scheme"),
    ("--pooling", "pooling", str, "how positions are pooled ('auto': mean / last token)"),
    ("--pair-encoding", "pair_encoding", str,
     "pairs: 'joint' (paper), 'cross' (segments of one forward), 'separate' (a forward each)"),
    ("--head", "head", str, "L-Tuning head: 'pair' (paper) or 'bilinear' (label-aware)"),
    ("--head-init", "head_init", str, "'probe': start the head at a frozen-feature probe"),
    ("--prefix-gate", "prefix_gate", _auto_or_bool,
     "prefix methods: read the prefix through a zero-initialised gate ('auto': on decoders "
     "with the probe start)"),
    ("--lr-schedule", "lr_schedule", str, "'linear': warm-up then linear decay"),
    ("--early-stopping", "early_stopping", _auto_or_bool,
     "hold out --validation-fraction, keep the best point ('auto': on for the recipe with "
     "enough data)"),
    ("--validation-fraction", "validation_fraction", float, "held-out share for early stopping"),
    ("--class-weight", "class_weight", _class_weight,
     "class weights in the loss: 'balanced' (n / (K * n_class)), a JSON object class -> "
     "weight, or none"),
    ("--negatives", "negatives", _auto_count,
     "softmax objective: wrong labels per training input (auto, none = all, or a number)"),
    ("--hard-negatives", "hard_negatives", _auto_count,
     "how many of the negatives the frozen reading ranks highest (auto or a number)"),
    ("--shortlist", "shortlist", _auto_count,
     "prediction: labels read per input, the frozen reading's top (auto, none = all, or a "
     "number)"),
    ("--predict-quantization", "predict_quantization", str,
     "int8: predict with an int8 copy of the backbone (CPU)"),
    ("--max-length", "max_length", int, "longest input in tokens"),
    ("--epochs", "max_epochs", int, "training epochs"),
    ("--batch-size", "batch_size", int, "inputs per step"),
    ("--lr", "lr", float, "learning rate (AdamW)"),
    ("--device", "device", str, "torch device, e.g. cuda; 'auto' picks CUDA when available"),
    ("--dtype", "dtype", str,
     "the frozen backbone's weights: float32, bfloat16, float16 or auto (the checkpoint's)"),
    ("--load-in", "load_in", str, "quantize the backbone with bitsandbytes (CUDA): 8bit or 4bit"),
    ("--gradient-checkpointing", "gradient_checkpointing", _bool,
     "recompute the backbone's layers in the backward pass (less memory, slower)"),
    ("--seed", "random_state", int, "random seed (initialisation, batch order)"),
)  # fmt: skip
#: Constructor parameters with no command-line flag, and why.
NOT_ON_THE_COMMAND_LINE = {
    "method": "its own option (--method for fit, --methods for demo)",
    "verbose": "set by --quiet (fit) or --verbose (demo)",
    "train_split": "fit takes a separate --valid file instead",
    "callbacks": "Python objects",
    "net_kwargs": "Python objects",
    "warm_start": "a fresh model per command",
    "trust_remote_code": "predict/evaluate take --trust-remote-code; fit uses registered or "
    "local backbones",
}
#: Where the command line's defaults differ from the estimator's: reproducible runs.
_CLI_DEFAULTS = {"random_state": 0}


def add_training_options(parser, defaults=None):
    """Add the estimator's settings (:data:`TRAINING_OPTIONS`) to an argument parser.

    Used by ``demo`` and ``fit`` and by the scripts under ``benchmarks/``, so that every
    command line maps arguments to the estimator the same way.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    defaults : dict, optional
        Parameter -> default where the caller's differ (a benchmark's own budget).
    """
    from sklearn.utils._param_validation import StrOptions

    from .estimator import LTuningClassifier

    defaults = {**LTuningClassifier().get_params(), **_CLI_DEFAULTS, **(defaults or {})}
    for flag, param, kind, text in TRAINING_OPTIONS:
        choices = None
        constraints = LTuningClassifier._parameter_constraints[param]
        # Choices only where the values are all strings: a parameter that also takes a
        # dict (class_weight) or a number (negatives) parses its own value.
        if all(isinstance(c, StrOptions) or c is None for c in constraints):
            for constraint in constraints:
                if isinstance(constraint, StrOptions):
                    choices = sorted(constraint.options)
        parser.add_argument(
            flag, dest=param, type=kind, default=defaults[param], choices=choices, help=text
        )


def _add_loading_options(parser):
    """Options of commands that load a model folder: the folder, the caller's permissions."""
    parser.add_argument("--model", required=True, help="model folder written by fit")
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
    parser.add_argument(
        "--predict-quantization",
        choices=["int8"],
        default=None,
        help="predict with an int8 copy of the frozen backbone (CPU; faster, slightly "
        "different scores)",
    )
    parser.add_argument(
        "--shortlist",
        type=lambda v: "none" if v.lower() == "none" else _auto_count(v),
        default=None,
        help="labels read per input, the frozen reading's top (auto, none = all, or a "
        "number; default: the model's own setting)",
    )


def _method_choices():
    from .methods import METHODS

    return list(METHODS)


def estimator_from_args(args, method, verbose=0, **overrides):
    """The estimator that parsed :func:`add_training_options` arguments describe.

    Parameters
    ----------
    args : argparse.Namespace
    method : str
    verbose : int, default=0
    **overrides
        Estimator parameters that replace the parsed ones.

    Returns
    -------
    estimator : LTuningClassifier
    """
    from . import LTuningClassifier

    settings = {param: getattr(args, param) for _, param, _, _ in TRAINING_OPTIONS}
    return LTuningClassifier(method=method, verbose=verbose, **{**settings, **overrides})


def fit_and_score(clf, X_train, y_train, X_test, y_test):
    """Fit, then score on held-out data; returns (accuracy, fit seconds, predict seconds)."""
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    acc = clf.score(X_test, y_test)
    return acc, fit_s, time.perf_counter() - start


def build_parser():
    """The ``sklearn-ltuning`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="sklearn-ltuning",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="L-Tuning of frozen language models as a scikit-learn estimator.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    defaults_shown = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}
    demo = sub.add_parser(
        "demo",
        **defaults_shown,
        help="train LT-prefix and prefix tuning on the bundled SNLI sample and compare",
        description="Train on the bundled SNLI sample (default backbone) and print test "
        "accuracy of each method next to the majority class and the tuned "
        "frozen-embedding probe (scaled features, logistic regression with C by "
        "cross-validation).",
    )
    demo.add_argument(
        "--methods",
        nargs="+",
        default=["lt_prefix", "prefix"],
        choices=_method_choices(),
        help="methods to train and compare",
    )
    demo.add_argument("--n-train", type=int, default=2400, help="training pairs")
    demo.add_argument("--n-test", type=int, default=600, help="held-out test pairs")
    add_training_options(demo)
    demo.add_argument(
        "--verbose",
        type=int,
        default=1,
        help="1: an epoch table with times and a progress bar per method; 0: results only",
    )
    demo.set_defaults(func=_demo)

    fit = sub.add_parser(
        "fit",
        **defaults_shown,
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
    fit.add_argument("--label-col", default="label", help="column of class labels")
    fit.add_argument("--out", required=True, help="model folder to write")
    fit.add_argument("--valid", help="optional CSV/JSONL file to report metrics on")
    fit.add_argument(
        "--method", default="lt_prefix", choices=_method_choices(), help="method to train"
    )
    add_training_options(fit)
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(func=_fit)

    predict = sub.add_parser(
        "predict",
        **defaults_shown,
        help="predict a CSV/JSONL file with a saved model",
        description="Write predictions (and probabilities) as CSV, in "
        "the input's row order, keeping its id column.",
    )
    _add_loading_options(predict)
    predict.add_argument("--input", required=True, help="CSV or JSONL file to predict")
    predict.add_argument("--output", required=True, help="CSV file to write")
    predict.add_argument("--proba", action="store_true", help="add a probability per class")
    predict.add_argument("--text-cols", nargs="+", help="default: the columns used in fit")
    predict.add_argument("--id-col", default="id", help="kept in the output when present")
    predict.set_defaults(func=_predict)

    evaluate = sub.add_parser(
        "evaluate",
        **defaults_shown,
        help="accuracy, macro-F1, MCC and a per-class report",
        description="Score a saved model on a labelled CSV/JSONL file.",
    )
    _add_loading_options(evaluate)
    evaluate.add_argument("--input", required=True, help="labelled CSV or JSONL file")
    evaluate.add_argument("--label-col", default="label", help="column of true labels")
    evaluate.add_argument("--text-cols", nargs="+", help="default: the columns used in fit")
    evaluate.set_defaults(func=_evaluate)
    return parser


def main(argv=None):
    """Entry point of the ``sklearn-ltuning`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        message = " ".join(str(exc).split())
        print(f"sklearn-ltuning: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
