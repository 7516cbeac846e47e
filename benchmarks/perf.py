"""Overhead of L-Tuning over the bare frozen backbone, as ratios measured in one run.

Prints each figure of the performance issue with its target, and with ``--write``
appends the table to BENCHMARKS.md. All on the default backbone (real MiniLM-L6).

Usage::

    python benchmarks/perf.py --data-dir ../shared/data --write
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks import report
from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.backbones import loading
from sklearn_ltuning.backbones.injection import run_backbone
from sklearn_ltuning.inputs import collate, length_grouped_batches, pad, tokenize


def median_time(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sick_pairs(data_dir, split, n=None):
    frame = pd.read_csv(Path(data_dir) / "sick" / f"{split}.csv")
    if n:
        frame = frame.sample(n, random_state=0)
    return list(zip(frame.premise, frame.hypothesis, strict=True)), frame.label.to_numpy()


def fitted(method, X, y, batch_size, prefix_length):
    return LTuningClassifier(
        method=method,
        prefix_length=prefix_length,
        batch_size=batch_size,
        max_epochs=1,
        random_state=0,
    ).fit(X, y)


def step_time(clf, X, y, repeats):
    """Median time of one training step (forward, backward, optimizer) on a fixed batch."""
    handle = clf.backbone_
    enc = tokenize(handle.tokenizer, [[a for a, _ in X], [b for _, b in X]], clf.max_input_tokens_)
    arrays = pad(enc, handle.pad_token_id)
    rows = [
        ({k: v[i] for k, v in arrays.items()}, int(t))
        for i, t in enumerate(np.searchsorted(clf.classes_, y))
    ]
    batch = collate(rows)
    net = clf.net_

    def step():
        net.optimizer_.zero_grad()
        net.train_step_single(batch)
        net.optimizer_.step()

    return median_time(step, repeats)


def profile_step(clf, X, y):
    """Seconds spent in each part of one LT-prefix training step (mean of 5)."""
    handle, net, module = clf.backbone_, clf.net_, clf.net_.module_
    parts = {
        "collation": 0.0,
        "method (label prefixes)": 0.0,
        "backbone forward + head": 0.0,
        "backward": 0.0,
        "optimizer": 0.0,
    }
    for _ in range(5):
        t0 = time.perf_counter()
        enc = tokenize(
            handle.tokenizer, [[a for a, _ in X], [b for _, b in X]], clf.max_input_tokens_
        )
        arrays = pad(enc, handle.pad_token_id)
        rows = [
            ({k: v[i] for k, v in arrays.items()}, int(t))
            for i, t in enumerate(np.searchsorted(clf.classes_, y))
        ]
        Xi, yi = collate(rows)
        t1 = time.perf_counter()
        label_idx, target = net._pair_labels(yi)
        tokens = module.virtual_tokens(len(yi), label_idx)
        t2 = time.perf_counter()
        features = module.reader(**Xi, injects=module.injects, tokens=tokens)
        scores = module.head(features, label_idx)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(scores, target)
        t3 = time.perf_counter()
        net.optimizer_.zero_grad()
        loss.backward()
        t4 = time.perf_counter()
        net.optimizer_.step()
        t5 = time.perf_counter()
        for key, dt in zip(parts, [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4], strict=True):
            parts[key] += dt / 5
    return parts


def predict_ratio(clf, X, repeats):
    """predict_proba time / (K x bare backbone forward time), same inputs and batching."""
    handle = clf.backbone_
    k = len(clf.classes_)
    enc = tokenize(handle.tokenizer, [[a for a, _ in X], [b for _, b in X]], clf.max_input_tokens_)
    order = np.argsort([len(r) for r in enc["input_ids"]], kind="stable")
    batches = []
    for b in range(0, len(order), clf.batch_size):
        arrays = pad(enc, handle.pad_token_id, order[b : b + clf.batch_size])
        arrays.pop("length")
        batches.append({key: torch.as_tensor(v) for key, v in arrays.items()})

    def bare():
        with torch.inference_mode():
            for batch in batches:
                run_backbone(handle, **batch)

    t_predict = median_time(lambda: clf.predict_proba(X), repeats, warmup=1)
    t_bare = median_time(bare, repeats, warmup=1)
    return t_predict / (k * t_bare), t_predict, t_bare


def padding_efficiency(data_dir, name, batch_size, tokenizer, max_length):
    frame = pd.read_csv(Path(data_dir) / name / "train.csv")
    enc = tokenize(tokenizer, [frame.premise.tolist(), frame.hypothesis.tolist()], max_length)
    lengths = np.array([len(r) for r in enc["input_ids"]])
    batches = length_grouped_batches(lengths, batch_size, torch.Generator().manual_seed(0))
    real = sum(lengths[b].sum() for b in batches)
    processed = sum(lengths[b].max() * len(b) for b in batches)
    return real / processed


def grid_load_share(X, y):
    from sklearn.model_selection import GridSearchCV

    loading.clear_backbone_cache()
    # Time the real loads by wrapping the loader for this measurement only.
    spent = {"loads": 0, "seconds": 0.0}
    real = loading._load_uncached

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent["loads"] += 1
            spent["seconds"] += time.perf_counter() - t0

    loading._load_uncached = timed
    try:
        start = time.perf_counter()
        grid = GridSearchCV(
            LTuningClassifier(max_epochs=1, random_state=0, batch_size=32),
            {"prefix_length": [4, 8], "method": ["lt_prefix", "prefix"]},
            cv=2,
        )
        grid.fit(X, y)
        total = time.perf_counter() - start
    finally:
        loading._load_uncached = real
    return spent["seconds"] / total, spent["loads"], total


def peak_rss_fit(data_dir):
    code = (
        "import resource; from benchmarks.perf import sick_pairs; "
        "from sklearn_ltuning import LTuningClassifier; "
        f"X, y = sick_pairs({str(data_dir)!r}, 'train', 512); "
        "LTuningClassifier(batch_size=32, max_length=128, max_epochs=1, random_state=0).fit(X, y); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    return int(out.stdout.strip().splitlines()[-1]) / 2**20


def predict_memory(data_dir):
    """Peak RSS (GiB) after predicting 10,000 and then 100,000 short texts (subprocess)."""
    code = (
        "import resource; from sklearn_ltuning import LTuningClassifier; "
        "X = ['a short text number %d' % i for i in range(100_000)]; "
        "y = ['even' if i % 2 else 'odd' for i in range(64)]; "
        "clf = LTuningClassifier(method='lt_prefix', max_epochs=1, random_state=0, "
        "batch_size=64).fit(X[:64], y); "
        "clf.predict_proba(X[:10_000]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); "
        "clf.predict_proba(X); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    small, large = (int(v) / 2**20 for v in out.stdout.strip().splitlines()[-2:])
    return small, large


def peft_ratio(clf_lt, X, y, repeats, prefix_length):
    """(LT-prefix step / PEFT prefix-tuning step, note); the ratio is None if not measurable."""
    import importlib.util

    if importlib.util.find_spec("peft") is None:
        return None, "peft not installed: not measured"
    try:
        return _peft_ratio(clf_lt, X, y, repeats, prefix_length), "peft installed"
    except ValueError as exc:  # e.g. PEFT not supporting this transformers version's cache API
        import peft

        return None, f"PEFT {peft.__version__} refused: {exc}"


def _peft_ratio(clf_lt, X, y, repeats, prefix_length):
    from peft import PrefixTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    path = clf_lt.backbone_.source.path
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    peft_model = get_peft_model(
        model, PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=prefix_length)
    )
    tok = clf_lt.backbone_.tokenizer
    enc = tok(
        [a for a, _ in X],
        [b for _, b in X],
        padding=True,
        truncation=True,
        max_length=clf_lt.max_input_tokens_,
        return_tensors="pt",
    )
    labels = torch.as_tensor(np.searchsorted(clf_lt.classes_, y))
    optim = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)

    def step():
        optim.zero_grad()
        peft_model(**enc, labels=labels).loss.backward()
        optim.step()

    peft_time = median_time(step, repeats)
    return step_time(clf_lt, X, y, repeats) / peft_time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--prefix-length", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--n-predict", type=int, default=256)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    X_fit, y_fit = sick_pairs(args.data_dir, "train", 256)
    X_step, y_step = X_fit[: args.batch_size], y_fit[: args.batch_size]
    clfs = {
        m: fitted(m, X_fit, y_fit, args.batch_size, args.prefix_length)
        for m in ["lt_prefix", "prefix", "lt_prompt", "prompt"]
    }
    steps = {m: step_time(c, X_step, y_step, args.repeats) for m, c in clfs.items()}
    X_pred, _ = sick_pairs(args.data_dir, "test", args.n_predict)
    pred_ratio, t_pred, t_bare = predict_ratio(clfs["lt_prefix"], X_pred, max(3, args.repeats // 2))
    tokenizer = clfs["lt_prefix"].backbone_.tokenizer
    pad_sick = padding_efficiency(args.data_dir, "sick", args.batch_size, tokenizer, 128)
    pad_rte = padding_efficiency(args.data_dir, "rte", args.batch_size, tokenizer, 128)
    with tempfile.TemporaryDirectory() as tmp:
        folder = clfs["lt_prefix"].save(Path(tmp) / "m")
        saved = sum(f.stat().st_size for f in folder.iterdir())
    param_bytes = sum(
        p.numel() * p.element_size() for p in clfs["lt_prefix"].net_.module_.parameters()
    )
    share, n_loads, grid_total = grid_load_share(*sick_pairs(args.data_dir, "train", 128))
    rss = peak_rss_fit(args.data_dir)
    peft, peft_note = peft_ratio(
        clfs["lt_prefix"], X_step, y_step, args.repeats, args.prefix_length
    )
    profile = profile_step(clfs["lt_prefix"], X_step, y_step)
    rss_10k, rss_100k = predict_memory(args.data_dir)

    rows = [
        (
            "LT-prefix step / prefix-tuning step",
            steps["lt_prefix"] / steps["prefix"],
            "<= 1.10",
            f"{steps['lt_prefix'] * 1e3:.0f} ms / {steps['prefix'] * 1e3:.0f} ms",
        ),
        (
            "LT-prompt step / prompt-tuning step",
            steps["lt_prompt"] / steps["prompt"],
            "<= 1.10",
            f"{steps['lt_prompt'] * 1e3:.0f} ms / {steps['prompt'] * 1e3:.0f} ms",
        ),
        (
            f"predict_proba / (K x bare forward), N={args.n_predict}, K=3",
            pred_ratio,
            "<= 1.15",
            f"{t_pred:.2f} s / (3 x {t_bare:.2f} s)",
        ),
        ("padding efficiency, SICK train", pad_sick, ">= 0.85", "real / processed tokens"),
        ("padding efficiency, RTE train", pad_rte, ">= 0.85", "real / processed tokens"),
        (
            "GridSearchCV 8 fits: backbone loading / total",
            share,
            "<= 0.05",
            f"{n_loads} load(s) in {grid_total:.0f} s",
        ),
        (
            "saved LT-prefix model / trained parameter bytes",
            saved / param_bytes,
            "<= 1.10 (+64 KiB)",
            f"{saved:,} B / {param_bytes:,} B",
        ),
        (
            "LT-prefix step / PEFT prefix-tuning step",
            peft if peft is not None else float("nan"),
            "<= 1.0",
            peft_note,
        ),
        ("peak RSS, LT-prefix fit, batch 32, max_length 128 (GiB)", rss, "<= 2", "subprocess"),
        (
            "peak RSS predicting 100,000 / 10,000 short texts (LT-prefix, K=2)",
            rss_100k / rss_10k,
            "flat (~1.0)",
            f"{rss_100k:.2f} GiB / {rss_10k:.2f} GiB",
        ),
    ]
    lines = [
        "### Performance (benchmarks/perf.py)",
        "",
        f"Command: `python benchmarks/perf.py --data-dir {args.data_dir} --batch-size "
        f"{args.batch_size} --prefix-length {args.prefix_length} --repeats {args.repeats} "
        f"--n-predict {args.n_predict}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, CPU "
        f"only, {torch.get_num_threads()} threads; date {datetime.date.today().isoformat()}. "
        "Medians of repeated timings in one process.",
        "",
        "| figure | measured | target | detail |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {value:.3f} | {target} | {detail} |" for name, value, target, detail in rows
    ]
    lines += [
        "",
        "Where one LT-prefix training step's time goes (mean of 5 steps, batch "
        f"{args.batch_size}):",
        "",
        "| part | ms | share |",
        "|---|---|---|",
    ]
    total = sum(profile.values())
    lines += [f"| {k} | {v * 1e3:.1f} | {v / total:.1%} |" for k, v in profile.items()]
    table = "\n".join(lines) + "\n"
    report(table, args.write)
    print(json.dumps({name: value for name, value, _, _ in rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
