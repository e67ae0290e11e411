"""The pairs a shard set stores per split: (source frame, target frame) lists, as text.

Since schema version 3, ``write-shards`` stores the pairs of a split (the dataset's own, or
the test pairs of the documented rule where it defines none: ``hpt_data.shard_pairs``) in
one file per split beside the shards, ``gen-<id>/pairs-<split>.csv``::

    source_video,source_frame,target_video,target_frame
    v0,000003,v1,000000

Frames are named as the shards name them (``video_id``, ``frame_id``), not by a shard and
index, so a pair list stays true whatever the shard boundaries. The manifest's ``pairs``
maps each split to ``{"file", "pairs", "bytes", "sha256", "origin", "left_out", ...}``
(docs/shards.md, "Pairs"). Video ids are safe folder names (``hpt_data.names``: no comma,
no line break) and frame ids six digits, so the CSV needs no quoting.

This module is what ``hpt_model`` and the exports read pairs through: numpy-free, and every
problem is one ``ShardError`` naming the file (and line).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpt_data.shards.reading import ShardError, load_manifest

PairKey = tuple[str, str]  # (video_id, frame_id)
Pair = tuple[PairKey, PairKey]  # (source, target)
HEADER = "source_video,source_frame,target_video,target_frame"
FRAME_ID_DIGITS = 6  # hpt_data.stages.outputs.frame_id


def pairs_file_name(split: str) -> str:
    """The file name of a split's pair list inside a generation folder."""
    return f"pairs-{split}.csv"


def format_pairs(pairs: Sequence[Pair]) -> bytes:
    """The CSV bytes of ``pairs`` (header, then one line per pair, ``\\n`` line ends)."""
    lines = [HEADER]
    lines += [f"{sv},{sf},{tv},{tf}" for (sv, sf), (tv, tf) in pairs]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _bad_frame_id(value: str) -> bool:
    return len(value) != FRAME_ID_DIGITS or not value.isascii() or not value.isdigit()


def parse_pairs(path: Path, data: bytes) -> list[Pair]:
    """The pairs of a pair file's bytes; ``ShardError`` naming ``path`` and the line of
    the first malformed line (a wrong header, a line without 4 fields, an empty video id,
    a frame id that is not six digits, no final line end: a cut file)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ShardError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.endswith("\n"):
        raise ShardError(f"{path}: does not end with a line break (cut short)")
    lines = text[:-1].split("\n")
    if lines[0] != HEADER:
        raise ShardError(f"{path} line 1: header {lines[0][:80]!r}, expected {HEADER!r}")
    out: list[Pair] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if len(cells) != 4:
            raise ShardError(f"{path} line {number}: {len(cells)} fields, expected 4")
        sv, sf, tv, tf = cells
        if not sv or not tv:
            raise ShardError(f"{path} line {number}: empty video id")
        if _bad_frame_id(sf) or _bad_frame_id(tf):
            bad = sf if _bad_frame_id(sf) else tf
            raise ShardError(
                f"{path} line {number}: frame id {bad!r} is not {FRAME_ID_DIGITS} digits"
            )
        out.append(((sv, sf), (tv, tf)))
    return out


def pairs_entry(manifest: dict[str, Any], split: str) -> dict[str, Any] | None:
    """The manifest's entry for ``split``'s pairs; None when the set stores none (version
    1 and 2 sets never do)."""
    entry = (manifest.get("pairs") or {}).get(split)
    return entry if isinstance(entry, dict) else None


def read_pairs_file(shard_dir: Path, entry: dict[str, Any]) -> list[Pair]:
    """The pairs of one manifest entry, checked against it: the file is there, its size and
    SHA-256 are the manifest's (a truncated or altered copy fails here), every line
    parses, and the count is the manifest's."""
    path = Path(shard_dir) / entry["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ShardError(f"{path}: listed in the manifest but missing") from None
    except OSError as exc:
        raise ShardError(f"{path}: unreadable ({exc})") from None
    if len(data) != entry["bytes"]:
        raise ShardError(
            f"{path}: {len(data)} bytes on disk, the manifest says {entry['bytes']} "
            "(truncated or replaced)"
        )
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ShardError(f"{path}: SHA-256 differs from the manifest (corrupted)")
    pairs = parse_pairs(path, data)
    if len(pairs) != entry["pairs"]:
        raise ShardError(f"{path}: {len(pairs)} pairs, the manifest says {entry['pairs']}")
    return pairs


def read_pairs(shard_dir: Path, split: str) -> list[Pair] | None:
    """The pairs the shards in ``shard_dir`` store for ``split``, in stored order, as
    ``((source video_id, source frame_id), (target video_id, target frame_id))``; None
    when they store none for that split (older schema versions, or a split without pairs).
    Every problem (no manifest, another schema, a missing, truncated or malformed pair
    file) is one ``ShardError`` naming the file."""
    shard_dir = Path(shard_dir)
    entry = pairs_entry(load_manifest(shard_dir), split)
    if entry is None:
        return None
    try:
        return read_pairs_file(shard_dir, entry)
    except KeyError as exc:
        raise ShardError(
            f"{shard_dir / 'manifest.json'}: the '{split}' pairs entry lacks {exc}"
        ) from None
