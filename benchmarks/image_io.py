"""Image I/O between sample-frames, remove-bg and write-shards, and the shards' array codecs.

Renders one synthetic 1024×1024 clip (one person, ``--frames`` frames; cached in
``--data``) and runs the chain's stages on it in this process (remove-bg with
``crop_file: image`` and ``alpha``, so that both the colour crops and the matte are at
hand). Then, on every kept frame and crop, each way of
storing them is timed (encode and decode, best of ``--repeats``, ms per image) and its
bytes counted:

- PNG through libpng (OpenCV; level 1 run-length, what the stages wrote until now), with
  OpenCV's defaults, and at level 3;
- our fast PNG (``hpt_data.stages._frames_io.fast_png``: every row Up-filtered, ISA-L's
  deflate at level 1), and the same rows through zlib at level 1, run-length (what it
  wrote until 2026-12-07) and default strategy;
- JPEG quality 95 (4:2:0 and 4:4:4), lossy: PSNR and largest error against the PNG;
- for the crop only, "matte": remove-bg stores only the soft matte (gray fast PNG) and the
  crop window, and write-shards rebuilds the crop from the frame (decode the frame, warp,
  blend over the background). Its encode is the matte's, its decode is the frame's + the
  matte's + the rebuild; its error is against the colour crop remove-bg wrote, blended
  with the unquantised matte (with ``crop_file: matte`` remove-bg blends with the 8-bit
  matte, and the rebuild is exact).

Then the chain's image I/O per frame (frame encoded once, decoded by remove-bg; crop encoded
once, decoded by write-shards) and the scratch bytes of the two, for each combination.

Last, the shard's array fields (``hpt_data.shards.schema``, codec ``blosc``) of the clip's
records written into an HDF5 file as write-shards writes them, with each Blosc setting:
ms per frame to write and to read back, bytes per frame.

    python benchmarks/image_io.py [--frames 12] [--repeats 5]

Writes ``benchmarks/results/image_io.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "image_io.json"
SIDE = 1024
FPS = 15


def build_clip(data: Path, work: Path, frames: int) -> tuple[Any, Path]:
    """The one-clip synthetic dataset, every stage run once; the video's folder."""
    from chain import build_clip_stages

    from hpt_data.config import DatasetConfig
    from hpt_data.orchestrator import Dataset
    from hpt_data.sources.split import SplitRule
    from hpt_data.sources.synthetic import SyntheticOptions
    from hpt_data.stages.remove_bg import RemoveBgSettings
    from hpt_data.stages.sample_frames import SampleFramesSettings

    options = SyntheticOptions(
        persons=1, clips_per_person=1, seconds=frames / FPS, fps=FPS, width=SIDE, height=SIDE
    )
    config = DatasetConfig(
        name="image_io",
        source="synthetic",
        root=data,
        options=options,
        split=SplitRule(test_fraction=0.0),
        stages={
            "sample-frames": SampleFramesSettings(mode="stride"),
            # the colour crops as well as the matte, to time them and compare with them
            "remove-bg": RemoveBgSettings(alpha=True, crop_file="image"),
        },
    )
    video, vdir = build_clip_stages(Dataset.open(config, work))
    return video, vdir.path


def best_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls, in ms, and the last call's result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best, out


def libpng(params: list[int]) -> Callable[[np.ndarray], bytes]:
    return lambda img: cv2.imencode(".png", img, params)[1].tobytes()


def fast_png_strategy(strategy: int) -> Callable[[np.ndarray], bytes]:
    """``fast_png``'s rows through zlib at level 1 with ``strategy``."""
    import struct
    import zlib

    from hpt_data.stages._frames_io import _png_chunk

    def encode(img: np.ndarray) -> bytes:
        h, w = img.shape[:2]
        flat = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).reshape(h, -1)
        rows = np.empty((h, flat.shape[1] + 1), np.uint8)
        rows[:, 0] = 2
        rows[0, 1:] = flat[0]
        np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])
        deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, strategy)
        data = deflate.compress(rows.tobytes()) + deflate.flush()
        header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
        return head + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")

    return encode


def codecs() -> dict[str, tuple[Callable[[np.ndarray], bytes], bool]]:
    """name -> (encoder of a BGR image, lossless)."""
    import zlib

    from hpt_data.stages._frames_io import fast_png

    rle = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, 95]
    j444 = [*jpeg, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    return {
        "png libpng level 1 RLE (until now)": (libpng(rle), True),
        "png libpng, OpenCV defaults": (libpng([]), True),
        "png libpng level 3": (libpng([cv2.IMWRITE_PNG_COMPRESSION, 3]), True),
        "png fast (Up rows, ISA-L level 1)": (fast_png, True),
        "png fast rows, zlib level 1 RLE (until 2026-12-07)": (fast_png_strategy(zlib.Z_RLE), True),
        "png fast rows, zlib default strategy": (fast_png_strategy(zlib.Z_DEFAULT_STRATEGY), True),
        "jpeg q95 4:2:0": (lambda img: cv2.imencode(".jpg", img, jpeg)[1].tobytes(), False),
        "jpeg q95 4:4:4": (lambda img: cv2.imencode(".jpg", img, j444)[1].tobytes(), False),
    }


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure(images: list[np.ndarray], repeats: int) -> dict[str, dict[str, Any]]:
    """Each codec over ``images``: mean over images of the best encode/decode ms, mean
    bytes, and the error of what decodes."""
    out: dict[str, dict[str, Any]] = {}
    for name, (encode, lossless) in codecs().items():
        enc, dec, size, errs, psnrs = [], [], [], [], []
        for img in images:
            ms, data = best_ms(lambda img=img, encode=encode: encode(img), repeats)
            buf = np.frombuffer(data, np.uint8)
            dms, back = best_ms(lambda buf=buf: cv2.imdecode(buf, cv2.IMREAD_COLOR), repeats)
            enc.append(ms)
            dec.append(dms)
            size.append(len(data))
            errs.append(int(np.abs(back.astype(np.int16) - img).max()))
            psnrs.append(psnr(back, img))
        if lossless and max(errs):
            raise SystemExit(f"{name} is not lossless here (largest error {max(errs)})")
        out[name] = {
            "encode_ms": round(float(np.mean(enc)), 2),
            "decode_ms": round(float(np.mean(dec)), 2),
            "bytes": round(float(np.mean(size))),
            "lossless": lossless,
            "max_error": max(errs),
            "psnr_db": None if lossless else round(float(np.mean(psnrs)), 2),
        }
    return out


def measure_matte(vdir: Path, repeats: int, frame_codec: Callable[[np.ndarray], bytes]) -> dict:
    """remove-bg storing only the soft matte; write-shards rebuilding the crop from the
    frame (stored with ``frame_codec``) and the matte."""
    from hpt_data.stages._frames_io import fast_png
    from hpt_data.stages.outputs import Crops, Frames

    frames = Frames.read(vdir / "sample-frames")
    crops = Crops.read(vdir / "remove-bg")
    by_file = {f.file: f for f in frames.frames}
    bg = np.array(crops.background_rgb[::-1], np.uint8)
    enc, dec, size, errs = [], [], [], []
    for crop in crops.frames:
        if not crop.image or not crop.alpha:
            continue
        frame = frames.image(by_file[crop.source_file].file)
        alpha8 = cv2.imread(str(vdir / "remove-bg" / crop.alpha), cv2.IMREAD_GRAYSCALE)
        stored = crops.image(crop)
        window = crop.window
        ms, data = best_ms(lambda a=alpha8: fast_png(a), repeats)
        frame_buf = np.frombuffer(frame_codec(frame), np.uint8)
        matte_buf = np.frombuffer(data, np.uint8)

        def rebuild(
            fb: np.ndarray = frame_buf, mb: np.ndarray = matte_buf, window: Any = window
        ) -> np.ndarray:
            image = cv2.imdecode(fb, cv2.IMREAD_COLOR)
            a = cv2.imdecode(mb, cv2.IMREAD_GRAYSCALE).astype(np.float32) * (1 / 255)
            cut = window.cut(image, 0)
            back = np.empty_like(cut)
            back[:] = np.tile(bg, (cut.shape[1], 1))
            return cv2.blendLinear(cut, back, a, 1.0 - a)

        dms, rebuilt = best_ms(rebuild, repeats)
        enc.append(ms)
        dec.append(dms)
        size.append(len(data))
        errs.append(int(np.abs(rebuilt.astype(np.int16) - stored).max()))
    return {
        "encode_ms": round(float(np.mean(enc)), 2),
        "decode_ms": round(float(np.mean(dec)), 2),
        "bytes": round(float(np.mean(size))),
        "lossless": False,
        "max_error": max(errs),
        "psnr_db": None,
        "note": "encode: the matte's gray PNG; decode: the frame's + the matte's + warp and "
        "blend; error against the crop remove-bg wrote (8-bit matte)",
    }


def chain_rows(frames: dict, crops: dict) -> list[dict[str, Any]]:
    """Per frame of the chain: frame encode + decode, crop encode + decode, and the
    scratch bytes of both, for each combination worth comparing."""
    now = "png libpng level 1 RLE (until now)"
    fast = "png fast (Up rows, ISA-L level 1)"
    combos = [
        ("libpng frames, libpng crops (until now)", now, now),
        ("fast frames, libpng crops", fast, now),
        ("fast frames, fast crops", fast, fast),
        ("fast frames, matte in place of the crop (the default now)", fast, "matte"),
        ("jpeg q95 frames, libpng crops", "jpeg q95 4:2:0", now),
    ]
    rows = []
    for label, f, c in combos:
        fr, cr = frames[f], crops[c]
        io_ms = fr["encode_ms"] + fr["decode_ms"] + cr["encode_ms"] + cr["decode_ms"]
        rows.append(
            {
                "combination": label,
                "io_ms_per_frame": round(io_ms, 1),
                "scratch_bytes_per_frame": fr["bytes"] + cr["bytes"],
                "frames_lossless": fr["lossless"],
            }
        )
    return rows


def shard_arrays(vdir: Path, video: Any, repeats: int) -> dict[str, dict[str, Any]]:
    """The clip's records' Blosc fields written (and read back) with each setting."""
    import h5py
    import hdf5plugin

    from hpt_data.gather import GatherCounts, gather_video
    from hpt_data.shards.schema import FIELDS
    from hpt_data.shards.writer import BLOSC_DEPTH, blosc_filter
    from hpt_data.workdir import VideoDir

    records = list(gather_video(VideoDir(vdir), video, GatherCounts()))
    fields = [f for f in FIELDS if f.codec == "blosc"]
    z1 = hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.SHUFFLE)
    hc3 = hdf5plugin.Blosc(cname="lz4hc", clevel=3, shuffle=hdf5plugin.Blosc.SHUFFLE)
    settings: dict[str, Callable[[str], Any]] = {
        "LZ4HC 3 everywhere (the first)": lambda dtype: hc3,
        "LZ4HC 3, LZ4 for float16 depth (until 2026-12-06)": lambda dtype: (
            BLOSC_DEPTH if dtype == "float16" else hc3
        ),
        "BloscLZ 5, LZ4 for float16 depth (now)": blosc_filter,
        "LZ4 everywhere": lambda dtype: BLOSC_DEPTH,
        "zstd 1 everywhere": lambda dtype: z1,
    }
    out = {}
    for name, pick in settings.items():

        def write(pick: Callable[[str], Any] = pick) -> bytes:
            bio = io.BytesIO()
            with h5py.File(bio, "w") as h5:
                sets = [
                    (f, h5.create_dataset(f.name, (len(records), *f.shape), dtype=f.dtype,
                                          chunks=(1, *f.shape), fletcher32=True,
                                          **pick(f.dtype)))
                    for f in fields
                ]  # fmt: skip
                for i, r in enumerate(records):
                    for f, ds in sets:
                        ds[i] = r[f.name]
            return bio.getvalue()

        wms, data = best_ms(write, repeats)

        def read(data: bytes = data) -> None:
            with h5py.File(io.BytesIO(data), "r") as h5:
                for f in fields:
                    for i in range(len(records)):
                        h5[f.name][i]

        rms, _ = best_ms(read, repeats)
        out[name] = {
            "write_ms_per_frame": round(wms / len(records), 2),
            "read_ms_per_frame": round(rms / len(records), 2),
            "bytes_per_frame": round(len(data) / len(records)),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12, help="frames of the clip")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many")
    parser.add_argument("--data", type=Path, default=None, help="clip cache (default: temp)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cv2.setNumThreads(1)  # per-image figures of one core
    from hpt_data.stages.outputs import Crops, Frames

    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="hpt-image-io-") as tmp:
        data = (args.data or Path(tmp) / "clips").resolve()
        video, vdir = build_clip(data, Path(tmp) / "work", args.frames)
        index = Frames.read(vdir / "sample-frames")
        crops = Crops.read(vdir / "remove-bg")
        frames = [index.image(f.file) for f in index.frames]
        crop_images = [crops.image(c) for c in crops.frames if c.image]
        on_frames = measure(frames, args.repeats)
        on_crops = measure(crop_images, args.repeats)
        fast = on_frames["png fast (Up rows, ISA-L level 1)"]
        from hpt_data.stages._frames_io import fast_png

        on_crops["matte"] = measure_matte(vdir, args.repeats, fast_png)
        on_crops["matte"]["decode_ms_frame_part"] = fast["decode_ms"]
        arrays = shard_arrays(vdir, video, args.repeats)
    result = {
        "benchmark": "image_io",
        "what": f"one synthetic {SIDE}x{SIDE} clip: its sample-frames frames and remove-bg "
        "crops stored each way (ms per image, one core, best of repeats; bytes per image); "
        "the shards' Blosc fields of its records",
        "frames": len(frames),
        "crops": len(crop_images),
        "repeats": args.repeats,
        "frame": on_frames,
        "crop": on_crops,
        "chain": chain_rows(on_frames, on_crops),
        "shard_arrays": arrays,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for target in ("frame", "crop"):
        print(f"\n{target}: encode ms | decode ms | bytes | max error | PSNR")
        for name, r in result[target].items():
            print(
                f"  {name:40s} {r['encode_ms']:7.2f} {r['decode_ms']:7.2f} {r['bytes']:9d} "
                f"{r['max_error']:4d} {r['psnr_db']}"
            )
    print("\nchain per frame: image I/O ms | scratch bytes of frame + crop")
    for row in result["chain"]:
        print(
            f"  {row['combination']:46s} {row['io_ms_per_frame']:7.1f} "
            f"{row['scratch_bytes_per_frame']:9d}"
        )
    print("\nshard arrays: write ms | read ms | bytes per frame")
    for name, r in arrays.items():
        print(
            f"  {name:40s} {r['write_ms_per_frame']:7.2f} {r['read_ms_per_frame']:7.2f} "
            f"{r['bytes_per_frame']:9d}"
        )
    print(f"load average before / after: {load_before} / {result['load_average_after']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
