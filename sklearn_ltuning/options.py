"""The allowed values of every resolved setting, and what ``"auto"`` means for a backbone.

A leaf module (no PyTorch, no package imports): the estimators' parameter checks, the
fit plan, the model folder's schema and the modules all take their choices from here.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

Pooling = Literal["mean", "cls", "last"]
PairEncoding = Literal["joint", "cross", "separate"]
HeadName = Literal["class", "pair", "bilinear"]
HeadInit = Literal["probe", "default"]
Schedule = Literal["constant", "linear"]
Objective = Literal["softmax", "binary"]
LabelMap = Literal["pooled", "token"]
#: The frozen backbone's weights: ``"auto"`` takes the checkpoint's own dtype.
BackboneDtype = Literal["float32", "bfloat16", "float16", "auto"]
#: bitsandbytes quantized loading of the frozen backbone (CUDA only).
LoadIn = Literal["8bit", "4bit"]


@dataclass(frozen=True)
class HeadFacts:
    """What a head needs and offers (the head classes are in :mod:`sklearn_ltuning.heads`).

    Attributes
    ----------
    label_aware : bool
        Scores one (input, label) pair per row (L-Tuning), not all classes at once.
    class_weights : bool
        Has per-class weights that a probe on the frozen features can start.
    reads_embeddings : bool
        Reads each label text's own frozen embedding, and so can rank every label from
        features read without virtual tokens (hard negatives, shortlists).
    """

    label_aware: bool
    class_weights: bool
    reads_embeddings: bool


#: Head name -> facts: the one place where a head's name says what it does.
HEADS = {
    "class": HeadFacts(label_aware=False, class_weights=True, reads_embeddings=False),
    "pair": HeadFacts(label_aware=True, class_weights=False, reads_embeddings=False),
    "bilinear": HeadFacts(label_aware=True, class_weights=True, reads_embeddings=True),
}


def choices(hint):
    """The values a ``Literal`` type allows, e.g. ``choices(Pooling)``."""
    return typing.get_args(hint)


def auto_pooling(shape):
    """What ``pooling="auto"`` means for a backbone: the last real token on decoders."""
    return "last" if shape.is_decoder else "mean"


def auto_pair_encoding(shape, paper=False):
    """What ``pair_encoding="auto"`` means for pairs on a backbone.

    ``"separate"`` on encoders (sentence-embedding backbones were trained on single
    sentences); ``"joint"`` for the paper's scheme and on decoders.
    """
    return "joint" if paper or shape.is_decoder else "separate"
