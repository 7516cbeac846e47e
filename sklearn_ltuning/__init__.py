"""L-Tuning for scikit-learn: label-based prefix and prompt tuning of frozen language models."""

from ._version import __version__
from .backbones.registry import list_backbones
from .estimator import LTuningClassifier

__all__ = ["LTuningClassifier", "list_backbones", "__version__"]
