"""Training pairs per second: HDF5 shards vs a folder of PNG/NPZ files, side by side.

The folder layout is the one pix2pixHD-style projects use: one PNG per image and label
map, one NPZ per frame for the rest, the same data as the shards. Both are read through a
DataLoader with 2 workers yielding full-resolution pairs (source image; target image, S
and D at 1024 and 512, joints, boxes, complete part masks), and bytes on disk per frame
are counted both ways.

    python benchmarks/shard_loading.py --shards work/demo/shards [--pairs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hpt_model.data import PairDataset, ShardFrames
from hpt_model.data.pairs import SOURCE_FIELDS, TARGET_FIELDS, _to_tensor, pair_indices

RESULTS = Path(__file__).parent / "results" / "shard_loading.json"
LAYER_MASKS = tuple(f for f in TARGET_FIELDS if f.startswith("layer_mask_"))
PNG_FIELDS = ("image", "mask", "parsing", "parsing_512", *LAYER_MASKS)


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
    """The same pairs as PairDataset, read from the exported folder."""

    def __init__(self, folder: Path, person_ids: list[str], seed: int = 0) -> None:
        self.folder = folder
        self.sources = pair_indices(person_ids, seed, 0)

    def __len__(self) -> int:
        return len(self.sources)

    def _read(self, index: int, fields: tuple[str, ...]) -> dict[str, Any]:
        stem = self.folder / f"{index:06d}"
        out: dict[str, Any] = {}
        npz = None
        for name in fields:
            if name in PNG_FIELDS:
                img = cv2.imread(f"{stem}_{name}.png", cv2.IMREAD_UNCHANGED)
                out[name] = img[:, :, ::-1] if name == "image" else img
            elif name not in ("person_id", "frame_id"):
                if npz is None:
                    npz = np.load(f"{stem}.npz")
                out[name] = npz[name]
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        target = self._read(index, TARGET_FIELDS)
        source = self._read(int(self.sources[index]), SOURCE_FIELDS)
        item = {f"target_{k}": _to_tensor(k, v) for k, v in target.items()}
        item.update({f"source_{k}": _to_tensor(k, v) for k, v in source.items()})
        return item


def pairs_per_second(dataset: Dataset, pairs: int, workers: int) -> float:
    loader = DataLoader(
        dataset,
        batch_size=1,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
        persistent_workers=False,
    )
    seen, start = 0, None
    while seen < pairs:
        for _ in loader:
            if start is None:  # time from the first pair: worker start-up excluded
                start = time.perf_counter()
            seen += 1
            if seen >= pairs:
                break
    return (seen - 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, default=Path("work/demo/shards"))
    parser.add_argument("--split", default="train")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(1)
    frames = ShardFrames(args.shards, args.split)
    manifest = json.loads((args.shards / "manifest.json").read_text())
    shard_bytes = sum(s["bytes"] for s in manifest["shards"] if s["split"] == args.split)
    tmp = Path(tempfile.mkdtemp(prefix="hpt-folder-"))
    try:
        folder_bytes = export_folder(frames, tmp)
        rows = {}
        # interleave the two readers twice so that a change in machine load hits both
        for _ in range(2):
            for name, ds in (
                ("shards", PairDataset(args.shards, args.split)),
                ("png_npz_folder", FolderPairs(tmp, frames.person_ids)),
            ):
                rate = pairs_per_second(ds, args.pairs, args.workers)
                rows[name] = max(rows.get(name, 0.0), rate)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(frames)
    result = {
        "frames": n,
        "workers": args.workers,
        "pairs_timed": args.pairs,
        "pairs_per_s": {k: round(v, 1) for k, v in rows.items()},
        "ratio_shards_over_folder": round(rows["shards"] / rows["png_npz_folder"], 2),
        "bytes_per_frame": {
            "shards": round(shard_bytes / n),
            "png_npz_folder": round(folder_bytes / n),
        },
        "load_average": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print(f"{'layout':<16} {'pairs/s':>8} {'MB/frame':>9}")
    for name in ("shards", "png_npz_folder"):
        mb = result["bytes_per_frame"][name] / 1e6
        print(f"{name:<16} {result['pairs_per_s'][name]:>8.1f} {mb:>9.2f}")
    print(
        f"shards / folder: {result['ratio_shards_over_folder']}x "
        f"(load average {result['load_average'][0]:.1f})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
