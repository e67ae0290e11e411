"""Pose transfer of one photo (§III): source photo + target pose(s) → generated images.

:func:`transfer_poses` is the loop shared by ``hpt transfer`` (one pose) and ``hpt motion``
(a sequence): per target pose, the target maps are rendered with the source's shape and
camera (:mod:`pipelines.pairs`), the pairs are batched in the PairDataset format, and
:func:`hpt_model.inference.run_transfer` runs coarse → part layers → fusion (Ours-S, or
Ours-V with ``volume``). :func:`save_transfer` writes the result and, on request, every
intermediate as PNGs plus a contact sheet (``docs/pipelines.md`` lists them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hpt_model.checkpoints import Generators
from hpt_model.inference import TransferOutput, iterate_batches, run_transfer, to_uint8
from pipelines.pairs import RenderedPose, body_model, make_item, source_fields, target_fields
from pipelines.perceive import Perception
from pipelines.targets import PoseSequence

PART_ORDER = ("face", "left_arm", "right_arm", "left_leg", "right_leg")


@dataclass
class TransferResult:
    """One generated image and what made it (tensors of batch size 1, on the CPU)."""

    image: np.ndarray  # (F, F, 3) uint8 RGB: the final result I_t at the fine size
    output: TransferOutput
    source_maps: RenderedPose  # the source's fit, rendered (its S, boxes)
    target_maps: RenderedPose  # the source's shape in the target pose (S, D, joints, boxes)
    label: str  # which target pose


def _select(output: TransferOutput, i: int) -> TransferOutput:
    """Element ``i`` of a batched output, kept as a batch of one, on the CPU."""

    def one(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x[i : i + 1].detach().cpu()

    def maps(m: Any) -> Any:
        if m is None:
            return None
        return type(m)(**{k: one(v) for k, v in vars(m).items()})

    return TransferOutput(
        final=one(output.final),
        coarse=one(output.coarse),
        initial=one(output.initial),
        refinement=one(output.refinement),
        offsets={k: one(v) for k, v in output.offsets.items()},
        layers={k: one(v) for k, v in output.layers.items()},
        boxes={k: one(v) for k, v in output.boxes.items()},
        coarse_maps=maps(output.coarse_maps),
        fine_maps=maps(output.fine_maps),
        volume=maps(output.volume),
    )


def transfer_poses(
    source: Perception,
    poses: PoseSequence,
    gens: Generators,
    *,
    volume: bool = False,
    batch_size: int = 1,
    progress: bool = True,
) -> Iterator[TransferResult]:
    """Generate the source person in each pose of ``poses``, in order.

    The target maps of a batch are rendered on the CPU just before it runs, so memory stays
    at one batch. Raises HptError when a pose cannot be rendered in the source's frame.
    """
    from tqdm import tqdm

    body = body_model(source.body_model)
    src, src_maps = source_fields(source, body)
    orients = poses.orientations(source.global_orient)
    bar = tqdm(total=len(poses), desc="transfer", unit="pose", disable=not progress)
    try:
        for start in range(0, len(poses), batch_size):
            stop = min(start + batch_size, len(poses))
            items, rendered = [], []
            for i in range(start, stop):
                fields, maps = target_fields(
                    source, body, poses.body_pose[i], orients[i], poses.labels[i]
                )
                items.append(make_item(src, fields, i))
                rendered.append(maps)
            batch = next(iterate_batches(items, len(items)))
            output = run_transfer(gens, batch, volume=volume)
            images = to_uint8(output.final).numpy()
            for k, i in enumerate(range(start, stop)):
                yield TransferResult(
                    images[k], _select(output, k), src_maps, rendered[k], poses.labels[i]
                )
            bar.update(stop - start)
    finally:
        bar.close()


# --------------------------------------------------------------------------- saving


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., ::-1])


def _image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] → (H, W, 3) uint8 BGR."""
    return _bgr(to_uint8(x)[0].numpy())


def _offset(x: torch.Tensor, scale: float = 2.0) -> np.ndarray:
    """(1, 3, H, W) offset in [-scale, scale] → BGR, mid-grey = no change."""
    return _image(x / scale)


def intermediate_images(result: TransferResult, source: Perception) -> dict[str, np.ndarray]:
    """Every image worth looking at, by file stem, as (H, W, 3) uint8 BGR (see
    ``docs/pipelines.md``): the source and its parsing, the target maps the model used, the
    coarse result, each part's offset and layer, the fused image before refinement, the
    refinement offset, the result; with Ours-V also the volume's S and D."""
    from hpt_data.render.preview_maps import colour_depth, colour_heatmaps, colour_labels

    out = result.output
    tgt = result.target_maps.maps
    images: dict[str, np.ndarray] = {
        "source": _bgr(source.image),
        "source_parsing": colour_labels(result.source_maps.maps.parsing),
    }
    if out.fine_maps is not None:  # the maps as the model saw them, at the fine size
        labels = out.fine_maps.parsing[0].argmax(0).numpy()
        depth = out.fine_maps.depth[0, 0].numpy()
        depth = np.where(labels > 0, depth, np.inf)
        images["target_parsing"] = colour_labels(labels)
        images["target_depth"] = colour_depth(depth)
        images["target_heatmaps"] = colour_heatmaps(out.fine_maps.heatmaps[0].numpy(), labels)
    else:
        images["target_parsing"] = colour_labels(tgt.parsing)
        images["target_depth"] = colour_depth(tgt.depth)
    if out.volume is not None:
        images["volume_parsing"] = colour_labels(out.volume.parsing[0].numpy())
        images["volume_depth"] = colour_depth(out.volume.depth[0, 0].numpy())
    images["coarse"] = _image(out.coarse)
    for part in PART_ORDER:
        if part in out.offsets:
            images[f"offset_{part}"] = _offset(out.offsets[part])
            images[f"layer_{part}"] = _image(out.layers[part])
    if out.initial is not None:  # variants with part layers
        images["fused"] = _image(out.initial)
    if out.refinement is not None:  # variants with the fine generator
        images["refinement"] = _offset(out.refinement)
    images["result"] = _bgr(result.image)
    return images


def contact_sheet(images: dict[str, np.ndarray], tile: int = 256, columns: int = 6) -> np.ndarray:
    """The images side by side, each scaled into a ``tile`` square and captioned."""
    import cv2

    from hpt_data.drawing import caption
    from hpt_data.drawing import contact_sheet as sheet

    tiles = []
    for name, image in images.items():
        h, w = image.shape[:2]
        interp = cv2.INTER_AREA if max(h, w) > tile else cv2.INTER_NEAREST
        scaled = cv2.resize(image, (tile, round(tile * h / w)), interpolation=interp)
        square = np.full((tile, tile, 3), 48, np.uint8)
        y = (tile - scaled.shape[0]) // 2
        square[y : y + scaled.shape[0]] = scaled[:tile]
        tiles.append(caption(square, name))
    return sheet(tiles, columns=columns)


def save_transfer(
    result: TransferResult, source: Perception, out_dir: str | Path, intermediates: bool
) -> list[Path]:
    """Write ``result.png`` (the fine-size result) and, with ``intermediates``, every image of
    :func:`intermediate_images`, ``maps.npz`` (the target S, D at 1024, joints2d, part
    boxes) and ``sheet.png``. Returns the paths written."""
    out_dir = Path(out_dir)
    written = [write_png(out_dir / "result.png", _bgr(result.image))]
    if not intermediates:
        return written
    images = intermediate_images(result, source)
    for name, image in images.items():
        if name != "result":
            written.append(write_png(out_dir / f"{name}.png", image))
    fields = result.target_maps.fields
    maps_path = out_dir / "maps.npz"
    np.savez_compressed(
        maps_path,
        parsing=fields["parsing"],
        depth=fields["depth"],
        joints2d=fields["joints2d"],
        part_boxes=fields["part_boxes"],
        source_parsing=result.source_maps.fields["parsing"],
    )
    written.append(maps_path)
    written.append(write_png(out_dir / "sheet.png", contact_sheet(images)))
    return written


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 BGR image as PNG (folders made); HptError if it fails."""
    import cv2

    from hpt_data.errors import HptError

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise HptError(f"{path}: cannot write the image")
    return path
