"""Bundled sample data (SNLI, CC BY-SA 4.0) and loaders for CSV/JSONL text tables."""

from .loaders import load_snli_sample, read_table

__all__ = ["load_snli_sample", "read_table"]
