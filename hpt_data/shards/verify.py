"""``hpt-data verify``: re-read every shard (and stored pair list) against the manifest and
name what is wrong."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpt_data.shards.pairs import PairKey, pairs_entry, read_pairs_file
from hpt_data.shards.reading import (
    HDF5_DAMAGE,
    MANIFEST,
    ShardError,
    ShardFile,
    label_ranges_ok,
    load_manifest,
    older_schema_note,
    open_shard,
)
from hpt_data.shards.schema import ENCODED_IMAGES, FIELDS
from hpt_data.shards.writer import sha256_file


@dataclass
class VerifyReport:
    """``problems``: why the set is not whole (empty: it is). ``leftovers``: files of an
    interrupted run that the manifest does not list; harmless, removed by the next
    successful ``write-shards``. ``notes``: what is readable but worth rewriting (a set of
    an older schema)."""

    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_shards(shard_dir: Path, deep: bool = True) -> VerifyReport:
    """Check the manifest and schema version; every listed shard's presence, size,
    SHA-256 (``deep``), structure (fields, lengths, shapes), label ranges and image CRCs
    (``deep``); each stored pair list (size, SHA-256, format, and that every pair's frames
    are in its split); and list shard files the manifest does not (an interrupted run's)."""
    shard_dir = Path(shard_dir)
    report = VerifyReport()
    try:
        manifest = load_manifest(shard_dir)
    except ShardError as exc:
        report.problems.append(str(exc))
        report.leftovers = [str(p) for p in sorted(shard_dir.glob("gen-*/*.h5"))]
        return report
    note = older_schema_note(shard_dir / MANIFEST, manifest["schema_version"])
    report.notes += [note] if note else []
    problems = report.problems
    listed = set()
    keys: dict[str, set[PairKey]] = defaultdict(set)  # split -> its frames
    unread: set[str] = set()  # splits with a shard that did not open: frames unknown
    for entry in manifest["shards"]:
        path = shard_dir / entry["file"]
        listed.add(path.resolve())
        # the SHA-256 first: a damaged file is named before HDF5 parses it (a damaged
        # string heap can make HDF5 itself loop forever on reading the frame ids)
        whole = path.is_file() and path.stat().st_size == entry["bytes"]
        if deep and whole and sha256_file(path) != entry["sha256"]:
            problems.append(f"{path}: SHA-256 differs from the manifest (corrupted)")
            unread.add(entry["split"])
            continue
        try:
            shard = ShardFile(shard_dir, entry)
        except ShardError as exc:
            problems.append(str(exc))
            unread.add(entry["split"])
            continue
        try:
            try:
                keys[entry["split"]].update(_frame_keys(shard))
            except ShardError:
                unread.add(entry["split"])
                raise
            if deep:
                _check_frames(shard, problems)
        except ShardError as exc:
            problems.append(str(exc))
        finally:
            shard.close()
    for split in sorted(manifest.get("pairs") or {}):
        _check_pairs(shard_dir, manifest, split, None if split in unread else keys[split], problems)
    for stray in sorted(shard_dir.glob("gen-*/*.h5")):
        if stray.resolve() not in listed:
            report.leftovers.append(f"{stray}: not in the manifest (left by an interrupted run)")
    return report


def _frame_keys(shard: ShardFile) -> set[PairKey]:
    """(video_id, frame_id) of every frame of an open shard."""
    videos, frames = shard.text_column("video_id"), shard.text_column("frame_id")
    return set(zip(videos, frames, strict=True))


def _check_pairs(
    shard_dir: Path,
    manifest: dict[str, Any],
    split: str,
    frames: set[PairKey] | None,
    problems: list[str],
) -> None:
    """One split's pair list: whole, well formed, and (``frames``: the split's frames, None
    when a shard could not be read) naming only frames of that split."""
    entry = pairs_entry(manifest, split)
    if entry is None:
        problems.append(
            f"{shard_dir / 'manifest.json'}: the '{split}' pairs entry is not an object"
        )
        return
    try:
        pairs = read_pairs_file(shard_dir, entry)
    except KeyError as exc:
        problems.append(f"{shard_dir / 'manifest.json'}: the '{split}' pairs entry lacks {exc}")
        return
    except ShardError as exc:
        problems.append(str(exc))
        return
    if frames is None:
        return
    missing = [
        (line, key) for line, pair in enumerate(pairs, start=2) for key in pair if key not in frames
    ]
    if missing:
        line, (video, frame) = missing[0]
        problems.append(
            f"{shard_dir / entry['file']}: {len(missing)} frame reference(s) not in the "
            f"'{split}' shards, the first at line {line}: {video}/{frame}"
        )


def verify_shard_file(path: Path, deep: bool = True) -> VerifyReport:
    """One shard file without its manifest (a copy received alone): that HDF5 opens it
    (a truncated file fails here), its schema version, structure, and (``deep``) every
    chunk's checksum, label ranges and image CRCs. There is no size or SHA-256 to compare."""
    path = Path(path)
    report = VerifyReport()
    try:
        with open_shard(path) as h5:
            try:
                frames = len(h5["video_id"]) if "video_id" in h5 else 0
            except HDF5_DAMAGE as exc:
                raise ShardError(f"{path}: HDF5 structure is corrupt ({exc})") from None
        shard = ShardFile(
            path.parent, {"file": path.name, "frames": frames, "bytes": path.stat().st_size}
        )
    except ShardError as exc:
        report.problems.append(str(exc))
        return report
    note = older_schema_note(path, shard.version)
    report.notes += [note] if note else []
    try:
        if deep:
            for f in FIELDS:  # no SHA-256: read each array chunk for its checksum (labels below)
                if f.name in shard.datasets and f.codec == "text":
                    shard.text_column(f.name)  # no checksum: decodable is all it can say
                elif f.name in shard.datasets and not f.encoded and f.max_value is None:
                    for i in range(shard.frames):
                        shard.read(i, [f.name])
            _check_frames(shard, report.problems)
    except ShardError as exc:
        report.problems.append(str(exc))
    finally:
        shard.close()
    return report


def _check_frames(shard: ShardFile, problems: list[str]) -> None:
    """Label ranges and image CRCs of every frame (reads every label chunk and image)."""
    for f in FIELDS:
        if f.max_value is not None:
            try:
                bad = label_ranges_ok(shard.h5[f.name], f.max_value)
            except HDF5_DAMAGE as exc:  # a chunk failing its Fletcher-32 checksum
                raise ShardError(f"{shard.path}: field '{f.name}' is corrupt ({exc})") from None
            if bad is not None:
                problems.append(
                    f"{shard.path}: frame {bad} field '{f.name}' has labels above {f.max_value}"
                )
    for i in range(shard.frames):
        shard.read(i, ENCODED_IMAGES)
