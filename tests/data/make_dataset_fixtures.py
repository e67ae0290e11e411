"""Make the tiny DeepFashion, iPER and Human3.6M fixtures of ``tests/data`` from synthetic people.

Each fixture holds a few frames of the project's own synthetic people (the ``synthetic``
source: 3 persons x 2 clips of 3 frames at 240x320) under the file names, folders and
CSV/TXT/JSON formats the datasets' owners distribute, odd parts included:

- ``deepfashion/``: PATN's layout (tengteng95/Pose-Transfer): ``train/``, ``test/`` of
  176x256 photos named ``fashion<MEN|WOMEN><Category>id<item><photo>_<view>.jpg`` (one
  category with an underscore, ``Blouses_Shirts``), ``train.lst``/``test.lst``,
  ``fasion-resize-pairs-{train,test}.csv`` (``from,to``) and
  ``fasion-resize-annotation-{train,test}.csv`` (``name:keypoints_y:keypoints_x``, written
  as PATN's ``compute_coordinates.py`` writes it: ``name: [y, ...]: [x, ...]``, -1 where a
  point is missing), the points being the synthetic ground truth's joints in COCO-18 order;
- ``iper/``: ``images_HD/<person>/<outfit>/<action>/000.jpg ...``, ``train.txt``,
  ``val.txt`` and ``iPER_protocol.json`` (the ``val`` mapping of
  svip-lab/impersonator ``thirdparty/his_evaluators/data/iPER_protocol.json``; one
  self-imitation range reaches past the video's end, as ``[0, 300]`` does in the real file);
- ``human36m/``: ``S1``, ``S9``, ``S11`` with ``Videos/<Action>[ <take>].<camera>.mp4``
  (both spellings ``Photo``/``TakingPhoto`` occur in the release; ``S11/Directions.54138969``
  is the one the source leaves out by default).

Run from the repository root to remake them (deterministic: the synthetic source is
seeded): ``python tests/data/make_dataset_fixtures.py``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from itertools import permutations
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
# SMPL joint index per COCO-18 point (nose, eyes, ears come from the landmarks)
COCO18_FROM_SMPL = {
    "neck": 12, "right_shoulder": 17, "right_elbow": 19, "right_wrist": 21,
    "left_shoulder": 16, "left_elbow": 18, "left_wrist": 20, "right_hip": 2,
    "right_knee": 5, "right_ankle": 8, "left_hip": 1, "left_knee": 4, "left_ankle": 7,
}  # fmt: skip


def render_clips(folder: Path) -> dict[str, tuple[list[np.ndarray], dict]]:
    """``p000_walk``-like ids -> (frames (320, 240, 3) BGR, ground truth)."""
    from hpt_data.sources.synthetic import SyntheticOptions, SyntheticSource
    from hpt_data.sources.synthetic.ground_truth import load_ground_truth
    from hpt_data.video import VideoReader

    options = SyntheticOptions(
        persons=3, clips_per_person=2, seconds=0.6, fps=5, width=240, height=320,
        actions=["walk", "wave"],
    )  # fmt: skip
    source = SyntheticSource(folder, options)
    out = {}
    for video in source.scan().videos:
        source.materialize(video)
        frames = [f.image for f in VideoReader(video.path).frames()]
        out[f"{video.person_id}_{video.action}"] = (frames, load_ground_truth(video.ground_truth))
    return out


def coco18(gt: dict, t: int) -> np.ndarray:
    """(18, 2) pixel points of frame ``t`` in COCO-18 order; NaN where not in the image."""
    from hpt_data.sources.deepfashion import COCO18

    names = [str(n) for n in gt["landmark_names"]]
    out = np.full((18, 2), np.nan)
    for i, name in enumerate(COCO18):
        if name in COCO18_FROM_SMPL:
            j = COCO18_FROM_SMPL[name]
            if gt["joints_in_image"][t, j]:
                out[i] = gt["joints2d"][t, j]
        elif name in names:
            out[i] = gt["landmarks2d"][t, names.index(name)]
    return out


def fashion_photo(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 176x256 (w x h) photo as PATN's crops are, and the points moved with it."""
    scale = 256 / image.shape[0]
    resized = cv2.resize(image, (round(image.shape[1] * scale), 256), interpolation=cv2.INTER_AREA)
    left = (resized.shape[1] - 176) // 2
    return resized[:, left : left + 176].copy(), points * scale - [left, 0]


def _points_text(points: np.ndarray) -> tuple[str, str]:
    """PATN's ``str(list(...))`` of the y and x columns, -1 for a missing point."""
    ys, xs = [], []
    for x, y in points:
        inside = np.isfinite(x) and 0 <= x < 176 and 0 <= y < 256
        ys.append(round(float(y)) if inside else -1)
        xs.append(round(float(x)) if inside else -1)
    return str(ys), str(xs)


def make_deepfashion(clips: dict, out: Path) -> None:
    # (clip, frame) per photo; items: p000 and p001 train, p002 test
    items = {
        "p000": ("WOMEN", "Blouses_Shirts", "00000001", "train"),
        "p001": ("MEN", "Denim", "00000002", "train"),
        "p002": ("WOMEN", "Dresses", "00000003", "test"),
    }
    views = [
        ("walk", 0, "01", "1front"),
        ("wave", 2, "02", "4full"),
        ("walk", 2, "03", "7additional"),
    ]
    names: dict[str, list[str]] = {"train": [], "test": []}
    rows: dict[str, list[str]] = {"train": [], "test": []}
    for person, (gender, category, item, split) in items.items():
        used = views if split == "test" else views[:2]
        for action, t, photo, view in used:
            frames, gt = clips[f"{person}_{action}"]
            image, points = fashion_photo(frames[t], coco18(gt, t))
            if person == "p001" and photo == "01":
                points[17] = np.nan  # a missing point (-1), as OpenPose leaves an unseen ear
            name = f"fashion{gender}{category}id{item}{photo}_{view}.jpg"
            (out / split).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / split / name), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            names[split].append(name)
            y, x = _points_text(points)
            rows[split].append(f"{name}: {y}: {x}")
    for split in ("train", "test"):
        (out / f"{split}.lst").write_text("".join(f"{n}\n" for n in names[split]))
        header = "name:keypoints_y:keypoints_x\n"
        text = header + "".join(f"{r}\n" for r in rows[split])
        (out / f"fasion-resize-annotation-{split}.csv").write_text(text)
        by_item: dict[str, list[str]] = {}
        for n in names[split]:
            by_item.setdefault(n.split("id", 1)[1][:8], []).append(n)
        pairs = [p for group in by_item.values() for p in permutations(group, 2)]
        if split == "test":
            pairs = pairs[:4]  # the published test list is a sample of the permutations
        csv_text = "from,to\n" + "".join(f"{a},{b}\n" for a, b in pairs)
        (out / f"fasion-resize-pairs-{split}.csv").write_text(csv_text)


def make_iper(clips: dict, out: Path) -> None:
    people = {"p000": "001", "p001": "002", "p002": "003"}
    actions = {"walk": "1", "wave": "2"}
    for person, number in people.items():
        for action, action_no in actions.items():
            folder = out / "images_HD" / number / "1" / action_no
            folder.mkdir(parents=True, exist_ok=True)
            for t, frame in enumerate(clips[f"{person}_{action}"][0]):
                square = frame[40:280]  # 240x240, as the HD frames are square
                cv2.imwrite(str(folder / f"{t:03d}.jpg"), square, [cv2.IMWRITE_JPEG_QUALITY, 85])
    (out / "train.txt").write_text("001/1/1\n001/1/2\n002/1/1\n002/1/2\n")
    (out / "val.txt").write_text("003/1/1\n003/1/2\n")

    def entry(name: str, source: str, self_range: list[int], cross: str, cross_range: list[int]):
        return {
            "source": [source, "002.jpg"],
            "view angle": [0, 45],
            "s_n": {"1": [source], "2": [source, "002.jpg"]},
            "mask": [],
            "novel view": False,
            "self_imitation": {"target": name, "range": self_range},
            "cross_imitation": {"target": cross, "range": cross_range},
            "flag": cross_range,
        }

    protocol = {
        "val": {
            "003/1/1": entry("003/1/1", "000.jpg", [0, 300], "001/1/2", [1, 2]),
            "003/1/2": entry("003/1/2", "001.jpg", [1, 2], "002/1/1", [0, 1]),
        }
    }
    (out / "iPER_protocol.json").write_text(json.dumps(protocol, indent=2) + "\n")


def make_human36m(clips: dict, out: Path) -> None:
    files = {
        "S1": [("p000_walk", "Greeting.54138969"), ("p000_wave", "Directions 1.54138969")],
        "S9": [("p001_walk", "Photo.55011271"), ("p001_wave", "Walking 1.54138969")],
        "S11": [("p002_walk", "Directions.54138969"), ("p002_wave", "Posing.55011271")],
    }
    for subject, videos in files.items():
        for clip, name in videos:
            path = out / subject / "Videos" / f"{name}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            frames = clips[clip][0]
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 50, (240, 320))
            for frame in frames:
                writer.write(frame)
            writer.release()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hpt-fixtures-") as tmp:
        clips = render_clips(Path(tmp))
        for name, make in (
            ("deepfashion", make_deepfashion),
            ("iper", make_iper),
            ("human36m", make_human36m),
        ):
            out = HERE / name
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            make(clips, out)
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            print(f"{out}: {size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
