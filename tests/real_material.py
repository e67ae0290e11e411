"""The real photographs the project ships (``tests/data/real``; sources and licences in its
README), what a person sees in each (counted and marked by hand, never by the code under
test), and the scenes built from them: two of them side by side, and clips made by moving
a window over one photo.

An importable module (not a test file): ``tests/test_real_material.py`` and
``benchmarks/real_material.py`` both read it.

Coordinates are pixels of the image as stored (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REAL = Path(__file__).resolve().parent / "data" / "real"


def _settings() -> Any:
    from hpt_data.stages.remove_bg import RemoveBgSettings

    return RemoveBgSettings(max_edge_cut=1.0)


#: remove-bg's settings for the real photos: ``several_people`` is the flag under test; the
#: photos' people are cut by the frame edge (a portrait, a man cut at the thighs), which is
#: another flag, so it is let through here.
SETTINGS = _settings()


@dataclass(frozen=True)
class Photo:
    """One shipped photo and what was seen in it by eye.

    Attributes
    ----------
    file : its name in ``tests/data/real``
    people : how many people a person counts in it
    performer : (x, y) a pixel on the person a dataset would want (the largest, most
        central one): their torso, or where it is hidden, what they carry on it
    others : (x0, y0, x1, y1) around each other person counted
    note : what makes it hard
    """

    file: str
    people: int
    performer: tuple[int, int]
    others: tuple[tuple[int, int, int, int], ...] = ()
    note: str = ""


CAMERA = Photo(
    "camera.png",
    people=1,
    performer=(100, 300),
    note="grey; a man in a dark coat bent over a tripod camera, face in profile behind it, "
    "cut at the thighs by the bottom edge; buildings far behind, nobody else",
)
ASTRONAUT = Photo(
    "astronaut.jpg",
    people=1,
    performer=(190, 380),
    note="colour portrait, upper body cut at the waist; flag, shuttle model and a helmet "
    "beside her, nobody else",
)
ASCENT = Photo(
    "ascent.png",
    people=2,
    performer=(470, 285),
    others=((150, 285, 208, 435),),
    note="grey, from below; a man with a backpack seen from behind at the right (legs "
    "hidden by the railing, cut by the right and bottom edges) and a smaller person "
    "climbing the stairs on the left, seen only between the railing's bars; a dark shape "
    "at the left edge near (10, 270) may be a third person, too little of it to count",
)

#: A pixel on the white shirt of :data:`ASCENT`'s man, below his backpack.
ASCENT_SHIRT = (440, 340)

#: The scene of :func:`two_astronauts`: the full-size photo in the middle, a half-size
#: mirrored copy at the bottom right. The performer is the large middle one.
TWO = Photo(
    "astronaut.jpg x2",
    people=2,
    performer=(256 + 190, 380),
    others=((768, 256, 1024, 512),),
    note="two upper bodies side by side, one half the size of the other",
)
#: A pixel on the torso of the small copy in :func:`two_astronauts` (its person 2 from the
#: left).
TWO_SMALL_TORSO = (768 + (512 - 190) // 2, 256 + 380 // 2)


#: The scene of :func:`camera_beside_astronaut`: two people about the same size, the
#: astronaut taken for the performer (the closer one: her face is the larger); the
#: cameraman's box, from his photo (x 0-512), around his coat, head and hands on the camera.
BESIDE = Photo(
    "camera.png + astronaut.jpg",
    people=2,
    performer=(512 + 190, 380),
    others=((0, 60, 340, 512),),
    note="the two one-person photos side by side; the cameraman in profile behind his camera",
)


def image(name: str) -> np.ndarray:
    """A shipped photo as (H, W, 3) uint8 BGR (grey photos repeated over the channels)."""
    path = REAL / name
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    return img


def two_astronauts() -> np.ndarray:
    """(512, 1024, 3) uint8 BGR: a grey canvas, the astronaut photo at full size in the
    middle (x 256-768) and mirrored at half size at the bottom right (x 768-1024, y
    256-512): two people, one clearly the main one."""
    ast = image(ASTRONAUT.file)
    canvas = np.full((512, 1024, 3), 200, np.uint8)
    canvas[:, 256:768] = ast
    canvas[256:512, 768:1024] = cv2.resize(ast[:, ::-1], (256, 256), interpolation=cv2.INTER_AREA)
    return canvas


def camera_beside_astronaut() -> np.ndarray:
    """(512, 1024, 3) uint8 BGR: the cameraman photo (x 0-512) beside the astronaut's (x
    512-1024): two people, about the same size."""
    return np.hstack([image(CAMERA.file), image(ASTRONAUT.file)])


def pan(
    img: np.ndarray, frames: int = 12, side: int = 448, size: int = 320
) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """A clip from one photo: a ``side``² window moving from the left edge (halfway down)
    to the top right corner, each view resized to ``size``² (a camera pan and a slight
    zoom out of a still scene: the person is real, the motion is not).

    Returns the frames ((size, size, 3) uint8 BGR) and each window's top-left corner, so
    a point p of the photo is at ``(p - corner) * size / side`` in the frame.
    """
    h, w = img.shape[:2]
    if side > min(h, w):
        raise ValueError(f"window {side} larger than the {w}x{h} photo")
    out, corners = [], []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        x, y = round(t * (w - side)), round((1 - t) * (h - side) / 2)
        view = img[y : y + side, x : x + side]
        out.append(cv2.resize(view, (size, size), interpolation=cv2.INTER_AREA))
        corners.append((x, y))
    return out, corners


def in_box(point: tuple[float, float], box: np.ndarray) -> bool:
    """Whether (x, y) lies inside an (x0, y0, x1, y1) box."""
    x, y = point
    return bool(box[0] <= x <= box[2] and box[1] <= y <= box[3])


def pan_through_remove_bg(
    photo: Photo, work: Path, frames: int = 12, side: int = 448, size: int = 320
) -> tuple[Any, Any, list[tuple[int, int]]]:
    """sample-frames and remove-bg (:data:`SETTINGS`) on a :func:`pan` over ``photo``,
    in ``work`` (made): remove-bg's ``Crops`` and ``People`` and the pan's corners."""
    from frames_for_tests import write_video

    from hpt_data.sources.base import VideoRecord
    from hpt_data.stages.base import StageContext
    from hpt_data.stages.outputs import Crops
    from hpt_data.stages.outputs.people import People
    from hpt_data.stages.remove_bg import RemoveBackground
    from hpt_data.stages.sample_frames import SampleFrames, SampleFramesSettings

    views, corners = pan(image(photo.file), frames, side, size)
    work.mkdir(parents=True, exist_ok=True)
    record = VideoRecord("real", "p", "test", str(write_video(work / "clip.mp4", views)))
    f, rb = work / "f", work / "rb"
    f.mkdir()
    rb.mkdir()
    SampleFrames(SampleFramesSettings(mode="stride")).run(StageContext(record, {}, f))
    RemoveBackground(SETTINGS).run(StageContext(record, {"sample-frames": f}, rb))
    return Crops.read(rb), People.read(rb), corners
