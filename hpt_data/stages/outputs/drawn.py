"""The outputs of the stages that draw each fitted frame: ``render-maps`` (:class:`Maps`,
one :class:`FrameMaps` per frame) and ``voxelize`` (:class:`Volumes`, one
:class:`FrameVolume` per frame). See :mod:`hpt_data.stages.outputs`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import INDEX, save_npz, write_json
from hpt_data.stages.outputs._common import (
    folder_of,
    load_arrays,
    need_arrays,
    parse_index,
    safe_name,
)
from hpt_data.stages.outputs._window import crop_window, fill_window

if TYPE_CHECKING:
    from hpt_data.render.maps import Maps as RenderedMaps


# --------------------------------------------------------------------------- render-maps, voxelize


@dataclass
class FittedFrame:
    """One fitted frame's entry in ``render-maps``' (and ``voxelize``'s) ``frames.json``:
    its row in ``fits.npz``, whether it was drawn, the drawing's flags and the file."""

    frame_id: str
    row: int
    ok: bool = False
    flags: list[str] = field(default_factory=list)
    reason: str | None = None  # why it was skipped, or the flags in words
    file: str | None = None  # maps/000012.npz (voxels/ for voxelize); None when skipped

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            data["frame_id"],
            data["row"],
            data["ok"],
            data["flags"],
            data.get("reason"),
            data["file"],
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VolumeFrame(FittedFrame):
    """A :class:`FittedFrame` of ``voxelize``, with its ``.binvox`` folder."""

    binvox: str | None = None  # binvox/000012 (body.binvox and one per part), or None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        base = FittedFrame.from_json(data)
        return cls(**base.__dict__, binvox=data.get("binvox"))


@dataclass
class FrameMaps:
    """One frame's ``maps/<frame_id>.npz``: the informative maps at each size (the first,
    the fine one, also with the layer boxes and complete part maps). Formats:
    ``docs/maps_and_volumes.md``."""

    parsing: dict[int, np.ndarray]  # size -> (size, size) uint8 part labels S
    depth: dict[int, np.ndarray]  # size -> (size, size) float16 camera z, metres; +inf off body
    joints2d: dict[int, np.ndarray]  # size -> (24, 2) float32 pixels (H is drawn from them)
    sigma: dict[int, np.float32]  # size -> the heatmaps' σ, pixels
    z_range: np.ndarray  # (2,) float32: the posed body's depth range, metres
    boxes: np.ndarray  # (5, 3) int32 [x0, y0, side] at the fine size, in LAYERS order
    part_masks: dict[str, np.ndarray]  # layer -> (n, n) bool, the complete part in its box
    part_depths: dict[str, np.ndarray]  # layer -> (n, n) float16
    # (29, 3) float32 at the fine size: joints then face points, x, y pixels, z metres; NaN
    # in a maps file drawn before keypoints existed
    keypoints: np.ndarray | None = None

    @classmethod
    def from_rendered(cls, maps: Sequence[RenderedMaps]) -> FrameMaps:
        """From ``hpt_data.render.maps.Maps`` at each size, the first with the layers; they
        must have no fatal flag. Shared by ``render-maps`` and the pose-transfer pipelines,
        so that both hand the model the same fields."""
        from hpt_data.render.boxes import LAYERS

        fine = maps[0]
        if not fine.boxes:
            raise ValueError("the first maps must hold the layer boxes and complete part maps")
        return cls(
            parsing={m.size: m.parsing for m in maps},
            depth={m.size: _half_depth(m.depth) for m in maps},
            joints2d={m.size: m.joints2d.astype(np.float32) for m in maps},
            sigma={m.size: np.float32(m.sigma) for m in maps},
            z_range=np.asarray(fine.z_range, np.float32),
            boxes=np.stack([fine.boxes[n] for n in LAYERS]).astype(np.int32),
            part_masks={n: fine.part_masks[n] for n in LAYERS},
            part_depths={n: _half_depth(fine.part_depths[n]) for n in LAYERS},
            keypoints=_keypoints(fine.keypoints),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for size in self.parsing:
            arrays[f"parsing_{size}"] = self.parsing[size]
            arrays[f"depth_{size}"] = self.depth[size]
            arrays[f"joints2d_{size}"] = self.joints2d[size]
            arrays[f"sigma_{size}"] = self.sigma[size]
        arrays["z_range"] = self.z_range
        arrays["boxes"] = self.boxes
        arrays["keypoints"] = _keypoints(self.keypoints)
        for name in self.part_masks:
            arrays[f"part_mask_{name}"] = self.part_masks[name]
            arrays[f"part_depth_{name}"] = self.part_depths[name]
        return arrays

    @classmethod
    def read(cls, path: Path) -> FrameMaps:
        arrays = load_arrays(path, "render-maps")
        sizes = sorted(
            (int(k.split("_")[1]) for k in arrays if k.startswith("parsing_")), reverse=True
        )
        layers = [k[len("part_mask_") :] for k in arrays if k.startswith("part_mask_")]
        keys = [f"{f}_{s}" for s in sizes for f in ("parsing", "depth", "joints2d", "sigma")]
        keys += ["z_range", "boxes", *(f"part_depth_{n}" for n in layers)]
        need_arrays(arrays, keys, path)
        for s in sizes:  # the body's window (files since the window format), back to the full frame
            if f"window_{s}" in arrays:
                window = arrays[f"window_{s}"]
                arrays[f"parsing_{s}"] = _filled(arrays[f"parsing_{s}"], window, 0, path)
                arrays[f"depth_{s}"] = _filled(arrays[f"depth_{s}"], window, np.inf, path)
        for n in layers:
            if f"part_window_{n}" in arrays:
                window = arrays[f"part_window_{n}"]
                arrays[f"part_mask_{n}"] = _filled(arrays[f"part_mask_{n}"], window, False, path)
                arrays[f"part_depth_{n}"] = _filled(arrays[f"part_depth_{n}"], window, np.inf, path)
        return cls(
            parsing={s: arrays[f"parsing_{s}"] for s in sizes},
            depth={s: arrays[f"depth_{s}"] for s in sizes},
            joints2d={s: arrays[f"joints2d_{s}"] for s in sizes},
            sigma={s: arrays[f"sigma_{s}"][()] for s in sizes},
            z_range=arrays["z_range"],
            boxes=arrays["boxes"],
            part_masks={n: arrays[f"part_mask_{n}"] for n in layers},
            part_depths={n: arrays[f"part_depth_{n}"] for n in layers},
            keypoints=_keypoints(arrays.get("keypoints")),
        )

    def write(self, path: Path) -> None:
        """The arrays, S and D as the body's window at each size (``window_<size>``:
        origin and full shape; :mod:`hpt_data.stages.outputs._window`), each part map
        as its part's window in its box (``part_window_<layer>``)."""
        arrays = self.to_arrays()
        for size in self.parsing:
            parsing, depth = self.parsing[size], self.depth[size]
            box, window = crop_window([parsing, depth], [0, np.inf])
            arrays[f"parsing_{size}"], arrays[f"depth_{size}"] = parsing[box], depth[box]
            arrays[f"window_{size}"] = window
        for name in self.part_masks:  # and each complete part map in its box
            mask, depth = self.part_masks[name], self.part_depths[name]
            box, window = crop_window([mask, depth], [False, np.inf])
            arrays[f"part_mask_{name}"], arrays[f"part_depth_{name}"] = mask[box], depth[box]
            arrays[f"part_window_{name}"] = window
        save_npz(path, arrays, level=1)

    def shard_fields(self) -> dict[str, np.ndarray]:
        """The shard fields of these maps (``hpt_data.shards.schema``): parsing, depth,
        their 512 versions, joints2d, part_boxes and the complete part maps, in the
        schema's dtypes (the maps' own arrays where they have them already: the writer only
        reads them, and a 1024² copy per map is memory traffic two writers share)."""
        from hpt_data.shards.schema import COARSE, CROP, PART_LAYERS

        fields = {
            "parsing": self.parsing[CROP].astype(np.uint8, copy=False),
            "depth": _shard_depth(self.depth[CROP]),
            "parsing_512": self.parsing[COARSE].astype(np.uint8, copy=False),
            "depth_512": _shard_depth(self.depth[COARSE]),
            "joints2d": self.joints2d[CROP].astype(np.float32, copy=False),
            "keypoints": _keypoints(self.keypoints),
            "part_boxes": self.boxes.astype(np.int32, copy=False),
        }
        for layer in PART_LAYERS:
            fields[f"layer_mask_{layer}"] = self.part_masks[layer].astype(np.uint8, copy=False)
            fields[f"layer_depth_{layer}"] = _shard_depth(self.part_depths[layer])
        return fields


def _half_depth(depth: np.ndarray) -> np.ndarray:
    """``depth.astype(float16)``, converting only the window of its non-``+inf`` values
    (numpy converts to float16 one value at a time; the body is a quarter of the frame)."""
    box, window = crop_window([depth], [np.inf])
    return fill_window(depth[box].astype(np.float16), window, np.inf)


def _filled(block: np.ndarray, window: np.ndarray, background: float, path: Path) -> np.ndarray:
    """A windowed array back to its full shape; StageError when the window does not fit."""
    try:
        return fill_window(block, window, background)
    except ValueError as exc:
        raise StageError(f"{path}: {exc}") from None


def _keypoints(points: np.ndarray | None) -> np.ndarray:
    """(NUM_KEYPOINTS, 3) float32 as the shards store them; rows a drawing lacks (only the
    24 joints given, or a maps file from before keypoints) are NaN."""
    from hpt_data.shards.schema import NUM_KEYPOINTS

    out = np.full((NUM_KEYPOINTS, 3), np.nan, np.float32)
    if points is not None:
        p = np.asarray(points, np.float32)[:NUM_KEYPOINTS]
        out[: len(p)] = p
    return out


def _shard_depth(depth: np.ndarray) -> np.ndarray:
    """Depth as the schema stores it: float16 metres, +inf on the background. Camera-frame
    z of a weak-perspective fit is relative to the body (it can be 0 or negative), so no
    finite value can mark the background."""
    depth = np.asarray(depth)
    if depth.dtype == np.float16:  # as the maps files hold it: fix the bits, no float32 trip
        out = depth.copy()
        bits = out.view(np.uint16)
        # exponent all ones and not +inf (0x7C00): NaN or -inf
        bits[((bits & 0x7C00) == 0x7C00) & (bits != 0x7C00)] = 0x7C00
        return out
    depth = np.asarray(depth, np.float32)
    return np.where(np.isfinite(depth), depth, np.inf).astype(np.float16)


@dataclass
class Maps:
    """``render-maps``: ``frames.json`` (one :class:`FittedFrame` per row of ``fits.npz``)
    and a :class:`FrameMaps` file per drawn frame."""

    STAGE: ClassVar[str] = "render-maps"

    sizes: list[int]  # the resolutions drawn, fine first
    layers: list[str]  # the part layers, in the order of FrameMaps.boxes
    frames: list[FittedFrame]
    folder: Path | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def file_for(fid: str) -> str:
        return f"maps/{safe_name(fid)}.npz"

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path | None = None) -> Maps:
        frames = [FittedFrame.from_json(e) for e in data["frames"]]
        return cls(data["sizes"], data["layers"], frames, folder)

    @classmethod
    def read(cls, folder: Path) -> Maps:
        return parse_index(cls, folder)

    def write(self, folder: Path) -> None:
        """``frames.json`` (the frames' maps are written one by one as they are drawn)."""
        write_json(
            Path(folder) / INDEX,
            {
                "sizes": self.sizes,
                "layers": self.layers,
                "frames": [f.to_json() for f in self.frames],
            },
        )

    def by_frame_id(self) -> dict[str, FittedFrame]:
        return {f.frame_id: f for f in self.frames}

    def maps(self, frame: FittedFrame) -> FrameMaps:
        """The frame's maps; StageError when it has none or its file cannot be read."""
        if not frame.file:
            raise StageError(f"{folder_of(self, 'Maps')}: frame {frame.frame_id} has no maps")
        return FrameMaps.read(folder_of(self, "Maps") / frame.file)


@dataclass
class FrameVolume:
    """One frame's ``voxels/<frame_id>.npz``: the posed body as part labels on a
    (Z, Y, X) = (64, 256, 256) grid, x and y the fine crop at 1/4, projected as
    render-maps' pixels; bin k spans ``z0 + [k, k+1)·dz`` metres of camera z."""

    labels: np.ndarray  # (Z, Y, X) uint8 part labels
    z0: float  # metres
    dz: float  # metres per bin
    camera: np.ndarray  # (3,) float64 (s, tx, ty), the fit's
    camera_distance: float  # metres to the pelvis (0 = weak perspective)
    ref_z: float  # the pelvis's depth, metres

    @classmethod
    def read(cls, path: Path) -> FrameVolume:
        arrays = load_arrays(path, "voxelize")
        keys = ("labels", "z0", "dz", "camera", "camera_distance", "ref_z")
        need_arrays(arrays, keys, path)
        labels = arrays["labels"]
        if "labels_window" in arrays:  # the body's window (files since the window format)
            labels = _filled(labels, arrays["labels_window"], 0, path)
        return cls(
            labels=labels,
            z0=float(arrays["z0"]),
            dz=float(arrays["dz"]),
            camera=arrays["camera"],
            camera_distance=float(arrays["camera_distance"]),
            ref_z=float(arrays["ref_z"]),
        )

    def write(self, path: Path) -> None:
        """The arrays, the labels as the body's window (``labels_window``: origin and full
        shape; :mod:`hpt_data.stages.outputs._window`)."""
        labels = np.asarray(self.labels, np.uint8)
        box, window = crop_window([labels], [0])
        save_npz(
            path,
            {
                "labels": labels[box],
                "labels_window": window,
                "z0": np.float64(self.z0),
                "dz": np.float64(self.dz),
                "camera": np.asarray(self.camera, np.float64),
                "camera_distance": np.float64(self.camera_distance),
                "ref_z": np.float64(self.ref_z),
            },
            level=1,
        )


@dataclass
class Volumes:
    """``voxelize``: ``frames.json`` (one :class:`VolumeFrame` per row of ``fits.npz``)
    and a :class:`FrameVolume` file per voxelized frame."""

    STAGE: ClassVar[str] = "voxelize"

    shape: list[int]  # [Z, Y, X] of every volume
    frames: list[VolumeFrame]
    folder: Path | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def file_for(fid: str) -> str:
        return f"voxels/{safe_name(fid)}.npz"

    @staticmethod
    def binvox_for(fid: str) -> str:
        return f"binvox/{safe_name(fid)}"

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path | None = None) -> Volumes:
        return cls(data["shape"], [VolumeFrame.from_json(e) for e in data["frames"]], folder)

    @classmethod
    def read(cls, folder: Path) -> Volumes:
        return parse_index(cls, folder)

    def write(self, folder: Path) -> None:
        """``frames.json`` (the volumes are written one by one as they are made)."""
        write_json(
            Path(folder) / INDEX,
            {"shape": self.shape, "frames": [f.to_json() for f in self.frames]},
        )

    def by_frame_id(self) -> dict[str, VolumeFrame]:
        return {f.frame_id: f for f in self.frames}

    def volume(self, frame: FittedFrame) -> FrameVolume:
        """The frame's volume; StageError when it has none or its file cannot be read."""
        if not frame.file:
            raise StageError(f"{folder_of(self, 'Volumes')}: frame {frame.frame_id} has no volume")
        return FrameVolume.read(folder_of(self, "Volumes") / frame.file)
