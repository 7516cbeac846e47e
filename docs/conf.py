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
