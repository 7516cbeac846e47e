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


def run_once(path, fn, meta):
    """Run ``fn`` unless its result file exists; save the result (or the error) as JSON.

    The resumable step of the benchmark scripts: a finished run is one file, so a
    stopped command started again skips it. A failure is recorded, not raised, so a
    table can say why a cell is empty.

    Parameters
    ----------
    path : pathlib.Path
    fn : callable
        Returns a dict of results.
    meta : dict
        What the run was (stored with its results).

    Returns
    -------
    result : dict
    """
    import json
    import traceback

    if path.exists():
        return json.loads(path.read_text())
    print(f"[{datetime.datetime.now():%H:%M:%S}] {path.stem} ...", flush=True)
    try:
        result = {**meta, **fn(), "status": "ok"}
    except Exception as exc:
        traceback.print_exc()
        result = {**meta, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
    result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    print(f"    -> {result.get('accuracy', result.get('error'))}", flush=True)
    return result


def report(table, write):
    """Print a Markdown table and, with ``write``, append it to ``BENCHMARKS.md``."""
    print(table)
    if write:
        with open(BENCHMARKS_FILE, "a", encoding="utf-8") as fh:
            fh.write("\n" + table)
