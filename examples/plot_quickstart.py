"""
Quick start: L-Tuning on sentence pairs
=======================================

Train LT-prefix on (premise, hypothesis) pairs from the bundled SNLI sample,
predict, and compare with the prefix-tuning baseline that shares everything
but the label texts.
"""

# %%
# Load the bundled SNLI sample: 3,000 pairs, three classes.
from sklearn.model_selection import train_test_split

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.datasets import load_snli_sample

X, y = load_snli_sample()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=2400, test_size=600, stratify=y, random_state=0
)
print(X_train[0], y_train[0])

# %%
# LT-prefix reads each class name ("entailment", "neutral", "contradiction")
# through the frozen backbone and learns to turn it into a per-layer prefix.
clf = LTuningClassifier(method="lt_prefix", prefix_length=8, max_epochs=3, random_state=0)
clf.fit(X_train, y_train)
print("classes:", clf.classes_, "label texts:", clf.label_texts_)
print("trained parameters:", clf.n_trainable_params_)
print("test accuracy:", clf.score(X_test, y_test))

# %%
# ``predict_proba`` normalises the K label scores of each input (rows sum to 1).
proba = clf.predict_proba(X_test[:3])
for pair, row in zip(X_test[:3], proba, strict=False):
    print(pair, {str(c): round(float(p), 3) for c, p in zip(clf.classes_, row, strict=True)})

# %%
# The classic prefix-tuning baseline: a random prefix shared by all classes and
# a K-way head, on the same backbone and budget.
baseline = LTuningClassifier(method="prefix", prefix_length=8, max_epochs=3, random_state=0)
baseline.fit(X_train, y_train)
print("prefix tuning test accuracy:", baseline.score(X_test, y_test))
