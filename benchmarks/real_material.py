"""remove-bg's person finding on the real photographs the project ships (``tests/data/real``;
issue 17's "real single-person footage: no frame flagged for other people").

- *one-person clips*: each one-person photo (camera, astronaut) made into a clip by moving
  a window over it (``tests/real_material.pan``: the person is real, the motion is not),
  through sample-frames (every frame) and remove-bg (``person: main``, tracking; the
  edge-cut flag let through, the photos' people being cut by the frame): frames flagged
  ``several_people`` (must be none), frames where exactly one person is found, tracks, and
  frames whose kept box holds the hand-marked pixel on the person;
- *photos*: every shipped photo, the two-astronaut scene and the cameraman beside the
  astronaut, one image each through ``segment_person`` (what ``hpt transfer`` runs):
  people counted by hand against people found, whether the kept person's box and matte
  hold the hand-marked pixel, and flags.

The expectations (people, the performer's pixel) are hand-written in
``tests/real_material.py``. Writes ``benchmarks/results/real_material.json``.

Usage: ``python benchmarks/real_material.py [--frames 48]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the shipped photos' hand-written expectations

from real_material import (  # noqa: E402
    ASCENT,
    ASTRONAUT,
    BESIDE,
    CAMERA,
    SETTINGS,
    TWO,
    Photo,
    camera_beside_astronaut,
    image,
    in_box,
    pan_through_remove_bg,
    two_astronauts,
)

from hpt_data.perception.people import find_people  # noqa: E402
from hpt_data.stages.remove_bg import (  # noqa: E402
    segment_person,
)

RESULTS = ROOT / "benchmarks" / "results" / "real_material.json"
SIDE, SIZE = 448, 320  # pan window in the photo, frame side


def clip(photo: Photo, frames: int, work: Path) -> dict:
    """remove-bg on a pan over one one-person photo (see the module doc)."""
    crops, people, corners = pan_through_remove_bg(photo, work, frames, SIDE, SIZE)
    per_frame = np.bincount(people.frame_index, minlength=len(crops.frames))
    kept = 0
    for pos, entry in enumerate(crops.frames):
        row = int(people.kept[pos])
        if row >= 0:
            p = (np.array(photo.performer) - corners[entry.index]) * SIZE / SIDE
            kept += in_box((float(p[0]), float(p[1])), people.boxes[row])
    return {
        "frames": len(crops.frames),
        "several_people": sum("several_people" in e.flags for e in crops.frames),
        "one_person_found": int((per_frame == 1).sum()),
        "tracks": len(set(people.track.tolist())),
        "performer_kept": int(kept),
    }


def photo_figures(photo: Photo, img: np.ndarray) -> dict:
    """People found and the one kept on one image (see the module doc)."""
    found = find_people(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    seg = segment_person(img, SETTINGS)
    x, y = photo.performer
    box_ok = seg.box is not None and in_box(photo.performer, np.array(seg.box))
    matte_ok = seg.matte is not None and bool(seg.matte[y, x] >= 0.5)
    return {
        "people_by_hand": photo.people,
        "found": len(found),
        "performer_in_kept_box": box_ok,
        "performer_in_kept_matte": matte_ok,
        "flags": seg.flags,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=48, help="frames of each one-person pan")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    result: dict = {"clips": {}, "photos": {}}
    with tempfile.TemporaryDirectory(prefix="hpt-real-") as tmp:
        for photo in tqdm((CAMERA, ASTRONAUT), desc="one-person pans"):
            result["clips"][photo.file] = clip(photo, args.frames, Path(tmp) / photo.file)
    scenes = [(p, image(p.file)) for p in (CAMERA, ASTRONAUT, ASCENT)]
    scenes += [(TWO, two_astronauts()), (BESIDE, camera_beside_astronaut())]
    for photo, img in tqdm(scenes, desc="photos"):
        result["photos"][photo.file] = photo_figures(photo, img)
    clips = result["clips"].values()
    result["single"] = {
        "frames": sum(c["frames"] for c in clips),
        "several_people": sum(c["several_people"] for c in clips),
        "one_person_found": sum(c["one_person_found"] for c in clips),
        "performer_kept": sum(c["performer_kept"] for c in clips),
    }
    result["setup"] = {"frames_per_clip": args.frames, "window": SIDE, "size": SIZE}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| material | people by hand | found | performer kept | flagged several_people |")
    print("| --- | --- | --- | --- | --- |")
    for name, c in result["clips"].items():
        print(
            f"| {name}, pan of {c['frames']} frames | 1 | 1 in {c['one_person_found']} "
            f"frames | {c['performer_kept']} frames | {c['several_people']} frames |"
        )
    for name, r in result["photos"].items():
        kept = "box and matte" if r["performer_in_kept_matte"] else "box only"
        kept = kept if r["performer_in_kept_box"] else "no"
        several = "yes" if "several_people" in r["flags"] else "no"
        print(f"| {name} | {r['people_by_hand']} | {r['found']} | {kept} | {several} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
