"""Where LT-prefix starts on a decoder: validation accuracy at step 0, by seed.

With the probe start (``head_init="probe"``), training begins at a head fitted on the
frozen features read *without* virtual tokens, while every input is then scored *with*
its label's initial prefix. On an encoder the two readings nearly agree (the initial
prefixes move the output by at most ``max_initial_shift``); on a decoder the first
scored point of the decoder table was below the probe and differed by seed (SST-2,
step 0: 0.720, 0.695, 0.700). Early stopping keeps the best point *including* step 0,
so a low, seed-dependent start is a low, seed-dependent floor.

This script measures the start only (no training step is taken: the fit stops after
the probe start), on the decoder table's split (``reproduce.load_dataset``: 800
training, 200 validation examples), for each seed:

* ``probe``: the head's frozen reading (no virtual tokens), i.e. the probe itself;
* ``start``: the package's start (the head above, inputs read with the initial label
  prefixes, shift at most 0.05);
* ``start, shift 0.01``: the same head with the initial map scaled down to a 0.01
  shift (is the prefixes' *content* the cause?);
* ``prefixed probe``: the probe fitted on the features read *with* the initial
  prefixes (averaged over the labels, as the head cannot know the right one), then
  the same scoring (is the *reading with a prefix at all* the cause?);
* ``prefixed probe, shift 0.01``: both;
* ``gated start``: the package's start since the gated prefix became the decoder
  default (``prefix_gate=True``): the same head, the prefix read through a gate at
  zero, which leaves the frozen reading as it is (so it equals ``probe``).

The other variants are ungated (``prefix_gate=False``), the default when they were
measured.

Usage::

    python -m benchmarks.decoder_start --data-dir ../shared/data --datasets sst2 sick
    python -m benchmarks.decoder_start --report
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks import run_once

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "decoder_start"
VARIANTS = (
    "probe",
    "start",
    "start, shift 0.01",
    "prefixed probe",
    "prefixed probe, shift 0.01",
    "gated start",
)


def _batches(net, arrays, rows):
    """The net's own validation batches of ``rows`` (dataset order, padding trimmed).

    Read through :meth:`LTuningNet.get_iterator`, as the estimator's validation and
    prediction are, so these accuracies are taken from the batches the fit scores.
    """
    from skorch.dataset import unpack_data

    dataset = net.get_dataset({k: v[rows] for k, v in arrays.items()})
    for batch in net.get_iterator(dataset, training=False):
        yield unpack_data(batch)[0]


def start_accuracies(data, backbone, seed):
    """Validation accuracy of each start in :data:`VARIANTS` (no training step taken)."""
    from unittest import mock

    import torch

    from benchmarks.reproduce import fixed_split
    from sklearn_ltuning import LTuningClassifier, training
    from sklearn_ltuning.heads import fit_probe
    from sklearn_ltuning.inputs import validate_texts

    (X_tr, y_tr), (X_va, y_va) = data["train"], data["valid"]

    def start(gate):
        clf = LTuningClassifier(
            method="lt_prefix",
            backbone=backbone,
            random_state=seed,
            train_split=fixed_split(len(X_tr), len(X_va)),
            prefix_gate=gate,
        )
        # The fit builds the net, draws the initial map and fits the probe start; the
        # training call is replaced so no step is taken.
        with mock.patch.object(training, "train", lambda net, *args, **kwargs: net):
            return clf.fit(list(X_tr) + list(X_va), np.concatenate([y_tr, y_va]))

    gated, clf = start(True), start(False)
    module = clf.net_.module_
    arrays = clf.plan_.arrays(validate_texts(list(X_tr) + list(X_va), name="X")[0])
    y_enc = np.searchsorted(clf.classes_, np.concatenate([y_tr, y_va]))
    train_rows, valid_rows = np.arange(len(X_tr)), np.arange(len(X_tr), len(X_tr) + len(X_va))
    n_labels = len(clf.classes_)

    @torch.inference_mode()
    def accuracy(frozen=False, module=module):
        pred = []
        for Xi in _batches(clf.net_, arrays, valid_rows):
            scores = module.frozen_scores(**Xi) if frozen else module(**Xi)
            pred.append(scores.argmax(1).numpy())
        return float(np.mean(np.concatenate(pred) == y_enc[valid_rows]))

    @torch.inference_mode()
    def refit_on_prefixed_features():
        features = []
        for Xi in _batches(clf.net_, arrays, train_rows):
            batch = Xi["input_ids"].shape[0]
            readings = [
                module.encode(**Xi, label_idx=torch.full((batch,), k, dtype=torch.long))
                for k in range(n_labels)
            ]
            features.append(torch.stack(readings).mean(0).float().numpy())
        features, targets = np.vstack(features), y_enc[train_rows]
        coef, intercept = fit_probe(features, targets, n_labels)
        module.head.start_from_probe(coef, intercept, features, targets)

    result = {
        "probe": accuracy(frozen=True),
        "start": accuracy(),
        "gated start": accuracy(module=gated.net_.module_),
    }
    head = {k: v.clone() for k, v in module.head.state_dict().items()}
    refit_on_prefixed_features()
    result["prefixed probe"] = accuracy()
    module.head.load_state_dict(head)
    module.max_initial_shift = 0.01
    with torch.no_grad():
        module._limit_output_shift(module.label_hidden)
    result["start, shift 0.01"] = accuracy()
    refit_on_prefixed_features()
    result["prefixed probe, shift 0.01"] = accuracy()
    return {"valid_accuracy": result, "n_train": len(X_tr), "n_valid": len(X_va)}


def report_text(out):
    """One table per dataset: each start's validation accuracy by seed, mean and spread."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*.json"))]
    rows = [r for r in rows if r["status"] == "ok"]
    lines = []
    for dataset in sorted({r["dataset"] for r in rows}):
        runs = sorted((r for r in rows if r["dataset"] == dataset), key=lambda r: r["seed"])
        seeds = [r["seed"] for r in runs]
        lines += [
            f"\n#### {dataset} ({runs[0]['backbone']}), validation accuracy at step 0\n",
            "| start | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | spread |",
            "|---|" + "---|" * (len(seeds) + 2),
        ]
        for variant in VARIANTS:
            if any(variant not in r["valid_accuracy"] for r in runs):
                # Results recorded before the variant existed.
                lines.append(f"| {variant} | " + " | ".join(["not run"] * (len(seeds) + 2)) + " |")
                continue
            acc = np.array([r["valid_accuracy"][variant] for r in runs])
            cells = " | ".join(f"{a:.3f}" for a in acc)
            lines.append(f"| {variant} | {cells} | {acc.mean():.3f} | {np.ptp(acc):.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="+", default=["sst2", "sick"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        from benchmarks.reproduce import load_dataset

        for dataset in args.datasets:
            data = load_dataset(args.data_dir, dataset, 800, 200, 0)
            for seed in args.seeds:
                run_once(
                    out / f"{dataset}__{args.backbone}__s{seed}.json",
                    lambda data=data, seed=seed: start_accuracies(data, args.backbone, seed),
                    {"dataset": dataset, "backbone": args.backbone, "seed": seed},
                )
    print(report_text(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
