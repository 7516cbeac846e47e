"""L-Tuning for scikit-learn: label-based prefix and prompt tuning of frozen language models."""

from ._version import __version__
from .backbones.registry import list_backbones
from .embeddings import FrozenEmbeddings, make_frozen_probe
from .estimator import LTuningClassifier

__all__ = [
    "FrozenEmbeddings",
    "LTuningClassifier",
    "list_backbones",
    "make_frozen_probe",
    "__version__",
]
