"""The method registry: one record per method, read by every other part of the package.

Adding a method is one module file (a :class:`~sklearn_ltuning.methods.MethodModule`
subclass) plus one :class:`MethodSpec` record in :data:`METHODS`; the estimator's
parameter checks, persistence, the command line, the plots and the docs take the
method from here. This module imports no PyTorch: the module class is imported when
first asked for, so ``import sklearn_ltuning`` and ``--help`` stay fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    """One method: its name, module class and the estimator parameters that apply.

    Attributes
    ----------
    name : str
        The ``method=`` value.
    title : str
        Name in tables and plots.
    module_path : str
        ``"submodule:Class"`` of the module that makes the virtual tokens (under
        :mod:`sklearn_ltuning.methods`). Whether they depend on the label and where
        they enter are class attributes of that module (``label_conditioned``,
        ``injects``); the record reads them from there.
    params : tuple of str
        Estimator parameters used only by this method (and the other methods that
        list them); with another method they are accepted and ignored.
    module_params : tuple of str
        Those of ``params`` that are passed to the module's constructor.
    probe_start : tuple of (str, object)
        Module settings used when the head starts at the frozen-feature probe
        (``head_init="probe"``).
    summary : str
        One line for the docs.
    """

    name: str
    title: str
    module_path: str
    params: tuple = ()
    module_params: tuple = ()
    probe_start: tuple = ()
    summary: str = ""

    @property
    def module(self):
        """The :class:`~sklearn_ltuning.methods.MethodModule` subclass (imports PyTorch)."""
        submodule, name = self.module_path.split(":")
        return getattr(importlib.import_module(f"sklearn_ltuning.methods.{submodule}"), name)

    @property
    def label_conditioned(self):
        """Whether the virtual tokens come from label texts (L-Tuning)."""
        return bool(self.module.label_conditioned)

    @property
    def injects(self):
        """``"prefix"`` (keys and values at every layer) or ``"prompt"`` (input embeddings)."""
        return self.module.injects


#: Parameters of the label-conditioned (L-Tuning) methods.
_LTUNING_PARAMS = ("objective", "head", "label_texts")

#: Method name -> record, in the order tables list them.
METHODS = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "lt_prefix",
            "LT-prefix",
            "lt_prefix:LTPrefix",
            params=(*_LTUNING_PARAMS, "label_map"),
            module_params=("label_map",),
            # With the head at the probe, the initial prefixes must leave the frozen
            # features nearly as they are; the module's default larger shift only
            # serves to escape the zero pair head's plateau.
            probe_start=(("max_initial_shift", 0.05),),
            summary="L-Tuning prefix: label texts mapped to a prefix at every layer.",
        ),
        MethodSpec(
            "lt_prompt",
            "LT-prompt",
            "lt_prompt:LTPrompt",
            params=_LTUNING_PARAMS,
            summary="L-Tuning prompt: label texts mapped to input prompt embeddings.",
        ),
        MethodSpec(
            "prefix",
            "prefix tuning",
            "prefix:PrefixTuning",
            summary="Classic prefix tuning (P-Tuning v2): one trained prefix, K-way head.",
        ),
        MethodSpec(
            "prompt",
            "prompt tuning",
            "prompt:PromptTuning",
            summary="Classic prompt tuning (Lester et al.): one trained prompt, K-way head.",
        ),
    )
}


def method_spec(name):
    """The record of method ``name``; a ``ValueError`` naming the choices otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown method {name!r}; choose one of {', '.join(METHODS)}.") from None


def ltuning_methods():
    """Names of the label-conditioned methods (those that read label texts)."""
    return tuple(name for name, spec in METHODS.items() if spec.label_conditioned)
