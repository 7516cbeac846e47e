"""Many labels: Banking77 (77 intents), sampled negatives, shortlists, cost per example, int8.

Parts (``--part``), each resumable (one JSON file per finished run under ``--out``):

* ``sweep``: choose the ``"auto"`` values on validation data only: 10 texts per class
  train, another 10 per class from the training file validate; LT-prefix with
  ``negatives`` in ``--negatives`` and ``hard_negatives`` in ``--hard``, then the
  shortlist size ``k`` on the fitted model (accuracy against exhaustive scoring).
* ``table``: Banking77 at 5 and 10 texts per class (3 seeds, each its own draw of
  texts) and on the full training set (one seed): LT-prefix and prefix tuning with
  defaults, the tuned frozen probe, and zero-shot (cosine of frozen embeddings to the
  readable label text); the full test set.
* ``cost``: fit and predict seconds per example at K = 77 against K = 3 (the same
  Banking77 texts; 3 intents drawn at random), with the package defaults, one process.
* ``shortlist``: shortlisted against exhaustive accuracy on 500 test texts, for a fitted
  10-per-class LT-prefix (the table's seed 0).
* ``int8``: int8 against float prediction, throughput and accuracy, on the demo's split
  (LT-prefix fitted with defaults) and on SST-2 (LT-prefix fitted on 800 sentences).

Usage::

    python -m benchmarks.many_labels --part sweep
    python -m benchmarks.many_labels --part table --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import run_once

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "many_labels"


def banking77(data_dir, per_class, seed=0, valid_per_class=0):
    """Training (``per_class`` texts per intent, or all with None), validation, test."""
    folder = Path(data_dir) / "banking77"
    train = pd.read_csv(folder / "train.csv")
    test = pd.read_csv(folder / "test.csv")
    rng = np.random.RandomState(seed)
    train = train.iloc[rng.permutation(len(train))]
    rank = train.groupby("label").cumcount()
    if per_class is None:
        tr, va = train, train.iloc[:0]
    else:
        tr = train[rank < per_class]
        va = train[(rank >= per_class) & (rank < per_class + valid_per_class)]
    return (
        (list(tr.text), tr.label.to_numpy().astype(object)),
        (list(va.text), va.label.to_numpy().astype(object)),
        (list(test.text), test.label.to_numpy().astype(object)),
    )


#: The backbone every run uses (``--backbone``).
BACKBONE = {"backbone": "minilm-l6"}


def _fit_score(params, train, test, seed):
    from sklearn_ltuning import LTuningClassifier
    from sklearn_ltuning.plan import to_json

    clf = LTuningClassifier(random_state=seed, **BACKBONE, **params)
    start = time.perf_counter()
    clf.fit(*train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = clf.predict(test[0])
    return clf, {
        "accuracy": float(np.mean(pred == test[1])),
        "fit_s": fit_s,
        "predict_s": time.perf_counter() - start,
        "n_train": len(train[0]),
        "n_test": len(test[0]),
        "recipe": to_json(clf.recipe_),
        "shortlist": clf.plan_.shortlist,
        "n_params": int(clf.n_trainable_params_),
    }


def part_sweep(args, out):
    train, valid, _ = banking77(args.data_dir, 10, valid_per_class=10)
    # The tuned probe on the same split: what the sweep's settings are read against.
    run_once(out / "sweep__probe.json", lambda: _probe(train, valid), {"part": "sweep_probe"})
    for negatives in args.negatives:
        for hard in args.hard:
            n = None if negatives == 0 else negatives
            if n is None and hard:
                continue  # exhaustive scoring has nothing to sample
            name = f"sweep__neg{negatives}__hard{hard}"
            params = {"negatives": n, "hard_negatives": hard, "shortlist": None}

            def fn(params=params):
                clf, result = _fit_score(params, train, valid, 0)
                # The shortlist size, on the same fitted model and validation texts.
                scores = {}
                for k in args.shortlists:
                    clf.set_params(shortlist=k)
                    start = time.perf_counter()
                    pred = clf.predict(valid[0])
                    scores[str(k)] = {
                        "accuracy": float(np.mean(pred == valid[1])),
                        "predict_s": time.perf_counter() - start,
                    }
                return {**result, "valid_accuracy": result["accuracy"], "by_shortlist": scores}

            run_once(out / f"{name}.json", fn, {"part": "sweep", "negatives": n, "hard": hard})


def _zero_shot(train, test):
    from sklearn_ltuning import FrozenEmbeddings
    from sklearn_ltuning.labels import default_label_text

    classes = np.unique(train[1])
    reader = FrozenEmbeddings(pooling="mean", norm="l2", **BACKBONE).fit(test[0][:2])
    start = time.perf_counter()
    labels = reader.transform([default_label_text(c) for c in classes])
    pred = classes[(reader.transform(test[0]) @ labels.T).argmax(1)]
    return {"accuracy": float(np.mean(pred == test[1])), "predict_s": time.perf_counter() - start}


def _probe(train, test):
    from sklearn_ltuning import make_frozen_probe

    start = time.perf_counter()
    probe = make_frozen_probe(**BACKBONE).fit(*train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    return {
        "accuracy": float(probe.score(*test)),
        "fit_s": fit_s,
        "predict_s": time.perf_counter() - start,
    }


def part_table(args, out):
    """Each seed draws its own training texts (the sample varies as much as the model at
    5 per class), so the probe runs once per seed too; zero-shot reads no training text.
    """
    for per_class in args.per_class:
        per_class = None if per_class == 0 else per_class
        tag = "full" if per_class is None else f"{per_class}pc"
        seeds = range(3) if per_class is not None else range(1)
        for seed in seeds:
            train, _, test = banking77(args.data_dir, per_class, seed=seed)
            meta = {"part": "table", "per_class": per_class or "full", "n_train": len(train[0])}
            runs = [("frozen_lrcv", _probe)]
            if seed == 0:
                runs.insert(0, ("zero_shot", _zero_shot))
            for method in ("lt_prefix", "prefix"):

                def fit(train, test, method=method, seed=seed):
                    return _fit_score({"method": method}, train, test, seed)[1]

                runs.append((method, fit))
            for method, fn in runs:
                name = f"table__{tag}__{method}__s{seed}"
                run_once(
                    out / f"{name}.json",
                    lambda fn=fn, train=train, test=test: fn(train, test),
                    {**meta, "method": method, "seed": seed},
                )


def part_cost(args, out):
    """Seconds per training and per predicted example at K = 77 and K = 3.

    The same Banking77 texts at both K: 770 training texts (10 per intent at K = 77; the
    first 770 of 3 intents drawn at random at K = 3) and test texts of those intents.
    """
    full, _, test = banking77(args.data_dir, None)
    ten, _, _ = banking77(args.data_dir, 10)
    three = np.random.RandomState(1).choice(np.unique(full[1]), 3, replace=False)
    in_train, in_test = np.isin(full[1], three), np.isin(test[1], three)
    cases = {
        "K77": (ten, (test[0][:300], test[1][:300])),
        "K3": (
            (
                [t for t, k in zip(full[0], in_train, strict=True) if k][:770],
                full[1][in_train][:770],
            ),
            ([t for t, k in zip(test[0], in_test, strict=True) if k][:90], test[1][in_test][:90]),
        ),
    }
    for name, (tr, te) in cases.items():

        def fn(tr=tr, te=te):
            # One epoch, no early stopping: the cost of the training steps themselves.
            params = {"max_epochs": 1, "early_stopping": False}
            _, result = _fit_score(params, tr, te, 0)
            result["fit_s_per_example"] = result["fit_s"] / len(tr[0])
            result["predict_s_per_example"] = result["predict_s"] / len(te[0])
            return result

        run_once(out / f"cost__{name}.json", fn, {"part": "cost", "case": name})


def part_shortlist(args, out):
    from sklearn_ltuning import LTuningClassifier

    train, _, test = banking77(args.data_dir, 10)
    test = (test[0][:500], test[1][:500])

    def fn():
        clf = LTuningClassifier(random_state=0, **BACKBONE).fit(*train)
        rows = {}
        for k in [None, *args.shortlists]:
            clf.set_params(shortlist=k)
            start = time.perf_counter()
            pred = clf.predict(test[0])
            rows[str(k)] = {
                "accuracy": float(np.mean(pred == test[1])),
                "predict_s": time.perf_counter() - start,
            }
        return {"by_shortlist": rows, "accuracy": rows["None"]["accuracy"]}

    run_once(out / "shortlist__10pc.json", fn, {"part": "shortlist"})


def part_int8(args, out):
    from sklearn.model_selection import train_test_split

    from benchmarks.reproduce import load_dataset
    from sklearn_ltuning import LTuningClassifier
    from sklearn_ltuning.datasets import load_snli_sample

    X, y = load_snli_sample()
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=600, train_size=2400, stratify=y, random_state=0
    )
    sst2 = load_dataset(args.data_dir, "sst2", 800, 0, 0)
    cases = {
        "demo": ((X_tr, y_tr), (X_te, np.asarray(y_te))),
        "sst2": (sst2["train"], sst2["test"]),
    }
    for name, (train, test) in cases.items():

        def fn(train=train, test=test):
            clf = LTuningClassifier(random_state=0, **BACKBONE).fit(*train)
            rows = {}
            for quantization in (None, "int8", None, "int8"):  # twice each: warm caches
                clf.set_params(predict_quantization=quantization)
                start = time.perf_counter()
                pred = clf.predict(test[0])
                rows[str(quantization)] = {
                    "accuracy": float(np.mean(pred == np.asarray(test[1]))),
                    "predict_s": time.perf_counter() - start,
                }
            speedup = rows["None"]["predict_s"] / rows["int8"]["predict_s"]
            return {"by_quantization": rows, "speedup": speedup, "n_test": len(test[0])}

        run_once(out / f"int8__{name}.json", fn, {"part": "int8", "case": name})


def report_text(out):
    """The markdown tables of every finished run under ``out`` (what ``--report`` prints)."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*.json"))]
    ok = [r for r in rows if r["status"] == "ok"]
    lines = []
    sweep = [r for r in ok if r["part"] == "sweep"]
    if sweep:
        lines += [
            "#### Validation sweep (10 per class train, 10 per class validate)\n",
            "| negatives | hard | valid acc (exhaustive) | fit s | shortlist k: valid acc |",
            "|---|---|---|---|---|",
        ]
        for r in sorted(sweep, key=lambda r: (r["negatives"] or 999, r["hard"])):
            ks = ", ".join(f"{k}: {v['accuracy']:.3f}" for k, v in r["by_shortlist"].items())
            neg = "all (76)" if r["negatives"] is None else r["negatives"]
            lines.append(
                f"| {neg} | {r['hard']} | {r['valid_accuracy']:.3f} | {r['fit_s']:.0f} | {ks} |"
            )
    for r in ok:
        if r["part"] == "sweep_probe":
            lines.append(f"\nThe tuned frozen probe on the same split: {r['accuracy']:.3f}")
    table = pd.DataFrame([r for r in ok if r["part"] == "table"])
    if not table.empty:
        lines += [
            "\n#### Banking77 test accuracy (3,080 texts; mean ± sd over seeds [each seed])\n",
            "| method | 5 per class | 10 per class | full (10,003) |",
            "|---|---|---|---|",
        ]
        for method in ("zero_shot", "frozen_lrcv", "prefix", "lt_prefix"):
            cells = []
            for per in (5, 10, "full"):
                runs = table[(table.method == method) & (table.per_class == per)]
                acc = runs.sort_values("seed")["accuracy"]
                if len(acc) > 1:
                    each = ", ".join(f"{a:.3f}" for a in acc)
                    cells.append(f"{acc.mean():.3f} ± {acc.std(ddof=0):.3f} [{each}]")
                else:
                    cells.append(f"{acc.mean():.3f}" if len(acc) else "not run")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    cost = {r["case"]: r for r in ok if r["part"] == "cost"}
    if len(cost) == 2:
        fit = cost["K77"]["fit_s_per_example"] / cost["K3"]["fit_s_per_example"]
        pred = cost["K77"]["predict_s_per_example"] / cost["K3"]["predict_s_per_example"]
        lines.append(f"\ncost per example, K=77 / K=3: fit {fit:.2f}x, predict {pred:.2f}x")
    for r in ok:
        if r["part"] == "shortlist":
            lines += ["\n#### Shortlisted against exhaustive (500 test texts)\n"]
            lines += ["| shortlist k | accuracy | vs exhaustive | predict s |", "|---|---|---|---|"]
            exact = r["by_shortlist"]["None"]["accuracy"]
            for k, v in r["by_shortlist"].items():
                name = "all (exhaustive)" if k == "None" else k
                lines.append(
                    f"| {name} | {v['accuracy']:.3f} | {v['accuracy'] - exact:+.3f} "
                    f"| {v['predict_s']:.1f} |"
                )
        elif r["part"] == "int8":
            lines.append(f"\nint8 {r['case']}: {json.dumps(r['by_quantization'])}")
    return "\n".join(lines)


def report(out):
    print(report_text(out))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--part", choices=["sweep", "table", "cost", "shortlist", "int8"])
    parser.add_argument("--negatives", nargs="+", type=int, default=[3, 7, 15, 0])
    parser.add_argument("--hard", nargs="+", type=int, default=[0, 3])
    parser.add_argument(
        "--per-class",
        nargs="+",
        type=int,
        default=[5, 10, 0],
        help="table: training texts per intent (0: the full training set)",
    )
    parser.add_argument("--shortlists", nargs="+", type=int, default=[4, 8, 16, 32])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    BACKBONE["backbone"] = args.backbone
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part:
        globals()[f"part_{args.part}"](args, out)
    if args.report or not args.part:
        report(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
