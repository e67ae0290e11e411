"""Contact sheet of the ``demo`` people: a few frames of every clip, labelled, in one PNG.

For judging the synthetic source's realism by eye (shapes, clothes, poses, rooms). Renders
the demo clips (the synthetic source's default options) unless ``--clips`` points to a
folder that already holds them, and writes ``docs/images/demo_people.png``.

Usage: ``python benchmarks/synthetic_contact_sheet.py [--clips DIR] [--out PNG]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource
from hpt_data.sources.synthetic.ground_truth import load_ground_truth

OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "demo_people.png"
TILE_H = 224
FRAMES_PER_CLIP = 5
LABEL_H = 22


def _label(gt: dict) -> str:
    """One line about the clip: person, action, body and clothes."""
    outfit = dict(zip(gt["outfit_names"].tolist(), gt["outfit_values"].tolist(), strict=True))
    female = float(gt["person_female"])
    age = float(gt["person_age_years"])
    who = "" if np.isnan(age) else f"{'F' if female > 0.5 else 'M'} {age:.0f}y "
    return (
        f"{gt['person_id']} {gt['action']} | {who}{float(gt['person_height_m']):.2f} m "
        f"{float(gt['person_mass_kg']):.0f} kg | {outfit['sleeves']}-sleeve {outfit['shirt']} "
        f"{outfit['shirt_pattern']}, {outfit['lower']} {outfit['lower_kind']}, "
        f"{outfit['hair_style']} {outfit['hair']} hair"
    )


def make_sheet(root: Path, opts: SyntheticOptions) -> np.ndarray:
    """The sheet (H, W, 3) uint8 RGB of the clips under ``root``, rendering missing ones."""
    import cv2

    src = SyntheticSource(root, opts, dataset="demo")
    rows = []
    for v in src.scan().videos:
        if not src.is_materialized(v):
            src.materialize(v)
        gt = load_ground_truth(v.ground_truth)
        cap = cv2.VideoCapture(v.path)
        frames = []
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr)
        cap.release()
        idx = np.linspace(0, len(frames) - 1, FRAMES_PER_CLIP).round().astype(int)
        h, w = frames[0].shape[:2]
        tile_w = round(w * TILE_H / h)
        tiles = [cv2.resize(frames[i], (tile_w, TILE_H), interpolation=cv2.INTER_AREA) for i in idx]
        strip = np.concatenate(tiles, axis=1)
        label = np.full((LABEL_H, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(label, _label(gt), (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)  # fmt: skip
        rows.append(np.concatenate([label, strip], axis=0))
    sheet = np.concatenate(rows, axis=0)
    return cv2.cvtColor(sheet, cv2.COLOR_BGR2RGB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=None, help="folder of rendered demo clips")
    parser.add_argument("--out", type=Path, default=OUT, help="PNG to write")
    args = parser.parse_args()
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        sheet = make_sheet(args.clips or Path(tmp), SyntheticOptions())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, optimize=True)
    print(
        f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]}, {args.out.stat().st_size >> 10} KiB)"
    )


if __name__ == "__main__":
    main()
