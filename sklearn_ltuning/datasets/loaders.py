"""Load the bundled SNLI sample, and read text tables (CSV or JSONL) from disk."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def load_snli_sample(*, as_frame=False):
    """Load 3,000 SNLI pairs shipped with the package (CC BY-SA 4.0).

    A class-balanced random sample of the SNLI 1.0 development set: 1,000 pairs
    each of entailment, neutral and contradiction. See ``SNLI_LICENSE.md`` next to
    the data file for attribution and licence.

    Parameters
    ----------
    as_frame : bool, default=False
        Return a DataFrame with columns premise, hypothesis, label instead.

    Returns
    -------
    X : list of (str, str)
        (premise, hypothesis) pairs.
    y : ndarray of str of shape (3000,)
    """
    import pandas as pd

    path = resources.files("sklearn_ltuning.datasets") / "data" / "snli_sample.csv"
    with resources.as_file(path) as file:
        frame = pd.read_csv(file)
    if as_frame:
        return frame
    return list(zip(frame["premise"], frame["hypothesis"], strict=True)), frame["label"].to_numpy()


def read_table(path):
    """Read a CSV or JSONL file of texts into a DataFrame, as strings.

    Parameters
    ----------
    path : str or os.PathLike
        ``.jsonl``/``.json`` files are read as JSON lines; anything else as CSV.

    Returns
    -------
    frame : pandas.DataFrame

    Raises
    ------
    ValueError
        If the file is missing, empty or not valid UTF-8, with a one-line message.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    try:
        if path.suffix.lower() in {".jsonl", ".json", ".ndjson"}:
            frame = pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
        else:
            frame = pd.read_csv(path, encoding="utf-8", dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not valid UTF-8 text ({exc.reason} at byte {exc.start})."
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{path}: the file is empty.") from exc
    except ValueError as exc:
        raise ValueError(f"{path}: could not be parsed ({exc}).") from exc
    if frame.empty:
        raise ValueError(f"{path}: the file has no rows.")
    return frame
