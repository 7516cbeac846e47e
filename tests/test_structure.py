"""The package's layout rules: no import cycle, one method registry that everything reads."""

import ast
import collections
import pathlib
import sys

import sklearn_ltuning
from sklearn_ltuning.methods import METHODS

PACKAGE = pathlib.Path(sklearn_ltuning.__file__).parent


def _import_graph():
    """Module -> package modules it imports, lazy imports inside functions included."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("sklearn_ltuning", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = collections.defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rsplit(".", 1)[0]
                target = (
                    (f"{base}.{node.module}" if node.module else base)
                    if node.level
                    else (node.module or "")
                )
                candidates = [target, *(f"{target}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            graph[name].update(c for c in candidates if c in modules and c != name)
    return modules, graph


def test_no_import_cycle_in_the_package():
    modules, graph = _import_graph()
    assert "sklearn_ltuning.persistence" in modules
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*path, nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])


def test_the_import_graph_sees_lazy_imports():
    # The check above would pass vacuously if imports inside functions were missed.
    _, graph = _import_graph()
    assert "sklearn_ltuning.persistence" in graph["sklearn_ltuning.estimator"]


def test_the_registry_is_what_the_estimator_and_the_cli_accept():
    from sklearn_ltuning import LTuningClassifier
    from sklearn_ltuning.cli import _method_choices

    allowed = LTuningClassifier._parameter_constraints["method"][0].options
    assert set(allowed) == set(METHODS) == set(_method_choices())
    for name, spec in METHODS.items():
        assert spec.name == name
        assert spec.injects in ("prefix", "prompt")
        assert set(spec.module_params) <= set(spec.params)
        assert set(spec.params) <= set(LTuningClassifier().get_params())


def test_importing_the_package_and_the_registry_loads_no_torch():
    import subprocess

    code = (
        "import sys, sklearn_ltuning, sklearn_ltuning.cli; "
        "from sklearn_ltuning.methods import METHODS; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_head_has_its_facts_and_every_fact_a_head():
    from sklearn_ltuning.heads import HEADS
    from sklearn_ltuning.options import HEADS as FACTS

    assert set(HEADS) == set(FACTS)
    for name, head in HEADS.items():
        assert head.name == name and head.label_aware == FACTS[name].label_aware
