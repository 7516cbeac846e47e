"""
Cross-validation with several scorers
=====================================

``cross_validate`` scores every fold with several metrics at once: accuracy,
macro-F1, Matthews correlation, and the log-loss of ``predict_proba``. The
frozen backbone is loaded once and shared by the clones of every fold.
"""

# %%
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_validate

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.datasets import load_snli_sample

X, y = load_snli_sample()
X, y = X[:900], y[:900]

clf = LTuningClassifier(method="lt_prefix", objective="softmax", max_epochs=2, random_state=0)
scores = cross_validate(
    clf,
    X,
    y,
    cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=0),
    scoring=["accuracy", "f1_macro", "matthews_corrcoef", "neg_log_loss"],
)

# %%
table = pd.DataFrame(scores)
print(table.round(3).to_string())
print(table.mean().round(3).to_string())
