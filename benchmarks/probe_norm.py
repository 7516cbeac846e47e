"""The tuned probe's normalisation, chosen on validation data: LayerNorm, none or l2.

For each dataset (``recipe_search.py``'s splits: 800 training and 200 validation
examples, SNLI the demo's 1,920 / 480; no test set is read), reads the frozen features
once without normalisation, normalises each pooled vector (``u`` and ``v`` of a pair)
three ways, forms the four blocks again, and fits ``StandardScaler`` +
``LogisticRegressionCV`` as :func:`~sklearn_ltuning.make_frozen_probe` does.

Usage::

    python benchmarks/probe_norm.py --data-dir ../shared/data --datasets sick snli sst2 rte
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

NORMS = ("layer", None, "l2")


def normalise(F, how, pairs):
    """Normalise the pooled vectors inside raw features and form the blocks again."""
    import torch

    from sklearn_ltuning.backbones.injection import pair_blocks
    from sklearn_ltuning.features import normalise as norm

    def one(x):
        return norm(torch.from_numpy(x), how)

    if not pairs:
        return one(F).numpy()
    h = F.shape[1] // 4
    return pair_blocks(one(F[:, :h]), one(F[:, h : 2 * h])).numpy()


def main(argv=None):
    from recipe_search import load
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sklearn_ltuning import FrozenEmbeddings
    from sklearn_ltuning.heads import lrcv_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="+", default=["sick", "snli", "sst2", "rte"])
    args = parser.parse_args(argv)
    print("| dataset | train / valid | " + " | ".join(str(n) for n in NORMS) + " |")
    print("|---|---|" + "---|" * len(NORMS))
    for dataset in args.datasets:
        (X_tr, y_tr), (X_va, y_va) = load(dataset, args.data_dir, 800)
        pairs = not isinstance(X_tr[0], str)
        reader = FrozenEmbeddings(norm=None).fit(X_tr)
        F_tr, F_va = reader.transform(X_tr), reader.transform(X_va)
        cells = []
        for how in NORMS:
            probe = make_pipeline(
                StandardScaler(),
                LogisticRegressionCV(
                    Cs=10, cv=5, scoring="accuracy", max_iter=2000, **lrcv_settings()
                ),
            ).fit(normalise(F_tr, how, pairs), y_tr)
            cells.append(f"{probe.score(normalise(F_va, how, pairs), y_va):.3f}")
        print(f"| {dataset} | {len(y_tr)} / {len(y_va)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
