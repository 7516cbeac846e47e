"""Version of sklearn_ltuning."""

__version__ = "0.1.0"
