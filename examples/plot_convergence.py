"""
Convergence, training curves, label prefixes and the confusion matrix
=====================================================================

The L-Tuning paper's appendix figure compares how fast the validation loss of
L-Tuning and of its classic counterpart falls. Fit both with a validation split
and :class:`~sklearn_ltuning.callbacks.StepValidation` (scores within epochs),
then plot with :mod:`sklearn_ltuning.plotting` (needs ``matplotlib``).
"""

# %%
import matplotlib.pyplot as plt
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.callbacks import StepValidation
from sklearn_ltuning.datasets import load_snli_sample
from sklearn_ltuning.plotting import (
    plot_convergence,
    plot_label_similarity,
    plot_training_curves,
)

X, y = load_snli_sample()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=1000, test_size=300, stratify=y, random_state=0
)

fitted = {}
for name, params in {
    "LT-prefix": dict(method="lt_prefix"),
    "LT-prefix (softmax)": dict(method="lt_prefix", objective="softmax"),
    "prefix tuning": dict(method="prefix"),
}.items():
    clf = LTuningClassifier(
        **params,
        max_epochs=3,
        lr=3e-3,
        train_split=0.2,
        callbacks=[StepValidation(every=25)],
        random_state=0,
    )
    fitted[name] = clf.fit(X_train, y_train)
    print(f"{name}: test accuracy {clf.score(X_test, y_test):.3f}")

# %%
# Validation K-way log-loss and accuracy against training steps.
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
plot_convergence(fitted, ax=axes[0])
plot_convergence(fitted, metric="valid_acc", ax=axes[1])
fig.tight_layout()

# %%
# Loss and accuracy per epoch from the skorch history of one model.
plot_training_curves(fitted["LT-prefix"])

# %%
# How different are the prefixes LT-prefix generates from the three label texts?
plot_label_similarity(fitted["LT-prefix"])

# %%
# sklearn's confusion matrix works on the estimator as on any classifier.
ConfusionMatrixDisplay.from_estimator(fitted["LT-prefix"], X_test, y_test)
plt.show()
