"""``hpt-data export``: a shard set in the layouts other pose-transfer trainers read.

``patn`` (PATN, GFLA, CFLD: image folders and CSVs), ``nted`` (NTED, PIDM:
LMDB, ``pose/*.txt``, ``*_pairs.txt``) and ``webdataset`` (tar shards of every per-frame
field a large-scale loader may want). One module per format; ``frames`` reads the shards,
names the frames and chooses the pairs; ``output`` makes the folder appear whole or not at
all. Each format says what of a frame it has no slot for (``dropped``), and the command
prints it. docs/exports.md has the details and the files each layout was checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpt_data.export import nted, patn, webdataset
from hpt_data.export.coco18 import MIN_VISIBILITY
from hpt_data.export.frames import ExportError, ShardSet
from hpt_data.export.output import MARKER, atomic_folder

FORMATS = ("patn", "nted", "webdataset")
DROPPED: dict[str, tuple[str, ...]] = {
    "patn": patn.DROPPED,
    "nted": nted.DROPPED,
    "webdataset": webdataset.DROPPED,
}

__all__ = ["DROPPED", "FORMATS", "MARKER", "ExportError", "ExportOptions", "ExportResult", "export"]


@dataclass(frozen=True)
class ExportOptions:
    """How to export: the format and each format's knobs (ignored by the others)."""

    format: str
    seed: int = 0  # the pair rule's seed (hpt_data.pair_rule), where the shards store no pairs
    prefix: str = patn.DEFAULT_PREFIX  # patn: the CSVs' name prefix
    min_visibility: float = MIN_VISIBILITY  # patn, nted: below it a keypoint is -1
    samples_per_tar: int = webdataset.DEFAULT_SAMPLES_PER_TAR  # webdataset


@dataclass(frozen=True)
class ExportResult:
    out: Path
    counts: dict[str, int]
    dropped: tuple[str, ...]


def export(
    shard_dir: Path, out: Path, options: ExportOptions, progress: bool = True
) -> ExportResult:
    """Export the shard set at ``shard_dir`` to the folder ``out`` (made whole or not at
    all; an earlier export there is replaced). Raises ``HptError`` (one line) on bad
    shards, a name clash or an ``out`` that holds something else."""
    from tqdm import tqdm

    if options.format not in FORMATS:
        raise ExportError(f"unknown format '{options.format}' (formats: {', '.join(FORMATS)})")
    if not 0.0 <= options.min_visibility <= 1.0:
        raise ExportError(f"min visibility must be in [0, 1], got {options.min_visibility}")
    if not options.prefix or "/" in options.prefix or options.prefix.startswith("."):
        raise ExportError(f"prefix '{options.prefix}': give a plain file-name prefix")
    shards = ShardSet(shard_dir)
    total = sum(len(shards.frames[s]) for s in shards.splits)
    if total == 0:
        raise ExportError(f"{shard_dir}: the shard set holds no frames")
    with (
        atomic_folder(out) as (tmp, record),
        tqdm(
            total=total, desc=f"export {options.format}", unit="frame", disable=not progress
        ) as bar,
    ):
        counts = _writer(options)(shards, tmp, tick=lambda: bar.update(1))
        record.update(
            format=options.format,
            dataset=shards.dataset,
            shards=str(Path(shard_dir).resolve()),
            generation=shards.manifest.get("generation"),
            options={k: v for k, v in options.__dict__.items() if k != "format"},
            counts=counts,
            dropped=list(DROPPED[options.format]),
        )
    return ExportResult(Path(out), counts, DROPPED[options.format])


def _writer(options: ExportOptions) -> Callable[..., dict[str, int]]:
    """The chosen format's ``write`` with its options bound."""
    kwargs: dict[str, Any] = {"seed": options.seed}
    if options.format == "patn":
        kwargs.update(prefix=options.prefix, min_visibility=options.min_visibility)
        fn = patn.write
    elif options.format == "nted":
        kwargs.update(min_visibility=options.min_visibility)
        fn = nted.write
    else:
        kwargs.update(samples_per_tar=options.samples_per_tar)
        fn = webdataset.write

    def write(shards: ShardSet, out: Path, tick: Callable[[], None]) -> dict[str, int]:
        return fn(shards, out, tick=tick, **kwargs)

    return write
