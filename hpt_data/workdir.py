"""The work folder: where each video's stage outputs and status records live.

Layout::

    <work_root>/<dataset>/
        videos.json                  the source's scan: records (with splits) and problems
        videos/<video_id>/
            video.json               the video's record
            <stage>/                 a stage's complete output (appears by one atomic rename)
                _stage.json          fingerprint, input digests, file list, digest
                ...                  the stage's own files
            status/<stage>.json      the last attempt: ok | failed, error, seconds, metrics

Trust rule: a stage output is used only if its folder exists (it is only ever created by
renaming a finished temporary folder), its ``_stage.json`` matches the stage's current
fingerprint and the digests of its inputs, and every file it lists is present with its
recorded size. Temporary folders (``.<stage>.tmp-*``) are never trusted and are cleared
before the stage runs again, so a ``kill -9`` at any moment leaves nothing a later stage
believes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpt_data.names import check_path_name

MANIFEST = "_stage.json"


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed over it when the ``with`` block succeeds.

    Write the file (or a folder, for an image sequence) at the yielded path; it keeps
    ``path``'s suffix, so writers that pick the format by suffix (``cv2.VideoWriter``,
    ``numpy.savez``) work. On success a file is flushed to disk and renamed into place in
    one step; on an error, or when nothing was written, the temporary is removed and
    ``path`` is left as it was. A folder replaces only a missing or empty ``path``.

    Example::

        with atomic_output(root / f"{video_id}.mp4") as tmp:
            write_my_video(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        elif not tmp.is_dir():
            raise FileNotFoundError(f"{path}: nothing was written at the temporary path {tmp}")
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file in the same folder, fsync, then rename over ``path``."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it is missing or unreadable (a torn write)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class DatasetDir:
    """The work folder of one dataset."""

    root: Path

    @property
    def videos_json(self) -> Path:
        return self.root / "videos.json"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    def video(self, video_id: str) -> VideoDir:
        """A video's (or a person clip's, ``<video id>#p1``) folder; refuses an id that is
        not one safe folder name (``../x``)."""
        check_path_name("video id", video_id, str(self.root), clips=True)
        return VideoDir(self.root / "videos" / video_id)

    def video_ids(self) -> list[str]:
        folder = self.root / "videos"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "video.json").exists())


@dataclass(frozen=True)
class VideoDir:
    """The work folder of one video."""

    path: Path

    @property
    def record_json(self) -> Path:
        return self.path / "video.json"

    def output(self, stage: str) -> Path:
        return self.path / stage

    def status_path(self, stage: str) -> Path:
        return self.path / "status" / f"{stage}.json"

    def status(self, stage: str) -> dict[str, Any] | None:
        return read_json(self.status_path(stage))

    def write_status(self, stage: str, status: dict[str, Any]) -> None:
        write_json_atomic(self.status_path(stage), status)

    def manifest(self, stage: str) -> dict[str, Any] | None:
        return read_json(self.output(stage) / MANIFEST)

    def new_temp_output(self, stage: str) -> Path:
        tmp = self.path / f".{stage}.tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir(parents=True)
        return tmp

    def clear_temp_outputs(self, stage: str) -> int:
        """Remove temporary folders left by killed runs of ``stage``; returns how many."""
        count = 0
        for leftover in self.path.glob(f".{stage}.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
            count += 1
        for leftover in self.path.glob(f".{stage}.prev-*"):
            shutil.rmtree(leftover, ignore_errors=True)
            count += 1
        return count


def list_files(folder: Path) -> dict[str, int]:
    """Relative path -> size of every file under ``folder`` except the manifest."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def content_digest(folder: Path, files: dict[str, int]) -> str:
    """A digest of the names and bytes of ``files``: downstream stages record it, so an
    output that is redone byte-identically does not invalidate them."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0")
        with open(folder / rel, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:24]


def files_intact(folder: Path, files: dict[str, int]) -> bool:
    for rel, size in files.items():
        p = folder / rel
        try:
            if p.stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (its folder made), or copy it where a link cannot be
    made (another file system): outputs reused or shared without rewriting their bytes."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
