"""An hpt_data video source plugin: the videos listed in a CSV manifest.

``<root>/videos.csv`` has the columns ``path,person,action``; paths are relative to the
root. This is the README's worked example of adding a source in your own package.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from hpt_data.errors import SourceError
from hpt_data.sources.base import SourceProblem, SourceScan, VideoRecord, VideoSource


@dataclass(frozen=True)
class CsvManifestOptions:
    manifest: str = "videos.csv"  # relative to the dataset's root


class CsvManifestSource(VideoSource):
    name = "csv_manifest"
    Options = CsvManifestOptions

    def scan(self) -> SourceScan:
        path = self.root / self.options.manifest
        if not path.is_file():
            raise SourceError(f"{path}: manifest not found")
        scan = SourceScan()
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                video = self.root / row["path"]
                if not video.exists():
                    scan.problems.append(SourceProblem(str(video), "listed but missing"))
                    continue
                scan.videos.append(
                    VideoRecord(
                        video_id=Path(row["path"]).stem,
                        person_id=row["person"],
                        source=self.name,
                        path=str(video.resolve()),
                        action=row.get("action") or None,
                    )
                )
        return scan
