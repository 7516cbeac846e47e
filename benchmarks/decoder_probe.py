"""The tuned frozen probe on a backbone's own features, over poolings, pair encodings and layers.

For each dataset (``reproduce.py``'s fixed subsample: ``--n-train`` training examples,
200 validation examples; no test set is read) and each setting, fits
``make_pipeline(FrozenEmbeddings(...), StandardScaler(), LogisticRegressionCV())`` on the
training part and scores the validation part. ``--layers`` also reads every
``--layer-step``-th hidden layer (mean or last-token pooled, the pair encoding given) to
see where in a decoder the task is most linearly readable; that sweep is a diagnostic
outside the package (the package reads the last layer).

Every finished setting is one JSON file under ``--out``; finished ones are skipped, so
the command can be stopped and started again. ``--report`` prints the table.

Usage::

    python -m benchmarks.decoder_probe --backbone smollm2-135m --datasets sick sst2 rte
    python -m benchmarks.decoder_probe --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.reproduce import load_dataset

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "decoder_probe"


def probe_score(F_tr, y_tr, F_va, y_va):
    """Validation accuracy of the tuned probe (scaled, C by 5-fold CV) on given features."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_ltuning.heads import lrcv_settings

    model = make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(Cs=10, cv=5, scoring="accuracy", max_iter=2000, **lrcv_settings()),
    ).fit(F_tr, y_tr)
    return float(model.score(F_va, y_va)), float(np.ravel(model[-1].C_)[0])


def run_setting(data, backbone, pooling, encoding, max_length):
    from sklearn_ltuning import FrozenEmbeddings

    (X_tr, y_tr), (X_va, y_va) = data["train"], data["valid"]
    reader = FrozenEmbeddings(
        backbone=backbone, pooling=pooling, pair_encoding=encoding, max_length=max_length
    )
    start = time.perf_counter()
    F_tr = reader.fit_transform(X_tr)
    F_va = reader.transform(X_va)
    seconds = time.perf_counter() - start
    acc, C = probe_score(F_tr, y_tr, F_va, y_va)
    return {"valid_acc": acc, "C": C, "n_features": int(F_tr.shape[1]), "embed_s": seconds}


def layer_features(handle, X, pooling, encoding, max_length, layers):
    """Pooled, LayerNorm-ed features of chosen hidden layers (a diagnostic sweep)."""
    import torch

    from sklearn_ltuning.backbones.injection import pair_blocks, pool
    from sklearn_ltuning.inputs import tokenize

    pairs = not isinstance(X[0], str)
    texts = [[a for a, _ in X], [b for _, b in X]] if pairs and encoding == "separate" else None
    out = {layer: [] for layer in layers}
    columns = (
        [[t] for t in texts]
        if texts
        else ([[[a for a, _ in X], [b for _, b in X]]] if pairs else [[list(X)]])
    )
    blocks = []
    for cols in columns:
        enc = tokenize(handle.tokenizer, cols, min(max_length, handle.position_limit))
        per_layer = {layer: [] for layer in layers}
        for start in range(0, len(enc["input_ids"]), 32):
            rows = enc["input_ids"][start : start + 32]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [handle.pad_token_id] * (width - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
            seg = None
            if "segment_ids" in enc:
                seg = [s + [0] * (width - len(s)) for s in enc["segment_ids"][start : start + 32]]
                seg = torch.tensor(seg)
            with torch.inference_mode():
                hidden = handle.model(
                    input_ids=ids, attention_mask=mask, output_hidden_states=True
                ).hidden_states
            for layer in layers:
                h = hidden[layer].float()

                def norm(v):
                    return torch.nn.functional.layer_norm(v, v.shape[-1:])

                if seg is not None and encoding == "cross":
                    u = norm(pool(h, seg == 1, pooling))
                    v = norm(pool(h, seg == 2, pooling))
                    per_layer[layer].append(pair_blocks(u, v).numpy())
                else:
                    per_layer[layer].append(norm(pool(h, mask, pooling)).numpy())
        blocks.append({layer: np.vstack(v) for layer, v in per_layer.items()})
    for layer in layers:
        if len(blocks) == 2:
            u, v = blocks[0][layer], blocks[1][layer]
            out[layer] = pair_blocks(torch.from_numpy(u), torch.from_numpy(v)).numpy()
        else:
            out[layer] = blocks[0][layer]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--datasets", nargs="+", default=["sick", "sst2", "rte"])
    parser.add_argument("--n-train", type=int, default=800)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--poolings", nargs="+", default=["last", "mean"])
    parser.add_argument("--encodings", nargs="+", default=["joint", "cross", "separate"])
    parser.add_argument("--layers", action="store_true", help="also sweep hidden layers")
    parser.add_argument("--layer-step", type=int, default=3)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        return report(out)
    tag = Path(args.backbone).name  # a registered name, or a folder's last part
    for name in args.datasets:
        data = load_dataset(args.data_dir, name, args.n_train, 200, 0)
        encodings = args.encodings if data["pairs"] else ["joint"]
        for pooling in args.poolings:
            for encoding in encodings:
                key = f"{name}__{tag}__{pooling}__{encoding}__n{args.n_train}"
                path = out / f"{key}.json"
                if not path.exists():
                    print(f"{key} ...", flush=True)
                    result = run_setting(data, args.backbone, pooling, encoding, args.max_length)
                    meta = {"dataset": name, "backbone": args.backbone, "pooling": pooling}
                    meta.update({"encoding": encoding, "layer": "last", "n_train": args.n_train})
                    path.write_text(json.dumps({**meta, **result}, indent=1))
                    print(f"    -> {result['valid_acc']:.3f}", flush=True)
        if args.layers:
            from sklearn_ltuning.backbones.loading import load_backbone

            handle = load_backbone(args.backbone)
            n_layers = handle.shape.n_layers
            layers = list(range(args.layer_step, n_layers + 1, args.layer_step))
            for pooling in args.poolings:
                for encoding in encodings:
                    key = f"{name}__{tag}__{pooling}__{encoding}__layers"
                    path = out / f"{key}.json"
                    if path.exists():
                        continue
                    print(f"{key} ...", flush=True)
                    (X_tr, y_tr), (X_va, y_va) = data["train"], data["valid"]
                    F_tr = layer_features(handle, X_tr, pooling, encoding, args.max_length, layers)
                    F_va = layer_features(handle, X_va, pooling, encoding, args.max_length, layers)
                    scores = {
                        str(layer): probe_score(F_tr[layer], y_tr, F_va[layer], y_va)[0]
                        for layer in layers
                    }
                    record = {"dataset": name, "backbone": args.backbone, "pooling": pooling}
                    record.update({"encoding": encoding, "layers": scores})
                    path.write_text(json.dumps(record, indent=1))
                    print(f"    -> {scores}", flush=True)
    return report(out)


def report(out):
    rows = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*.json"))]
    print("| dataset | backbone | pooling | pair encoding | valid acc (tuned probe) | C |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "valid_acc" in r:
            cells = [r["dataset"], r["backbone"], r["pooling"], r["encoding"]]
            cells += [f"{r['valid_acc']:.3f}", f"{r['C']:.3g}"]
            print("| " + " | ".join(cells) + " |")
    for r in rows:
        if "layers" in r:
            best = max(r["layers"], key=r["layers"].get)
            line = ", ".join(f"{k}: {v:.3f}" for k, v in r["layers"].items())
            print(f"\n{r['dataset']} {r['pooling']} {r['encoding']} by layer: {line} (best {best})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
