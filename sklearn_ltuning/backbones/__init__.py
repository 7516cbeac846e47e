"""Backbones: resolve a name or path, load it frozen once per process, inject prefixes."""

from .registry import DEFAULT_BACKBONE, BackboneSource, list_backbones, resolve_backbone

__all__ = ["DEFAULT_BACKBONE", "BackboneSource", "list_backbones", "resolve_backbone"]
