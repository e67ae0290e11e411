"""Training pairs per second: HDF5 shards vs a folder of PNG/NPZ files, side by side.

The folder layout is the one pix2pixHD-style projects use: one PNG per image and label
map, one NPZ per frame for the rest, the same data as the shards. Both are read with 2
workers, the same pairs in the same order, yielding the same item (``PairDataset``'s
format), each both through a plain DataLoader and through the ``RingLoader`` that training
uses (``_ring`` rows), for several field sets:

- ``all``: every field of the default item at 1024 (source image and mask; target image,
  S and D at 1024 and 512, joints, boxes, complete part masks, pose);
- ``fine``: what the fine stage reads (``fields_for_stage("fine")``), at 1024;
- ``coarse_1024``: what the coarse stage reads, images at 1024;
- ``coarse_512``: the same with images at the stage's 512 (the shards decode the JPEG at
  half scale; the folder decodes the PNG and area-resizes it, as such loaders do).

The headline ratio is what training reads (shards, ring) over what a pix2pixHD-style loader
reads (folder, DataLoader); the like-for-like ratios (both one way) are written beside it.
Each run reports pairs/s (wall clock, from the first pair: worker start-up excluded) and
CPU ms per pair (workers + main process, from getrusage: what the loader costs whatever
else loads the machine, so ``2000 / cpu_ms`` is the rate two idle cores would give). A
profile (inside a worker) splits the shard side's cost of one pair by field and step, and
blank items measure what the DataLoader alone costs per tensor and per MB. Bytes on disk
per frame are counted both ways.

    python benchmarks/shard_loading.py --shards work/demo/shards [--pairs 240]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from hpt_data.shards.reading import decode_image
from hpt_data.shards.schema import CROP, ENCODED_IMAGES
from hpt_model.data import PairDataset, RingLoader, ShardFrames, fields_for_stage
from hpt_model.data.pairs import SOURCE_FIELDS, TARGET_FIELDS, field_to_tensor, pair_indices

RESULTS = Path(__file__).parent / "results" / "shard_loading.json"
LAYER_MASKS = tuple(f for f in TARGET_FIELDS if f.startswith("layer_mask_"))
PNG_FIELDS = ("image", "mask", "parsing", "parsing_512", *LAYER_MASKS)
TEXT = ("person_id", "frame_id", "video_id", "source")
RING = "_ring"  # suffix of the rows read through the RingLoader
LAYOUTS = ("shards", "shards" + RING, "png_npz_folder", "png_npz_folder" + RING)
RATIOS = {  # the headline first: what training reads vs what pix2pixHD-style loaders read
    "ratio_shards_over_folder": ("shards" + RING, "png_npz_folder"),
    "ratio_shards_over_folder_both_dataloader": ("shards", "png_npz_folder"),
    "ratio_shards_over_folder_both_ring": ("shards" + RING, "png_npz_folder" + RING),
}


def scenarios() -> dict[str, dict[str, Any]]:
    """PairDataset keyword arguments of each measured field set."""
    coarse = fields_for_stage("coarse")
    fine = fields_for_stage("fine")
    fine.pop("with_volume")
    coarse.pop("with_volume")
    return {
        "all": {"source_fields": SOURCE_FIELDS, "target_fields": TARGET_FIELDS},
        "fine": fine,
        "coarse_1024": {**coarse, "image_size": None},
        "coarse_512": coarse,
    }


def export_folder(frames: ShardFrames, out: Path) -> int:
    """Write every frame as PNGs + one NPZ; returns the bytes written."""
    for i in range(len(frames)):
        rec = frames.read(i)
        stem = out / f"{i:06d}"
        for name in PNG_FIELDS:
            img = rec[name][:, :, ::-1] if name == "image" else rec[name]
            cv2.imwrite(f"{stem}_{name}.png", img)
        arrays = {k: v for k, v in rec.items() if k not in PNG_FIELDS and not isinstance(v, str)}
        np.savez_compressed(f"{stem}.npz", **arrays)
    return sum(p.stat().st_size for p in out.iterdir())


class FolderPairs(Dataset):
    """The same pairs and items as PairDataset, read from the exported folder: PNGs with
    OpenCV (straight to RGB), NPZ members only when asked for."""

    def __init__(
        self,
        folder: Path,
        frames: ShardFrames,
        source_fields: tuple[str, ...],
        target_fields: tuple[str, ...],
        image_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.folder = folder
        self.person_ids = frames.person_ids
        self.frame_ids = [k.split("/", 1)[1] for k in frames.frame_keys]
        self.source_fields, self.target_fields = source_fields, target_fields
        self.image_size = image_size
        self.sources = pair_indices(frames.person_ids, seed, 0)

    def __len__(self) -> int:
        return len(self.sources)

    def _read(self, index: int, fields: tuple[str, ...]) -> dict[str, Any]:
        stem = self.folder / f"{index:06d}"
        out: dict[str, Any] = {}
        npz = None
        for name in fields:
            if name == "image":
                img = cv2.imread(f"{stem}_image.png", cv2.IMREAD_COLOR_RGB)
                if self.image_size is not None and self.image_size < img.shape[0]:
                    size = (self.image_size, self.image_size)
                    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
                out[name] = img
            elif name in PNG_FIELDS:
                out[name] = cv2.imread(f"{stem}_{name}.png", cv2.IMREAD_UNCHANGED)
            elif name == "person_id":
                out[name] = self.person_ids[index]
            elif name == "frame_id":
                out[name] = self.frame_ids[index]
            else:
                if npz is None:
                    npz = np.load(f"{stem}.npz")
                out[name] = npz[name]
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        target = self._read(index, self.target_fields)
        source = self._read(int(self.sources[index]), self.source_fields)
        item = {f"target_{k}": field_to_tensor(k, v) for k, v in target.items()}
        item.update({f"source_{k}": field_to_tensor(k, v) for k, v in source.items()})
        item["index"] = index
        return item


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children (the loader's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(
    dataset: Dataset, order: list[int], workers: int, ring: bool = False
) -> tuple[float, float]:
    """(pairs/s from the first pair on, CPU ms per pair) for one pass over ``order``, through
    a DataLoader or (``ring``) the RingLoader training uses."""
    cpu0 = _cpu_s()
    if ring:
        loader = RingLoader(dataset, 1, order, num_workers=workers)
    else:
        loader = DataLoader(dataset, batch_size=1, sampler=order, num_workers=workers)
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    seen = 1 + sum(1 for _ in it)
    elapsed = time.perf_counter() - start
    del it  # joins the workers, so that their CPU time is counted
    cpu = _cpu_s() - cpu0
    return (seen - 1) / elapsed, 1e3 * cpu / seen


class Blank(Dataset):
    """Items of ``tensors`` tiny tensors and ``mb`` MB of uint8, made for nothing: what the
    DataLoader alone costs to bring an item from a worker (collation into shared memory,
    one file descriptor per tensor, the main process's unpickling)."""

    def __init__(self, tensors: int, mb: float, n: int = 240) -> None:
        self.tensors, self.bytes, self.n = tensors, int(mb * 2**20), n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {f"t{k}": torch.zeros(4) for k in range(self.tensors)}
        if self.bytes:
            item["data"] = torch.ones(self.bytes, dtype=torch.uint8)
        return item


def transfer_cost(workers: int) -> dict[str, float]:
    """CPU ms per item of the DataLoader's own transfer, per tensor and per MB."""
    order = list(range(240))
    cost = {
        f"{k} tensors, {mb} MB": measure(Blank(k, mb), order, workers)[1]
        for k, mb in ((1, 0), (25, 0), (1, 6), (1, 12))
    }
    ring = {
        f"{k} tensors, {mb} MB": measure(Blank(k, mb), order, workers, ring=True)[1]
        for k, mb in ((1, 0), (25, 0), (1, 12))
    }
    return {
        **{k: round(v, 2) for k, v in cost.items()},
        "per_tensor_ms": round((cost["25 tensors, 0 MB"] - cost["1 tensors, 0 MB"]) / 24, 2),
        "per_mb_ms": round((cost["1 tensors, 12 MB"] - cost["1 tensors, 6 MB"]) / 6, 2),
        "ring": {k: round(v, 2) for k, v in ring.items()},
    }


class PairProfile(Dataset):
    """One item: the median ms per pair of each step on the shard side, measured inside a
    DataLoader worker (so that collation goes to shared memory as in training): per field,
    the HDF5 read (with its decompression and checksums), JPEG decoding, tensor
    conversion; then collating the pair."""

    def __init__(self, shards: Path, split: str, kwargs: dict[str, Any], n: int) -> None:
        self.frames = ShardFrames(shards, split)
        self.kwargs, self.n = kwargs, n

    def __len__(self) -> int:
        return 1

    def __getitem__(self, _: int) -> dict[str, float]:
        size = self.kwargs.get("image_size")
        fields = [("target", f) for f in self.kwargs["target_fields"]]
        fields += [("source", f) for f in self.kwargs["source_fields"]]
        times: dict[str, list[float]] = {}
        for i in range(self.n):
            shard, local = self.frames.locate(i)
            reader = self.frames._shard(shard)
            item: dict[str, Any] = {}
            steps: dict[str, float] = {}
            for side, name in fields:
                key = "ids" if name in TEXT else name
                t0 = time.perf_counter()
                if name in ENCODED_IMAGES:
                    data = reader.encoded_bytes(name, local)  # its CRC-32 checked
                    t1 = time.perf_counter()
                    value = decode_image(data, size)
                    decode = f"{key}: decode JPEG"
                    steps[decode] = steps.get(decode, 0.0) + time.perf_counter() - t1
                    read = t1 - t0
                else:
                    value = reader.read(local, [name])[name]
                    read = time.perf_counter() - t0
                t2 = time.perf_counter()
                item[f"{side}_{name}"] = field_to_tensor(name, value)
                steps[f"{key}: read"] = steps.get(f"{key}: read", 0.0) + read
                steps["to tensor"] = steps.get("to tensor", 0.0) + time.perf_counter() - t2
            t0 = time.perf_counter()
            default_collate([item])  # in a worker: into shared memory
            steps["collate into shared memory"] = time.perf_counter() - t0
            for key, seconds in steps.items():
                times.setdefault(key, []).append(1e3 * seconds)
        return {k: round(float(np.median(v)), 2) for k, v in times.items()}


def profile_pair(shards: Path, split: str, kwargs: dict[str, Any], n: int) -> dict[str, float]:
    loader = DataLoader(PairProfile(shards, split, kwargs, n), batch_size=None, num_workers=1)
    return next(iter(loader))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, default=Path("work/demo/shards"))
    parser.add_argument("--split", default="train")
    parser.add_argument("--pairs", type=int, default=240)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repeats; best kept")
    parser.add_argument(
        "--profile-only", action="store_true", help="print the per-step budget; write nothing"
    )
    args = parser.parse_args()

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if args.profile_only:  # e.g. on a version-1 (lzf) set, to compare the map reads
        for name, kwargs in scenarios().items():
            print(name, json.dumps(profile_pair(args.shards, args.split, kwargs, 40)))
        return
    frames = ShardFrames(args.shards, args.split)
    n = len(frames)
    rng = np.random.default_rng(0)
    order = [int(i) for _ in range(-(-args.pairs // n)) for i in rng.permutation(n)][: args.pairs]
    manifest = json.loads((args.shards / "manifest.json").read_text())
    shard_bytes = sum(s["bytes"] for s in manifest["shards"] if s["split"] == args.split)
    tmp = Path(tempfile.mkdtemp(prefix="hpt-folder-"))
    rows: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    try:
        folder_bytes = export_folder(frames, tmp)
        for _ in range(args.rounds):
            # interleave the layouts and field sets so that a change in load hits all
            for name, kwargs in scenarios().items():
                fields = (kwargs["source_fields"], kwargs["target_fields"])
                readers = {
                    "shards": PairDataset(args.shards, args.split, **kwargs),
                    "png_npz_folder": FolderPairs(tmp, frames, *fields, kwargs.get("image_size")),
                }
                for (layout, dataset), ring in itertools.product(readers.items(), (False, True)):
                    rate, cpu = measure(dataset, order, args.workers, ring)
                    row_name = layout + (RING if ring else "")
                    row = rows.setdefault(name, {}).setdefault(row_name, {})
                    row["pairs_per_s"] = round(max(row.get("pairs_per_s", 0.0), rate), 1)
                    row["cpu_ms_per_pair"] = round(min(row.get("cpu_ms_per_pair", 1e9), cpu), 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for row in rows.values():
        for key, (a, b) in RATIOS.items():
            row[key] = round(row[a]["pairs_per_s"] / row[b]["pairs_per_s"], 2)
        for layout in LAYOUTS:
            row[layout]["idle_2_core_pairs_per_s"] = round(2000 / row[layout]["cpu_ms_per_pair"], 1)
    budget = {
        name: profile_pair(args.shards, args.split, kwargs, min(n, 40))
        for name, kwargs in scenarios().items()
    }
    transfer = transfer_cost(args.workers)
    result = {
        "frames": n,
        "workers": args.workers,
        "pairs_timed": args.pairs,
        "image_size": CROP,
        "field_sets": rows,
        "shard_pair_budget_ms": budget,
        "dataloader_transfer_cpu_ms": transfer,
        "bytes_per_frame": {
            "shards": round(shard_bytes / n),
            "png_npz_folder": round(folder_bytes / n),
        },
        "load_average_before_after": [round(x, 2) for x in (*load_before[:1], os.getloadavg()[0])],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print(
        f"{'field set':<12} {'layout':<20} {'pairs/s':>8} {'CPU ms/pair':>12} {'idle 2 cores':>13}"
    )
    for name, row in rows.items():
        for layout in LAYOUTS:
            r = row[layout]
            print(
                f"{name:<12} {layout:<20} {r['pairs_per_s']:>8.1f} {r['cpu_ms_per_pair']:>12.1f} "
                f"{r['idle_2_core_pairs_per_s']:>13.1f}"
            )
        print(
            f"{'':<12} shards (ring) / folder (DataLoader): {row['ratio_shards_over_folder']}x; "
            f"both DataLoader {row['ratio_shards_over_folder_both_dataloader']}x, "
            f"both ring {row['ratio_shards_over_folder_both_ring']}x"
        )
    for name, steps in budget.items():
        total = sum(steps.values())
        print(f"shard pair budget, {name} ({total:.1f} ms in one process):")
        for key, ms in sorted(steps.items(), key=lambda kv: -kv[1]):
            print(f"    {key:<34} {ms:6.2f} ms")
    print(
        f"DataLoader transfer alone: {transfer['per_tensor_ms']} CPU ms per tensor, "
        f"{transfer['per_mb_ms']} per MB; blank items through the ring: {transfer['ring']}"
    )
    mb = {k: v / 1e6 for k, v in result["bytes_per_frame"].items()}
    print(f"MB per frame: shards {mb['shards']:.3f}, folder {mb['png_npz_folder']:.3f}")
    print(f"load average (1 min) before, after: {result['load_average_before_after']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
