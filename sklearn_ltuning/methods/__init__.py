"""The methods: how label information (or none) enters the frozen backbone.

The registry (:data:`METHODS`, :class:`MethodSpec`) is imported eagerly and needs no
PyTorch; the module classes are imported on first use.
"""

from __future__ import annotations

import importlib

from .registry import METHODS, MethodSpec, ltuning_methods, method_spec

#: Class name -> its submodule, read from the registry's records (and the shared base).
_CLASSES = {
    "MethodModule": "base",
    **{spec.module_path.split(":")[1]: spec.module_path.split(":")[0] for spec in METHODS.values()},
}


def __getattr__(name):
    if name in _CLASSES:
        return getattr(importlib.import_module(f"{__name__}.{_CLASSES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "METHODS",
    "LTPrefix",
    "LTPrompt",
    "MethodModule",
    "MethodSpec",
    "PrefixTuning",
    "PromptTuning",
    "ltuning_methods",
    "method_spec",
]
