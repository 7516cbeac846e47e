"""
Grid search over prefix length and method
=========================================

``LTuningClassifier`` is an ordinary scikit-learn estimator, so
``GridSearchCV`` can tune ``prefix_length`` and compare the four methods with
cross-validation. Clones share one copy of the frozen backbone.
"""

# %%
import pandas as pd
from sklearn.model_selection import GridSearchCV

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.datasets import load_snli_sample

X, y = load_snli_sample()
X, y = X[:300], y[:300]

grid = GridSearchCV(
    LTuningClassifier(max_epochs=1, random_state=0),
    {"prefix_length": [4, 8], "method": ["lt_prefix", "lt_prompt", "prefix", "prompt"]},
    cv=2,
)
grid.fit(X, y)

# %%
results = pd.DataFrame(grid.cv_results_)[
    ["param_method", "param_prefix_length", "mean_test_score", "std_test_score", "mean_fit_time"]
]
print(results.sort_values("mean_test_score", ascending=False).to_string(index=False))
print("best:", grid.best_params_)
