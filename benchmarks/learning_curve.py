"""Where tuning starts to pay: test accuracy against training-set size, per method.

Each method gets exactly the ``n`` training examples a user would have (nested
subsamples of one fixed permutation, ``reproduce.py``'s ``load_dataset``), with its
defaults, and is scored once on the dataset's full test file:

* ``frozen_lrcv``: the tuned frozen probe, ``make_frozen_probe()`` (scaled features, C by
  5-fold cross-validation on the ``n`` examples);
* ``lt_prefix``: ``LTuningClassifier()`` (the recipe: probe start, schedule, early stopping
  on its own held-out tenth when ``"auto"`` turns it on);
* ``prefix``: ``LTuningClassifier(method="prefix")``, the same recipe;
* ``full_finetune``: the whole backbone and a linear head on the recipe's pooled features,
  AdamW at ``--ft-lr`` (chosen on validation at 800 examples in ``reproduce.py``: 3e-5 on
  SICK and SST-2), ``--epochs`` epochs, no held-out data.

Every finished run is one JSON file under ``--out`` and is skipped next time, so the
command can be stopped and started again. ``--report`` prints the table and draws the
plot (``docs/_static/benchmarks/learning_curve.png``).

Usage::

    python -m benchmarks.learning_curve --data-dir ../shared/data
    python -m benchmarks.learning_curve --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import run_once
from benchmarks.reproduce import _metrics, _pooled_module, load_dataset

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "learning_curve"
PLOT = ROOT / "docs" / "_static" / "benchmarks" / "learning_curve.png"
METHODS = ["frozen_lrcv", "lt_prefix", "prefix", "full_finetune"]
TITLES = {
    "frozen_lrcv": "tuned frozen probe (frozen+LRCV)",
    "lt_prefix": "LT-prefix (defaults)",
    "prefix": "prefix tuning (same recipe)",
    "full_finetune": "full fine-tuning",
}
FULL = 0  # --sizes value meaning the whole training file


def run_probe(data, args):
    from sklearn_ltuning import make_frozen_probe

    (X_tr, y_tr), (X_te, y_te) = data["train"], data["test"]
    start = time.perf_counter()
    model = make_frozen_probe(args.backbone, max_length=args.max_length).fit(X_tr, y_tr)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    proba = model.predict_proba(X_te)
    lr = model[-1]
    return {
        **_metrics(y_te, proba, model.classes_),
        "fit_s": fit_s,
        "predict_s": time.perf_counter() - start,
        "n_params": int(lr.coef_.size + lr.intercept_.size),
        "C": float(np.ravel(lr.C_)[0]),
    }


def run_ltuning(data, method, seed, args):
    from sklearn_ltuning import LTuningClassifier
    from sklearn_ltuning.plan import to_json

    (X_tr, y_tr), (X_te, y_te) = data["train"], data["test"]
    clf = LTuningClassifier(
        method=method, backbone=args.backbone, max_length=args.max_length, random_state=seed
    )
    start = time.perf_counter()
    clf.fit(X_tr, y_tr)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    proba = clf.predict_proba(X_te)
    return {
        **_metrics(y_te, proba, clf.classes_),
        "fit_s": fit_s,
        "predict_s": time.perf_counter() - start,
        "n_params": int(clf.n_trainable_params_),
        "recipe": to_json(clf.recipe_),
        "best_step": clf.history_[-1].get("best_step"),
    }


def run_full_finetune(data, seed, args):
    import copy

    import torch
    from skorch import NeuralNetClassifier

    from sklearn_ltuning.backbones.loading import load_backbone
    from sklearn_ltuning.inputs import collate, pad, tokenize

    (X_tr, y_tr), (X_te, y_te) = data["train"], data["test"]
    handle = load_backbone(args.backbone)
    classes = np.unique(y_tr)
    model = copy.deepcopy(handle.model).train()
    for p in model.parameters():
        p.requires_grad_(True)
    module = _pooled_module(model, len(classes), pairs=data["pairs"])
    # After the module: _pooled_module seeds its head's start with 0 (as reproduce.py
    # does), which would otherwise give every seed the same batch order.
    torch.manual_seed(seed)

    def arrays(X):
        columns = [[a for a, _ in X], [b for _, b in X]] if data["pairs"] else [list(X)]
        return pad(tokenize(handle.tokenizer, columns, args.max_length), handle.pad_token_id)

    net = NeuralNetClassifier(
        module,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=args.ft_lr,
        max_epochs=args.epochs,
        batch_size=16,
        train_split=None,
        iterator_train__shuffle=True,
        iterator_train__collate_fn=collate,
        iterator_valid__collate_fn=collate,
        verbose=0,
    )
    y = np.searchsorted(classes, y_tr).astype(np.int64)
    start = time.perf_counter()
    net.fit(arrays(X_tr), y)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    proba = net.predict_proba(arrays(X_te))
    return {
        **_metrics(y_te, proba, classes),
        "fit_s": fit_s,
        "predict_s": time.perf_counter() - start,
        "n_params": int(sum(p.numel() for p in module.parameters() if p.requires_grad)),
        "lr": args.ft_lr,
    }


def run_one(out, dataset, size, method, seed, args):
    tag = Path(args.backbone).name  # a registered name, or a folder's last part
    key = f"{dataset}__{tag}__n{size or 'full'}__{method}__s{seed}"
    path = out / f"{key}.json"
    if path.exists():
        return
    data = load_dataset(args.data_dir, dataset, size or 10**9, 0, 0)
    n = len(data["train"][0])
    meta = {"dataset": dataset, "backbone": args.backbone, "size": size or "full"}
    meta.update({"n_train": n, "n_test": len(data["test"][0]), "method": method, "seed": seed})

    def fn():
        if method == "frozen_lrcv":
            return run_probe(data, args)
        if method == "full_finetune":
            return run_full_finetune(data, seed, args)
        return run_ltuning(data, method, seed, args)

    run_once(path, fn, meta)


#: ``reproduce.py``'s method names for this curve's methods (``--full-from``).
FROM_REPRODUCE = {
    "frozen_lrcv": "frozen_lrcv",
    "lt_prefix:recipe": "lt_prefix",
    "prefix:recipe": "prefix",
    "full_finetune": "full_finetune",
}


def full_set_points(folder, datasets, backbone="minilm-l6"):
    """The full-set end of the curve, read from ``reproduce.py``'s full-set results.

    Those runs use the same defaults and test files but hold 200 training examples out
    as their validation set (early stopping reads it; full fine-tuning's rate was chosen
    on it), so they sit at the training file's size less 200 and are marked as such.

    Returns
    -------
    rows : list of dict
        One per (dataset, method): ``accuracy``, ``n_train``, ``fit_s``, ``seed``.
    """
    rows = []
    for path in sorted(Path(folder).glob("*.json")):
        r = json.loads(path.read_text())
        method = FROM_REPRODUCE.get(r.get("method"))
        if r.get("status") != "ok" or method is None or r["dataset"] not in datasets:
            continue
        if r.get("backbone") != backbone or r.get("seed") not in (None, 0):
            continue
        rows.append(
            {
                "dataset": r["dataset"],
                "method": method,
                "n_train": int(r["n_train"]),
                "accuracy": float(r["accuracy"]),
                "fit_s": float(r["fit_s"]),
                "seed": 0,
                "source": "reproduce",
            }
        )
    return rows


def summarise(out, full_from=None):
    rows = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*.json"))]
    rows = [r for r in rows if r["status"] == "ok"]
    if full_from is not None:
        rows += full_set_points(full_from, {r["dataset"] for r in rows})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["source"] = frame["source"].fillna("curve") if "source" in frame else "curve"
    return (
        frame.groupby(["dataset", "n_train", "method"])
        .agg(
            acc_mean=("accuracy", "mean"),
            acc_std=("accuracy", lambda a: float(np.std(a))),
            acc_min=("accuracy", "min"),
            acc_max=("accuracy", "max"),
            seeds=("seed", "count"),
            fit_s=("fit_s", "mean"),
            source=("source", "first"),
        )
        .reset_index()
    )


def report(out, plot=PLOT, full_from=None):
    summary = summarise(out, full_from)
    if summary.empty:
        print("no results yet")
        return 0
    for dataset, group in summary.groupby("dataset"):
        sizes = sorted(group["n_train"].unique())
        print(
            f"\n#### {dataset.upper()}: test accuracy by training examples (mean ± sd over seeds)\n"
        )
        print("| method | " + " | ".join(f"{n:,}" for n in sizes) + " |")
        print("|---|" + "---|" * len(sizes))
        for method in METHODS:
            cells = []
            for n in sizes:
                row = group[(group["n_train"] == n) & (group["method"] == method)]
                if row.empty:
                    cells.append("–")
                    continue
                r = row.iloc[0]
                spread = f" ± {r['acc_std']:.3f}" if r["seeds"] > 1 else ""
                cells.append(f"{r['acc_mean']:.3f}{spread}")
            print(f"| {TITLES[method]} | " + " | ".join(cells) + " |")
    if full_from is not None:
        print(
            "\nThe largest size of each dataset: `reproduce.py`'s full-set runs "
            f"({_relative(full_from)}), one seed, the training file less the 200 examples "
            "they hold out for validation."
        )
    draw(summary, plot)
    return 0


def _relative(path):
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def draw(summary, path):
    """Accuracy against training-set size (log x), one line per method, spread shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted(summary["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        group = summary[summary["dataset"] == dataset]
        for method in METHODS:
            rows = group[group["method"] == method].sort_values("n_train")
            if rows.empty:
                continue
            n, mean = rows["n_train"].to_numpy(), rows["acc_mean"].to_numpy()
            line = ax.plot(n, mean, marker="o", label=TITLES[method])[0]
            ax.fill_between(
                n, rows["acc_min"], rows["acc_max"], color=line.get_color(), alpha=0.2, lw=0
            )
            # Points from reproduce.py's full-set runs (another protocol): open markers.
            other = rows["source"].to_numpy() != "curve"
            ax.plot(n[other], mean[other], "o", mfc="white", color=line.get_color())
        ax.set_xscale("log")
        sizes = sorted(group["n_train"].unique())
        full = set(group.loc[group["source"] != "curve", "n_train"])
        # The full set's tick on a second line: it can sit close to 3,200 on a log axis.
        ax.set_xticks(sizes, [f"\n{n:,} (full)" if n in full else f"{n:,}" for n in sizes])
        ax.minorticks_off()
        ax.set(
            title=dataset.upper(), xlabel="training examples (log scale)", ylabel="test accuracy"
        )
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        "MiniLM-L6, CPU: mean over seeds, band = min-max over seeds; open markers: "
        "full-set runs of reproduce.py (200 examples held out for validation)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--datasets", nargs="+", default=["sst2", "sick"])
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=[200, 800, 3200, FULL], help="0: the full file"
    )
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", type=int, default=3, help="seeds at 800 examples and below")
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3, help="full fine-tuning epochs")
    parser.add_argument("--ft-lr", type=float, default=3e-5)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--report", action="store_true")
    parser.add_argument(
        "--full-from",
        metavar="FOLDER",
        help="read the full-set points from reproduce.py's results in FOLDER "
        "(e.g. benchmarks/results/reproduce_full) instead of running them",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        for size in args.sizes:  # small sizes first: the cheap points arrive early
            for dataset in args.datasets:
                for method in args.methods:
                    # The probe has no seed: the same fit every time.
                    seeds = 1 if method == "frozen_lrcv" or not 0 < size <= 800 else args.seeds
                    for seed in range(seeds):
                        run_one(out, dataset, size, method, seed, args)
    return report(out, full_from=args.full_from)


if __name__ == "__main__":
    raise SystemExit(main())
