"""Sphinx configuration for sklearn_ltuning."""

import sklearn_ltuning

project = "sklearn_ltuning"
author = "sklearn_ltuning developers"
release = sklearn_ltuning.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
# Docstrings inherited from scikit-learn (e.g. ClassifierMixin.score) reference labels
# of scikit-learn's own documentation, which is not linked here (no intersphinx:
# the docs build offline).
suppress_warnings = ["ref.ref"]
