"""An hpt_data video source plugin: the videos listed in a CSV manifest.

``<root>/videos.csv`` has the columns ``path,person[,action]``; paths are relative to the
root. This is the README's worked example of adding a source in your own package: it
imports everything from ``hpt_data.sources`` (the interface and the helpers every source
needs) and its tests run ``hpt_data.testing.check_source`` on it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from hpt_data.sources import (
    SourceError,
    SourceProblem,
    SourceScan,
    VideoRecord,
    VideoSource,
    probe_video,
    safe_id,
)


@dataclass(frozen=True)
class CsvManifestOptions:
    """Keys under ``options:`` of a ``csv_manifest`` dataset in ``datasets.yaml``."""

    manifest: str = "videos.csv"  # relative to the dataset's root


class CsvManifestSource(VideoSource):
    """Videos (or image folders) listed in a CSV, one row each, with their person."""

    name = "csv_manifest"
    Options = CsvManifestOptions

    def scan(self) -> SourceScan:
        """A record per usable row; a row whose file is missing or undecodable, or whose id
        is taken, is a problem with its reason (the rest of the manifest still counts)."""
        path = self.root / self.options.manifest
        if not path.is_file():  # the whole source is unusable: an error, not a problem
            raise SourceError(f"{path}: manifest not found")
        scan = SourceScan()
        first_line: dict[str, int] = {}
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"path", "person"} <= set(reader.fieldnames):
                raise SourceError(f"{path}:1: expected a header with columns path,person[,action]")
            for line, row in enumerate(reader, start=2):
                if not row.get("path") or not row.get("person"):
                    scan.problems.append(SourceProblem(f"{path}:{line}", "empty path or person"))
                    continue
                video = self.root / row["path"]
                reason = "listed but missing" if not video.exists() else probe_video(video)
                if reason is not None:
                    scan.problems.append(SourceProblem(str(video), reason))
                    continue
                # "sub/a.mp4" -> "sub-a": one safe folder name, whatever the file is called
                video_id = safe_id(Path(row["path"]).with_suffix("").as_posix())
                if video_id in first_line:
                    taken = f"video id '{video_id}' already used on line {first_line[video_id]}"
                    scan.problems.append(SourceProblem(str(video), taken))
                    continue
                first_line[video_id] = line
                scan.videos.append(
                    VideoRecord(
                        video_id=video_id,
                        person_id=row["person"],
                        source=self.name,
                        path=str(video.resolve()),
                        action=row.get("action") or None,
                    )
                )
        return scan
