"""Draw the L-Tuning overview figure of the user guide (docs/_static/ltuning_overview.png).

Run ``python docs/make_figures.py`` after changing it; the PNG is committed.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).parent / "_static" / "ltuning_overview.png"


def box(ax, x, y, w, h, text, color, frozen=False):
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02",
            fc=color,
            ec="0.2",
            ls="--" if frozen else "-",
            lw=1.2,
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9, wrap=True)


def arrow(ax, a, b, text=None):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color="0.2"))
    if text:
        ax.text((a[0] + b[0]) / 2 + 0.05, (a[1] + b[1]) / 2 + 0.1, text, fontsize=8, color="0.3")


def main():
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4.4)
    ax.axis("off")
    frozen, trained, data = "#dde6f3", "#f8d9a8", "#e9f3dd"
    # Label branch.
    box(ax, 0.1, 3.3, 1.9, 0.8, 'label text y\n"entailment"', data)
    box(ax, 2.5, 3.3, 2.0, 0.8, "frozen LM\n(reads the label once)", frozen, frozen=True)
    box(ax, 5.0, 3.3, 2.2, 0.8, "trainable map\nLT-prefix: Z(F(h_y))\nLT-prompt: G(h_y)", trained)
    arrow(ax, (2.0, 3.7), (2.5, 3.7))
    arrow(ax, (4.5, 3.7), (5.0, 3.7), "h_y")
    # Input branch.
    box(ax, 0.1, 1.1, 1.9, 0.9, "input x\n(premise, hypothesis)\nor one text", data)
    box(ax, 2.5, 0.8, 4.7, 1.5, "", frozen, frozen=True)
    ax.text(4.85, 2.05, "frozen LM reads [label prefix/prompt ; x]", ha="center", fontsize=9)
    for i in range(4):
        box(ax, 2.7 + i * 0.55, 1.0, 0.45, 0.7, "p", trained)
    for i in range(5):
        box(ax, 5.0 + i * 0.42, 1.0, 0.34, 0.7, "x", data)
    arrow(ax, (2.0, 1.5), (2.5, 1.5))
    arrow(ax, (6.1, 3.3), (4.0, 1.75), "prefix at every layer\nor prompt embeddings")
    # Head and decision.
    box(ax, 7.6, 1.1, 1.0, 0.9, "pool +\nhead C", trained)
    box(ax, 8.9, 1.1, 1.0, 0.9, "score\ns(x, y)", "white")
    arrow(ax, (7.2, 1.55), (7.6, 1.55))
    arrow(ax, (8.6, 1.55), (8.9, 1.55))
    ax.text(
        5.0,
        0.25,
        "Train: half the inputs with their true label (target 1), half with a random wrong "
        "label (target 0).\nPredict: score x against every label; the best score wins "
        "(predict_proba: softmax over the K scores).",
        ha="center",
        fontsize=8.5,
    )
    ax.text(0.1, 4.25, "dashed: frozen   orange: trained   green: data", fontsize=8, color="0.3")
    fig.tight_layout()
    fig.savefig(OUT, dpi=120)
    print(OUT)


if __name__ == "__main__":
    main()
