"""Sphinx configuration for sklearn_ltuning."""

import os

import sklearn_ltuning

project = "sklearn_ltuning"
author = "sklearn_ltuning developers"
copyright = "2026, sklearn_ltuning developers (BSD-3-Clause)"
release = sklearn_ltuning.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
html_theme = "alabaster"
html_static_path = ["_static"]
# Docstrings inherited from scikit-learn (e.g. ClassifierMixin.score) reference labels
# of scikit-learn's own documentation, which is not linked here (no intersphinx:
# the docs build offline).
suppress_warnings = ["ref.ref", "myst.header"]
myst_heading_anchors = 3

# The example gallery. Examples train real models (minutes each on a CPU), so a plain
# build shows their code without running them; `make -C docs html-gallery` (or
# SKLEARN_LTUNING_RUN_EXAMPLES=1) runs them and adds their output and figures.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": os.environ.get("SKLEARN_LTUNING_RUN_EXAMPLES", "0") == "1",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "write_computation_times": False,
}
