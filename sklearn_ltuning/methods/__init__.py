"""The methods: how label information (or none) enters the frozen backbone.

The registry (:data:`METHODS`, :class:`MethodSpec`) is imported eagerly and needs no
PyTorch; the module classes are imported on first use.
"""

from __future__ import annotations

import importlib

from .registry import METHODS, MethodSpec, ltuning_methods, method_spec

_CLASSES = {
    "MethodModule": "base",
    "LTPrefix": "lt_prefix",
    "LTPrompt": "lt_prompt",
    "PrefixTuning": "prefix",
    "PromptTuning": "prompt",
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
