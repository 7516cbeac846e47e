"""Benchmark scripts (run as ``python -m benchmarks.<name>``): shared reporting helpers."""

from __future__ import annotations

import datetime
import platform
from pathlib import Path

#: The file every benchmark's ``--write`` appends its table to.
BENCHMARKS_FILE = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine_line():
    """One line naming the machine and the date, for the head of a table."""
    return (
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, CPU only; "
        f"date {datetime.date.today().isoformat()}."
    )


def report(table, write):
    """Print a Markdown table and, with ``write``, append it to ``BENCHMARKS.md``."""
    print(table)
    if write:
        with open(BENCHMARKS_FILE, "a", encoding="utf-8") as fh:
            fh.write("\n" + table)
