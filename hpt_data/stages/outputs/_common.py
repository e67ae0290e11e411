"""What the stage output readers share: frame ids and file names, and reading an index or
an ``.npz`` with a one-line :class:`~hpt_data.errors.StageError` when it is missing or
malformed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import INDEX


def frame_id(index: int) -> str:
    """The id of the frame with source ``index`` from ``fit-smpl`` on: ``000012``."""
    return f"{int(index):06d}"


def safe_name(fid: str) -> str:
    """A file name for a frame id (ids are the fitter's; keep them readable)."""
    bad = set('/\\:*?"<>| ')
    return "".join("_" if c in bad else c for c in fid) or "frame"


def read_index_json(folder: Path, stage: str) -> dict[str, Any]:
    """``folder``'s ``frames.json`` as a dict; a one-line StageError when unreadable."""
    path = Path(folder) / INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StageError(f"{path}: cannot read the {stage} index ({exc})") from None
    if not isinstance(data, dict):
        raise StageError(f"{path}: the {stage} index is not a JSON object")
    return data


def malformed(folder: Path, name: str, stage: str, exc: Exception) -> StageError:
    """The one-line error of a file that parses but lacks what its stage writes."""
    what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
    return StageError(f"{Path(folder) / name}: malformed {stage} output ({what})")


MALFORMED = (KeyError, TypeError, AttributeError)  # what a from_json raises on a bad index


def parse_index(cls: Any, folder: Path) -> Any:
    """``cls.from_json`` of the ``frames.json`` in ``folder``, or a one-line StageError."""
    data = read_index_json(folder, cls.STAGE)
    try:
        return cls.from_json(data, Path(folder))
    except MALFORMED as exc:
        raise malformed(folder, INDEX, cls.STAGE, exc) from None


def load_arrays(path: Path, stage: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (no pickles), loaded; StageError if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise StageError(f"{path}: cannot read the {stage} arrays ({exc})") from None


def need_arrays(arrays: dict[str, np.ndarray], keys: Sequence[str], path: Path) -> None:
    """StageError naming the ``keys`` missing from ``arrays`` (read from ``path``)."""
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise StageError(f"{path}: missing {', '.join(missing)}")


def folder_of(obj: Any, what: str) -> Path:
    """The folder an output was read from (its per-frame files are relative to it)."""
    if obj.folder is None:
        raise ValueError(f"{what} was not read from a folder: pass it to read() first")
    return Path(obj.folder)
