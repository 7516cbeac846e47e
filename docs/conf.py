"""Sphinx configuration for sklearn_ltuning."""

import os

import sklearn_ltuning

project = "sklearn_ltuning"
author = "sklearn_ltuning developers"
copyright = "2026, sklearn_ltuning developers (BSD-3-Clause)"
release = sklearn_ltuning.__version__


def _write_methods_table():
    """The user guide's method table, generated from the method registry."""
    from sklearn_ltuning.methods import METHODS

    rows = [
        (
            f"``{spec.name}``",
            spec.title,
            "yes" if spec.label_conditioned else "no",
            spec.injects,
            ", ".join(f"``{p}``" for p in spec.params) or "-",
            spec.summary,
        )
        for spec in METHODS.values()
    ]
    head = ("method", "title", "reads label texts", "virtual tokens", "own parameters", "")
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [head, *rows]:
        lines += [f"   * - {row[0]}"] + [f"     - {cell}" for cell in row[1:]]
    folder = os.path.join(os.path.dirname(__file__), "_generated")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "methods_table.rst"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


_write_methods_table()
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
exclude_patterns = ["_build", "_generated", "auto_examples/*.ipynb", "auto_examples/*.py"]
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
