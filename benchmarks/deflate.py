"""ISA-L's deflate (``isal``, what the stages write with) against zlib's at level 1 (what
they wrote with before), on what the stages deflate per frame of ``chain.py``'s clip.

The material: ``chain.py``'s synthetic 1024×1024 clip (rendered, or read back with
``--data``/``--work``) through voxelize, then per frame

- remove-bg's 8-bit matte and 1-bit mask as the PNG rows ``fast_png`` deflates (zlib was
  level 1 run-length there),
- the frame as colour PNG rows (sample-frames with ``image_format: png``),
- the members of render-maps' and voxelize's per-frame ``.npz`` (zlib was level 1 there,
  through ``zipfile``).

Each item is deflated both ways in turns, best of ``--repeats``; reported: ms per frame
each way, the ratio, bytes per frame each way, and that both inflate to the input.

    python benchmarks/deflate.py [--frames 60] [--repeats 3]

Prints a table and writes ``benchmarks/results/deflate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results" / "deflate.json"


def up_rows(image: np.ndarray) -> bytes:
    """``fast_png``'s filtered rows of a gray, bool or BGR image (what it deflates)."""
    import cv2

    if image.dtype == np.bool_:
        flat = np.packbits(image, axis=1)
    elif image.ndim == 3:
        flat = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).reshape(image.shape[0], -1)
    else:
        flat = image
    rows = np.empty((flat.shape[0], flat.shape[1] + 1), np.uint8)
    rows[:, 0] = 2
    rows[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])
    return rows.tobytes()


def npz_members(path: Path) -> list[bytes]:
    """The raw ``.npy`` bytes of each member of an ``.npz``."""
    with zipfile.ZipFile(path) as zf:
        return [zf.read(info) for info in zf.infolist()]


def zlib_png(raw: bytes) -> bytes:
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return deflate.compress(raw) + deflate.flush()


def zlib_zip(raw: bytes) -> bytes:
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)  # as zipfile does at level 1
    return deflate.compress(raw) + deflate.flush()


def isal_png(raw: bytes) -> bytes:
    from hpt_data.stages._frames_io import deflate_fast

    return deflate_fast(raw)


def isal_zip(raw: bytes) -> bytes:
    from hpt_data.stages._frames_io import deflate_fast

    return deflate_fast(raw, wbits=-15)


def best_ms(fn: Callable[[], bytes], repeats: int) -> tuple[float, bytes]:
    best, out = float("inf"), b""
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best, out


def compare(items: list[list[bytes]], old: Callable, new: Callable, wbits: int, repeats: int):
    """Per frame (a list of buffers each), both deflates in turns: ms and bytes per frame."""
    ms = {"zlib": 0.0, "isal": 0.0}
    size = {"zlib": 0, "isal": 0}
    for frame in items:
        for raw in frame:
            for name, fn in (("zlib", old), ("isal", new)):
                t, data = best_ms(lambda fn=fn, raw=raw: fn(raw), repeats)
                if zlib.decompress(data, wbits) != raw:
                    raise SystemExit(f"{name} did not inflate to its input")
                ms[name] += t
                size[name] += len(data)
    n = len(items)
    return {
        "zlib_ms_per_frame": round(ms["zlib"] / n, 2),
        "isal_ms_per_frame": round(ms["isal"] / n, 2),
        "zlib_over_isal": round(ms["zlib"] / ms["isal"], 1),
        "zlib_bytes_per_frame": round(size["zlib"] / n),
        "isal_bytes_per_frame": round(size["isal"] / n),
        "isal_over_zlib_bytes": round(size["isal"] / size["zlib"], 3),
    }


def build(data: Path, work: Path, frames: int) -> tuple[Any, Any]:
    """chain.py's clip through voxelize: the video and its folder."""
    from chain import build_clip_stages, open_clip

    return build_clip_stages(open_clip(data, work, frames))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None, help="clip cache (default: temp)")
    parser.add_argument("--work", type=Path, default=None, help="the stages' outputs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import cv2
    from chain import decode

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "data"
        work = args.work or Path(tmp) / "work"
        video, vdir = build(data, work, args.frames)
        rb = vdir.output("remove-bg")
        mattes = [
            [up_rows(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))]
            for p in sorted((rb / "alpha").glob("*.png"))
        ]
        masks = [
            [up_rows(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) >= 128)]
            for p in sorted((rb / "mask").glob("*.png"))
        ]
        colour = [[up_rows(image)] for image in decode(str(video.path))]
        maps = [npz_members(p) for p in sorted(vdir.output("render-maps").rglob("*.npz"))]
        volumes = [npz_members(p) for p in sorted(vdir.output("voxelize").rglob("*.npz"))]
        rows = {
            "remove-bg matte (8-bit PNG rows)": (mattes, zlib_png, isal_png, 15),
            "remove-bg mask (1-bit PNG rows)": (masks, zlib_png, isal_png, 15),
            "frame (colour PNG rows)": (colour, zlib_png, isal_png, 15),
            "render-maps .npz members": (maps, zlib_zip, isal_zip, -15),
            "voxelize .npz members": (volumes, zlib_zip, isal_zip, -15),
        }
        out = {
            name: {"items": len(items), **compare(items, old, new, wbits, args.repeats)}
            for name, (items, old, new, wbits) in rows.items()
        }
    from isal import __version__ as isal_version

    result = {
        "benchmark": "deflate",
        "what": "ISA-L level 1 (isal) against zlib level 1, per frame of chain.py's 1024 clip",
        "frames": args.frames,
        "repeats": args.repeats,
        "isal": isal_version,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "date": time.strftime("%Y-%m-%d"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rows": out,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| what | zlib ms/frame | ISA-L ms/frame | zlib / ISA-L | zlib bytes | ISA-L bytes |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in out.items():
        print(
            f"| {name} | {r['zlib_ms_per_frame']} | {r['isal_ms_per_frame']} | "
            f"{r['zlib_over_isal']}x | {r['zlib_bytes_per_frame']:,} | "
            f"{r['isal_bytes_per_frame']:,} |"
        )


if __name__ == "__main__":
    main()
