"""Locate the data files bundled with servicemap (installed wheel or source checkout)."""

from __future__ import annotations

from pathlib import Path


def data_dir() -> Path:
    """Return the folder holding the bundled ``boundaries/``, ``services/`` and ``need/`` data.

    Returns
    -------
    Path
        ``servicemap/data`` inside an installed wheel, else the repository's ``data/`` folder
        (an editable install or a source checkout).
    """
    packaged = Path(__file__).parent / "data"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "data"


def data_path(*parts: str) -> Path:
    """Return the path of one bundled data file, e.g. ``data_path("boundaries", "forces.csv")``.

    Parameters
    ----------
    *parts
        Path components below the data folder.

    Returns
    -------
    Path
        The file's path (it is not checked for existence).
    """
    return data_dir().joinpath(*parts)
