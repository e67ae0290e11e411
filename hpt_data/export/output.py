"""An export's output folder, made whole or not at all.

Everything is written into a sibling ``.<name>.partial-<id>/`` and renamed to ``OUT`` when
complete, with ``hpt-export.json`` (format, dataset, counts, what was dropped) written last
inside it. A killed export leaves only a ``.partial-`` folder, which no reader is pointed
at and the next export of the same ``OUT`` removes. An ``OUT`` that holds an earlier export
(it has ``hpt-export.json``) is replaced only once the new one is complete; any other
non-empty ``OUT`` is refused, so nothing of the user's is overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpt_data.export.frames import ExportError

MARKER = "hpt-export.json"


def _check_target(out: Path) -> None:
    if out.is_file():
        raise ExportError(f"{out}: is a file; give a folder to export into")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ExportError(
            f"{out}: not empty and not an earlier export (no {MARKER}); choose another folder"
        )


@contextmanager
def atomic_folder(out: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield (a temporary folder to fill, a dict for ``hpt-export.json``); on a clean exit
    the folder becomes ``out``, on an exception it is removed and ``out`` is untouched."""
    out = Path(out)
    _check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    record: dict[str, Any] = {}
    try:
        yield tmp, record
        marker = tmp / MARKER
        marker.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        with open(marker, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
