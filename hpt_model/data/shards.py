"""Random access to the frames of one split of a shard folder.

Files are opened lazily in the process that reads them (and reopened after a fork or in
a DataLoader worker), because an h5py handle must not cross processes.
"""

from __future__ import annotations

import os
import warnings
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hpt_data.shards.reading import (
    MANIFEST,
    ShardError,
    ShardFile,
    load_manifest,
    older_schema_note,
    shard_entries,
)


class ShardFrames:
    """The frames of ``split`` in the shard folder ``shard_dir``, indexed 0..N-1.

    Construction reads the manifest and checks every listed shard's size and structure
    once (a truncated shard is refused here, naming the file; a set of schema 1-5, its
    images in HDF5's heap, is read with a warning to rewrite it); reads check checksums.
    """

    def __init__(self, shard_dir: str | Path, split: str = "train") -> None:
        self.shard_dir = Path(shard_dir)
        self.split = split
        manifest = load_manifest(self.shard_dir)
        note = older_schema_note(self.shard_dir / MANIFEST, manifest["schema_version"])
        if note:  # readable, but a damaged heap would hang this reader, not fail it
            warnings.warn(note, stacklevel=2)
        self.entries = shard_entries(manifest, split)
        if not self.entries:
            raise ShardError(f"{self.shard_dir}: no '{split}' shards in the manifest")
        self.starts: list[int] = []
        total = 0
        for entry in self.entries:
            self.starts.append(total)
            total += int(entry["frames"])
        self.total = total
        self._files: dict[int, ShardFile] = {}
        self._pid = os.getpid()
        for i in range(len(self.entries)):  # fail early, naming the file
            self._shard(i)
        self.person_ids = [str(p) for p in self._column("person_id")]
        self.frame_keys = [
            f"{v}/{f}"
            for v, f in zip(self._column("video_id"), self._column("frame_id"), strict=True)
        ]
        self.close()

    def __len__(self) -> int:
        return self.total

    def _shard(self, i: int) -> ShardFile:
        if os.getpid() != self._pid:  # a forked DataLoader worker: never reuse handles
            self._files = {}
            self._pid = os.getpid()
        if i not in self._files:
            self._files[i] = ShardFile(self.shard_dir, self.entries[i])
        return self._files[i]

    def _column(self, name: str) -> list[str]:
        out: list[str] = []
        for i in range(len(self.entries)):
            out += self._shard(i).text_column(name)
        return out

    def locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.total:
            raise IndexError(f"frame {index} out of range 0..{self.total - 1}")
        shard = bisect_right(self.starts, index) - 1
        return shard, index - self.starts[shard]

    def read(
        self, index: int, fields: Iterable[str] | None = None, image_size: int | None = None
    ) -> dict[str, Any]:
        """Frame ``index`` (see ``ShardFile.read``; ``image_size`` decodes images smaller)."""
        shard, local = self.locate(index)
        return self._shard(shard).read(local, fields, image_size)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_files"] = {}
        return state
