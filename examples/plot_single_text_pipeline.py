"""
Single texts in a Pipeline: a drop-in for TF-IDF + logistic regression
======================================================================

``LTuningClassifier`` also classifies single texts, so it slots into the same
``Pipeline`` as a classical text classifier. Here the task is SNLI's
"hypothesis-only" baseline: guess the relation from the hypothesis sentence
alone (a known bias of NLI data), with the bundled sample as a DataFrame.
"""

# %%
from operator import itemgetter

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_ltuning import LTuningClassifier
from sklearn_ltuning.datasets import load_snli_sample

frame = load_snli_sample(as_frame=True)
train, test = train_test_split(frame, train_size=1200, test_size=600, random_state=0)
hypothesis = FunctionTransformer(itemgetter("hypothesis"))  # DataFrame -> Series of texts

# %%
# The classical pipeline.
tfidf = make_pipeline(hypothesis, TfidfVectorizer(), LogisticRegression(max_iter=1000))
tfidf.fit(train, train["label"])
print("TF-IDF + LR accuracy:", round(tfidf.score(test, test["label"]), 3))

# %%
# The same pipeline with L-Tuning in place of vectorizer + classifier: it reads
# the raw texts itself.
ltuning = make_pipeline(
    hypothesis, LTuningClassifier(method="lt_prompt", max_epochs=2, random_state=0)
)
ltuning.fit(train, train["label"])
print("LT-prompt accuracy:", round(ltuning.score(test, test["label"]), 3))
print(ltuning.predict(test.head(3)), list(test["label"].head(3)))
