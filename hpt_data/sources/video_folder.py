"""``video_folder``: every video file (and image-sequence folder) under a folder.

Each candidate is probed (``hpt_data.sources.probe_video``: opened by the stages' reader,
one frame decoded), so a zero-byte file, a text file named ``.mp4`` or a truncated clip is
reported with its reason at scan time instead of failing later. The person id comes from
the file name (a regular expression with a ``person`` group), the parent folder's name, or
a sidecar CSV (``file,person[,action]``). The video id is the path below the root made one
safe folder name (``hpt_data.sources.safe_id``).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hpt_data.errors import SourceError
from hpt_data.sources.base import SourceProblem, SourceScan, VideoRecord, VideoSource
from hpt_data.sources.helpers import probe_video, safe_id

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class VideoFolderOptions:
    """Keys under ``options:`` of a ``video_folder`` dataset in ``datasets.yaml``."""

    # file suffixes read as videos (any case)
    extensions: list[str] = field(
        default_factory=lambda: [".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"]
    )
    # where the person id comes from: the file name, the parent folder, or persons_csv
    person_from: Literal["filename", "folder", "csv"] = "filename"
    # with person_from: filename — applied to the file stem; the 'person' group is the id
    person_pattern: str = r"^(?P<person>[^_\-.]+)"
    # with person_from: csv — relative to the root; columns file,person[,action]
    persons_csv: str = "persons.csv"
    # a folder holding at least this many images is read as one image sequence (0: never)
    min_sequence_images: int = 2
    recursive: bool = True  # look in sub-folders too

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.person_pattern)
        except re.error as exc:
            raise ValueError(f"person_pattern is not a valid regular expression: {exc}") from None
        if "person" not in compiled.groupindex:
            raise ValueError("person_pattern needs a named group (?P<person>...)")


def _video_id(rel: Path) -> str:
    """``p1/clip.mp4`` -> ``p1__clip``: the path below the root, made one safe name."""
    return safe_id("__".join(rel.with_suffix("").parts if rel.suffix else rel.parts))


class VideoFolderSource(VideoSource):
    name = "video_folder"
    Options = VideoFolderOptions

    def scan(self) -> SourceScan:
        opts: VideoFolderOptions = self.options
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: video folder does not exist")
        sidecar = self._read_sidecar() if opts.person_from == "csv" else {}
        exts = {e.lower() for e in opts.extensions}
        pattern = re.compile(opts.person_pattern)
        candidates = self._candidates(exts)
        scan = SourceScan()
        for path in candidates:
            rel = path.relative_to(self.root)
            reason = probe_video(path)
            if reason is not None:
                scan.problems.append(SourceProblem(str(path), reason))
                continue
            action = None
            if opts.person_from == "csv":
                entry = sidecar.get(rel.as_posix())
                if entry is None:
                    scan.problems.append(
                        SourceProblem(str(path), f"not listed in {opts.persons_csv}")
                    )
                    continue
                person, action = entry
            elif opts.person_from == "folder":
                person = rel.parent.name or self.root.name
            else:
                match = pattern.search(path.stem)
                if match is None:
                    scan.problems.append(
                        SourceProblem(
                            str(path), f"file name does not match {opts.person_pattern!r}"
                        )
                    )
                    continue
                person = match.group("person")
            scan.videos.append(
                VideoRecord(
                    video_id=_video_id(rel),
                    person_id=person,
                    source=self.name,
                    path=str(path.resolve()),
                    action=action,
                )
            )
        return scan

    def _candidates(self, exts: set[str]) -> list[Path]:
        opts: VideoFolderOptions = self.options
        walker = self.root.rglob("*") if opts.recursive else self.root.glob("*")
        files, image_dirs = [], {}
        for p in sorted(walker):
            if not p.is_file():
                continue
            if p.suffix.lower() in exts:
                files.append(p)
            elif p.suffix.lower() in IMAGE_SUFFIXES:
                image_dirs[p.parent] = image_dirs.get(p.parent, 0) + 1
        if opts.min_sequence_images > 0:
            files += [d for d, n in image_dirs.items() if n >= opts.min_sequence_images]
        return sorted(files)

    def _read_sidecar(self) -> dict[str, tuple[str, str | None]]:
        opts: VideoFolderOptions = self.options
        path = self.root / opts.persons_csv
        if not path.is_file():
            raise SourceError(f"{path}: person sidecar CSV not found (person_from: csv)")
        out: dict[str, tuple[str, str | None]] = {}
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"file", "person"} <= set(reader.fieldnames):
                raise SourceError(f"{path}:1: expected a header with columns file,person[,action]")
            for line_no, row in enumerate(reader, start=2):
                if not row.get("file") or not row.get("person"):
                    raise SourceError(f"{path}:{line_no}: empty 'file' or 'person' value")
                out[row["file"]] = (row["person"], row.get("action") or None)
        return out
