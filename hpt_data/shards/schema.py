"""The HDF5 shard schema: what one training frame holds, field by field.

This module is the one piece of ``hpt_data`` that ``hpt_model`` imports, so it needs only
numpy (and h5py where files are touched). Bump ``SCHEMA_VERSION`` on any change to a
field's name, shape, dtype or meaning; readers refuse other versions.

A shard ``<split>-<nnnnn>.h5`` stores N frames; every field but the encoded images is a
dataset whose first axis is the frame, chunked one frame per chunk so that random access
reads one frame. Array fields carry HDF5's Fletcher-32 checksum per chunk, so a flipped
bit fails the read of that chunk; an encoded image field holds its frames' JPEG bytes end
to end in one flat uint8 dataset (each frame's ``(offset, length)`` in ``<name>_spans``,
Fletcher-32), and each image has its CRC-32 in ``<name>_crc32``, checked by the reader.

Array maps are compressed with Blosc (byte shuffle; BloscLZ for the labels, masks and
volume, LZ4 for the float16 depth maps, LZ4HC until 2026-12-06: each chunk names its codec;
HDF5 filter 32001, registered by ``hdf5plugin``): labels and masks shrink by one to two
orders of magnitude, as with HDF5's ``lzf``, but decode 5-15x faster (about 0.2 ms for a
1024² map here, against 2-4 ms), which is what a training loader pays on every frame
(docs/shards.md, "Measured"). The codecs are not part of the version: they change the
bytes of a shard, never the values it reads back.

Versions: 1 stored the same arrays with ``lzf``; 2 stores them with Blosc and adds
``camera_distance`` (fit-smpl's perspective about the pelvis); 3 adds the pairs a set stores
per split, beside the shards (``hpt_data.shards.pairs``; a version-1 or 2 set stores none); 4
adds ``keypoints`` (the target 3D pose: SMPL's joints and five face points, with their depth);
5 stores the text fields as fixed-length UTF-8 (:data:`TEXT_BYTES`) in Fletcher-32 chunks
like the arrays, where 1-4 kept them as variable-length strings in HDF5's global heap,
which has no checksum: a flipped byte there read back as another id, and a damaged string
size made HDF5 itself loop forever while reading the column (docs/shards.md); 6 stores the
encoded images flat with their spans (:data:`IMAGE_CHUNK_BYTES`), where 1-5 kept each as a
variable-length array in that heap: one changed byte of a heap collection's size made HDF5
spin for minutes at the first image read, with no error. A version-6 shard has no global
heap at all.
HDF5 undoes either filter by itself, so the reader reads all (``READABLE_VERSIONS``): a field
newer than a shard (``Field.since``) reads as its ``Field.default``, which for
``camera_distance`` (0, weak perspective) is exactly how version-1 fits were made, and for
``keypoints`` NaN (the model refuses those shards in one line). The writer writes 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

SCHEMA_VERSION = 6
# 1: lzf, no camera_distance; 1-2: no stored pairs; 1-3: no keypoints; 1-4: text in the heap;
# 1-5: images in the heap
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)
#: The first version whose encoded images are flat bytes with spans (not in HDF5's heap)
FLAT_IMAGES_SINCE = 6
#: Chunk of an image field's flat bytes (version 6 on): a 1024² JPEG (about 80 KB for the
#: synthetic people) reads from 2-3 of them, with less than a chunk of its neighbours'
#: bytes on each side
IMAGE_CHUNK_BYTES = 1 << 16
#: The UTF-8 bytes a text field holds (version 5 on): fixed-length, in checksummed chunks
TEXT_BYTES = 256
CROP = 1024  # the person crop of the fine stage
COARSE = 512  # the coarse stage
VOXELS = (64, 256, 256)  # (z, y, x): DESIGN.md's grid, x/y at 1/4 of the crop
NUM_JOINTS = 24  # SMPL's kinematic joints: the heatmaps H are rendered from these
# Face points after the joints in ``keypoints``: the body model's landmark vertices
# (hpt_data.body.BodyModel.landmark_vertex_ids), so the face layer's H has a head-orientation cue
FACE_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
NUM_KEYPOINTS = NUM_JOINTS + len(FACE_KEYPOINTS)
NUM_LANDMARKS = 33  # MediaPipe Pose
NUM_BETAS = 10
PART_LAYERS = ("face", "left_arm", "right_arm", "left_leg", "right_leg")
PART_LAYER_SIZE = {
    "face": 128,
    "left_arm": 256,
    "right_arm": 256,
    "left_leg": 512,
    "right_leg": 512,
}
HEATMAP_SIGMA_1024 = 24.0  # σ (pixels) of the pose heatmaps H at 1024, scaled with the size
NUM_LABELS = 7  # 0 background, 1 head, 2 torso, 3 left arm, 4 right arm, 5 left leg, 6 right leg

Codec = Literal["raw", "blosc", "jpeg", "png", "text"]


@dataclass(frozen=True)
class Field:
    """One per-frame field: its shape (without the frame axis), dtype and storage."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    codec: Codec
    doc: str
    max_value: int | None = None  # labels: every value must be <= this
    since: int = 1  # the first schema version that stores it
    default: float | None = None  # its value when read from an older shard (since > 1)

    @property
    def encoded(self) -> bool:
        """Not a numeric array: an image file's bytes (flat with spans since version 6,
        variable-length before) or UTF-8 text (fixed-length since version 5,
        variable-length before)."""
        return self.codec in ("jpeg", "png", "text")


def _layer_fields() -> list[Field]:
    out = []
    for layer in PART_LAYERS:
        size = PART_LAYER_SIZE[layer]
        out.append(
            Field(
                f"layer_mask_{layer}",
                (size, size),
                "uint8",
                "blosc",
                f"complete {layer} map: that part rendered alone (1 = part)",
                1,
            )
        )
        out.append(
            Field(
                f"layer_depth_{layer}",
                (size, size),
                "float16",
                "blosc",
                f"complete {layer} depth, metres; +inf off the part",
            )
        )
    return out


FIELDS: tuple[Field, ...] = (
    # ids
    Field("video_id", (), "str", "text", "video id in the dataset"),
    Field("person_id", (), "str", "text", "person id; training pairs share it"),
    Field("frame_id", (), "str", "text", "frame name within the video"),
    Field("source", (), "str", "text", "registered source that listed the video"),
    Field("time_s", (), "float64", "raw", "time stamp of the frame in the source video"),
    # images and maps at the fine scale
    Field("image", (CROP, CROP, 3), "uint8", "jpeg", "person over the plain background, RGB"),
    Field("mask", (CROP, CROP), "uint8", "blosc", "person mask from remove-bg (1 = person)", 1),
    Field("parsing", (CROP, CROP), "uint8", "blosc", "S: part labels 0..6", NUM_LABELS - 1),
    Field(
        "depth",
        (CROP, CROP),
        "float16",
        "blosc",
        "D: camera-frame z in metres (may be negative); +inf = background",
    ),
    Field(
        "parsing_512", (COARSE, COARSE), "uint8", "blosc", "S at the coarse scale", NUM_LABELS - 1
    ),
    Field(
        "depth_512",
        (COARSE, COARSE),
        "float16",
        "blosc",
        "D at the coarse scale; +inf = background",
    ),
    # pose
    Field(
        "joints2d",
        (NUM_JOINTS, 2),
        "float32",
        "raw",
        "projected SMPL joints, crop pixels (H is rendered from these)",
    ),
    Field(
        "keypoints",
        (NUM_KEYPOINTS, 3),
        "float32",
        "raw",
        "target 3D pose: SMPL's 24 joints then nose, left/right eye, left/right ear (model "
        "vertices); x, y crop pixels (as joints2d), z camera-frame metres (as depth)",
        since=4,
        default=float("nan"),
    ),
    Field(
        "landmarks",
        (NUM_LANDMARKS, 3),
        "float32",
        "raw",
        "MediaPipe Pose landmarks: x, y crop pixels (integer centres), visibility",
    ),
    Field("betas", (NUM_BETAS,), "float32", "raw", "SMPL shape"),
    Field("global_orient", (3,), "float32", "raw", "axis-angle, camera frame"),
    Field("body_pose", (69,), "float32", "raw", "axis-angle of joints 1..23"),
    Field("camera", (3,), "float32", "raw", "(s, tx, ty): weak perspective at the pelvis plane"),
    Field(
        "camera_distance",
        (),
        "float32",
        "raw",
        "metres from the camera to the pelvis of fit-smpl's perspective about the pelvis "
        "(hpt_data.body.weak_perspective); 0 = pure weak perspective",
        since=2,
        default=0.0,
    ),
    # part layers
    Field(
        "part_boxes",
        (len(PART_LAYERS), 3),
        "int32",
        "raw",
        "[x0, y0, size] of each part layer crop, crop pixels",
    ),
    *_layer_fields(),
    # volume
    Field("voxels", VOXELS, "uint8", "blosc", "part labels on the (z, y, x) grid", NUM_LABELS - 1),
    Field("voxel_z", (2,), "float32", "raw", "z0 and dz: depth of bin k is z0 + (k + 0.5) dz"),
)

FIELD_BY_NAME = {f.name: f for f in FIELDS}
ENCODED_IMAGES = tuple(f.name for f in FIELDS if f.codec in ("jpeg", "png"))


def crc_name(field_name: str) -> str:
    """The dataset holding the CRC-32 of each encoded image of ``field_name``."""
    return f"{field_name}_crc32"


def spans_name(field_name: str) -> str:
    """The dataset holding each frame's ``(offset, length)`` in the flat bytes of the
    encoded image field ``field_name`` (version 6 on), shape (N, 2) uint64."""
    return f"{field_name}_spans"


def text_problem(value: str) -> str | None:
    """Why a text field cannot hold ``value`` (over :data:`TEXT_BYTES` UTF-8 bytes, or a
    NUL, which fixed-length storage drops), or None when it can."""
    size = len(value.encode("utf-8"))
    if size <= TEXT_BYTES and "\0" not in value:
        return None
    return (
        f"{value[:40]!r}... is {size} UTF-8 bytes; a shard's text field holds {TEXT_BYTES} "
        "UTF-8 bytes and no NUL"
    )


def check_record(record: dict[str, object]) -> None:
    """Raise ``ValueError`` naming the first field that is missing or malformed."""
    missing = [f.name for f in FIELDS if f.name not in record]
    if missing:
        raise ValueError(f"record lacks field(s): {', '.join(missing)}")
    extra = sorted(set(record) - set(FIELD_BY_NAME))
    if extra:
        raise ValueError(f"record has unknown field(s): {', '.join(extra)}")
    for f in FIELDS:
        value = record[f.name]
        if f.dtype == "str":
            if not isinstance(value, str):
                raise ValueError(f"{f.name}: expected str, got {type(value).__name__}")
            problem = text_problem(value)
            if problem:
                raise ValueError(f"{f.name}: {problem}")
            continue
        arr = np.asarray(value)
        if arr.shape != f.shape:
            raise ValueError(f"{f.name}: expected shape {f.shape}, got {arr.shape}")
        if arr.dtype != np.dtype(f.dtype):
            raise ValueError(f"{f.name}: expected dtype {f.dtype}, got {arr.dtype}")
        if f.max_value is not None and arr.size and int(arr.max()) > f.max_value:
            raise ValueError(f"{f.name}: value {int(arr.max())} above {f.max_value}")
