"""The per-frame skeleton that ``render-maps`` and ``voxelize`` share: plan which fitted
frames to draw (and which a previous output already holds), load the fits' body model, and
pose it frame by frame.

Both stages read ``fit-smpl``'s :class:`~hpt_data.stages.outputs.Fits` and index their
outputs by the same :class:`~hpt_data.stages.outputs.FittedFrame` entries; only what they
make of a posed mesh differs.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hpt_data.errors import HptError, StageError
from hpt_data.render.mesh_checks import FLAG_TEXT
from hpt_data.stages._frames_io import PreviousOutput
from hpt_data.stages.outputs import Fits, FittedFrame, safe_name

__all__ = ["body_model_for", "flag_reason", "forget_poses", "plan_frames", "posed_frames"]

E = TypeVar("E", bound=FittedFrame)
_MODELS: dict[str, Any] = {}


def body_model_for(fits: Fits, folder: Path | None = None) -> Any:
    """The fits' body model (cached per process): the built-in one or an SMPL file."""
    from hpt_data.body import load_body_model

    nb = max(1, int(fits.betas.size))
    key = f"{fits.body_model}:{nb}"
    if key not in _MODELS:
        path = None if fits.body_model in ("", "builtin") else fits.body_model
        try:
            _MODELS[key] = load_body_model(path, num_betas=nb)
        except (ValueError, HptError) as exc:
            where = folder / Fits.ARRAYS if folder is not None else Fits.ARRAYS
            raise StageError(f"{where}: cannot load its body model ({exc})") from None
    return _MODELS[key]


def posed_frames(fits: Fits, rows: list[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(row, vertices (V, 3) float64, joints (24, 3) float64)`` for ``rows``.

    One body-model call per frame, not per batch: batched matrix products round differently
    with the batch's size on some CPUs, and a frame redone alone (``ctx.previous`` lost its
    file) must come out bit-identical to the first run. Posing is ~7 ms a frame; both
    stages pose the same frames, so the last ``POSED_CACHE`` poses are kept per process
    (float32, as the model returns them): when ``voxelize`` follows ``render-maps`` in one
    process (``build --fuse-stages``, the chain benchmark) it takes theirs, identical.
    Posing runs on one torch thread: the vertices' last bits change with the thread count
    (a Ray worker has one, a local build the machine's), and with them pixels on an edge."""
    import torch

    from hpt_data.fitting.runtime import torch_threads

    model = body_model_for(fits)
    betas = torch.as_tensor(fits.betas[None]) if fits.betas.size else None
    for row in rows:
        key = _pose_key(fits, row)
        hit = _POSED.get(key)
        if hit is None:
            with torch.no_grad(), torch_threads(1):
                out = model(
                    betas=betas,
                    body_pose=torch.as_tensor(fits.body_pose[row : row + 1]),
                    global_orient=torch.as_tensor(fits.global_orient[row : row + 1]),
                )
            hit = (out.vertices[0].numpy().copy(), out.joints[0].numpy().copy())
            _POSED[key] = hit
            while len(_POSED) > POSED_CACHE:
                _POSED.popitem(last=False)
        else:
            _POSED.move_to_end(key)
        yield row, hit[0].astype(np.float64), hit[1].astype(np.float64)


#: Poses kept per process (each ~160 KB for the 13k-vertex body: 256 are ~40 MB).
POSED_CACHE = 256
_POSED: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()


def forget_poses() -> None:
    """Empty the per-process poses (a benchmark timing ``render-maps`` again in one
    process, which would otherwise find its own poses of the run before)."""
    _POSED.clear()


def _pose_key(fits: Fits, row: int) -> bytes:
    """What the body model's output depends on: the model, the shape and the row's pose."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{fits.body_model}:{fits.betas.size}:{fits.betas.dtype}".encode())
    for a in (fits.betas, fits.body_pose[row], fits.global_orient[row]):
        arr = np.ascontiguousarray(a)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.digest()


def flag_reason(flags: list[str]) -> str | None:
    """The drawing flags in words (``hpt_data.render.mesh_checks``), or None."""
    return "; ".join(FLAG_TEXT.get(f, f) for f in flags) or None


def plan_frames(
    fits: Fits,
    previous: PreviousOutput,
    out_dir: Path,
    reuse: Callable[[E, str], bool],
    kind: type[E],
) -> tuple[list[E], list[int]]:
    """The index entry (a ``kind``) of every fitted frame, and the rows still to compute.

    A frame whose fit failed is recorded with the fit's reason; one whose files ``reuse``
    (the stage's own rule, given the previous entry and the frame id) took from the
    previous output keeps its old entry and preview; the others are to compute.
    """
    old = {e.frame_id: e for e in _previous_entries(previous, kind)}
    entries: list[E] = []
    todo: list[int] = []
    for row, fid in enumerate(fits.frame_ids):
        entry = kind(frame_id=fid, row=row)
        prev = old.get(fid)
        if not fits.ok[row]:
            entry.reason = f"fit-smpl: {fits.flag[row] or 'not ok'}"
        elif prev is not None and reuse(prev, fid):
            entry = prev
            previous.reuse(f"preview/{safe_name(fid)}.png", out_dir)
        else:
            todo.append(row)
        entries.append(entry)
    return entries, todo


def _previous_entries(previous: PreviousOutput, kind: type[E]) -> list[E]:
    """The previous output's index entries; none when it has no readable index."""
    try:
        return [kind.from_json(e) for e in (previous.index or {}).get("frames", [])]
    except (KeyError, TypeError, AttributeError):
        return []
