"""Target poses for pose transfer: from an SMPL pose file, a video processed by hpt-data, or
a built-in named pose or motion; and their temporal smoothing for motion videos.

A :class:`PoseSequence` holds T SMPL poses (joints 1..23, axis-angle) and how to orient the
body (``orient``):

- ``absolute``: ``global_orient`` is in the camera frame (x right, y down, z away; upright
  facing the camera ≈ (π, 0, 0)), as ``fit-smpl`` writes it: a pose file or a video;
- ``relative``: ``global_orient`` is a motion's root rotation relative to its first frame
  (``R_0⁻¹ · R_t``), applied as ``R_source · R_0⁻¹ · R_t``, so the person keeps the
  source's facing and turns as the motion turns (the built-in motions are in the body
  model's world frame, not a camera's);
- ``source``: no orientation of its own; the source's is kept (the named poses, a pose file
  without ``global_orient``).

The shape and the camera are never the target's: §III-B renders the *source's* shape in the
target pose, with the source's camera and camera distance (see :mod:`pipelines.pairs`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hpt_data.errors import HptError

DEFAULT_FPS = 25.0
ORIENT_MODES = ("absolute", "relative", "source")
POSE_FILE_HELP = (
    "expected an .npz with body_pose (69,) or (23, 3), or a sequence (T, 69) / (T, 23, 3), "
    "and optionally global_orient (3,) or (T, 3) and fps ()"
)


class TargetError(HptError):
    """A target pose that cannot be used (bad file, unknown name, missing frame)."""


@dataclass
class PoseSequence:
    """T target poses (see the module docstring for ``orient``)."""

    body_pose: np.ndarray  # (T, 69) float32 axis-angle of joints 1..23
    global_orient: np.ndarray | None  # (T, 3) float32, or None with orient == "source"
    orient: str  # absolute | relative | source
    times_s: np.ndarray  # (T,) float64 time of each pose, seconds (for smoothing and fps)
    labels: list[str]  # (T,) what each pose is, for captions and file names

    def __post_init__(self) -> None:
        t = len(self.body_pose)
        if self.orient not in ORIENT_MODES:
            raise ValueError(f"orient must be one of {ORIENT_MODES}, got {self.orient!r}")
        if self.body_pose.shape != (t, 69) or t == 0:
            raise ValueError(f"body_pose must be (T >= 1, 69), got {self.body_pose.shape}")
        if (self.global_orient is None) != (self.orient == "source"):
            raise ValueError("global_orient is None exactly when orient is 'source'")
        if self.global_orient is not None and self.global_orient.shape != (t, 3):
            raise ValueError(f"global_orient must be ({t}, 3), got {self.global_orient.shape}")
        if self.times_s.shape != (t,) or len(self.labels) != t:
            raise ValueError("times_s and labels need one entry per pose")

    def __len__(self) -> int:
        return len(self.body_pose)

    @property
    def fps(self) -> float:
        """Frames per second: from the median time step (DEFAULT_FPS for one pose)."""
        if len(self) < 2:
            return DEFAULT_FPS
        step = float(np.median(np.diff(self.times_s)))
        return 1.0 / step if step > 0 else DEFAULT_FPS

    def pick(self, index: int) -> PoseSequence:
        """The one pose ``index`` (negative counts from the end) as a sequence of one."""
        if not -len(self) <= index < len(self):
            raise TargetError(f"pose {index} out of range: the sequence has {len(self)} poses")
        i = index % len(self)
        return PoseSequence(
            self.body_pose[i : i + 1],
            None if self.global_orient is None else self.global_orient[i : i + 1],
            self.orient,
            self.times_s[i : i + 1],
            [self.labels[i]],
        )

    def orientations(self, source_orient: np.ndarray) -> np.ndarray:
        """(T, 3) camera-frame global orientations for a source oriented ``source_orient``."""
        from scipy.spatial.transform import Rotation

        src = np.asarray(source_orient, np.float64).reshape(3)
        if self.orient == "source" or self.global_orient is None:
            return np.tile(src.astype(np.float32), (len(self), 1))
        if self.orient == "absolute":
            return self.global_orient.astype(np.float32)
        rel = Rotation.from_rotvec(self.global_orient.astype(np.float64))
        return (Rotation.from_rotvec(src) * rel).as_rotvec().astype(np.float32)


# --------------------------------------------------------------------------- pose files


def _as_body_pose(arr: np.ndarray, path: Path) -> np.ndarray:
    a = np.asarray(arr)
    if a.shape in ((69,), (23, 3)):
        return a.reshape(1, 69)
    if a.ndim == 2 and a.shape[1] == 69 and a.shape[0] >= 1:
        return a
    if a.ndim == 3 and a.shape[1:] == (23, 3) and a.shape[0] >= 1:
        return a.reshape(-1, 69)
    raise TargetError(f"{path}: body_pose has shape {a.shape}; {POSE_FILE_HELP}")


def load_pose_file(path: str | Path, fps: float | None = None) -> PoseSequence:
    """SMPL poses from an ``.npz`` (one pose or a sequence; see ``POSE_FILE_HELP``).

    ``fps`` (else the file's ``fps``, else DEFAULT_FPS) times the poses. Raises TargetError
    naming the file and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise TargetError(f"{path}: no such pose file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise TargetError(f"{path}: not a readable .npz pose file ({exc})") from None
    if "body_pose" not in arrays:
        raise TargetError(f"{path}: no body_pose array; {POSE_FILE_HELP}")
    if not np.issubdtype(arrays["body_pose"].dtype, np.number):
        raise TargetError(f"{path}: body_pose is not numeric; {POSE_FILE_HELP}")
    body_pose = _as_body_pose(arrays["body_pose"], path).astype(np.float32)
    t = len(body_pose)
    orient: np.ndarray | None = None
    if "global_orient" in arrays:
        go = np.asarray(arrays["global_orient"])
        if go.shape == (3,):
            go = np.tile(go, (t, 1))
        if go.shape != (t, 3) or not np.issubdtype(go.dtype, np.number):
            raise TargetError(
                f"{path}: global_orient has shape {go.shape} for {t} pose(s); "
                f"expected (3,) or ({t}, 3)"
            )
        orient = go.astype(np.float32)
    for name, value in (("body_pose", body_pose), ("global_orient", orient)):
        if value is not None and not np.isfinite(value).all():
            raise TargetError(f"{path}: {name} holds non-finite values")
    if fps is None:
        fps = float(arrays["fps"]) if "fps" in arrays and arrays["fps"].size == 1 else DEFAULT_FPS
    if fps <= 0:
        raise TargetError(f"{path}: fps must be positive, got {fps}")
    return PoseSequence(
        body_pose=body_pose,
        global_orient=orient,
        orient="source" if orient is None else "absolute",
        times_s=np.arange(t, dtype=np.float64) / fps,
        labels=[f"{path.stem}#{i}" for i in range(t)],
    )


# --------------------------------------------------------------------------- hpt-data videos


def parse_frame_spec(spec: str) -> tuple[Path, str]:
    """``VIDEO_WORKDIR:FRAME`` → (folder, frame): FRAME is a frame id (``000012``) or an
    index (``12``)."""
    folder, sep, frame = spec.rpartition(":")
    if not sep or not folder or not frame:
        raise TargetError(f"{spec}: expected VIDEO_WORKDIR:FRAME, e.g. work/ds/videos/v1:000012")
    return Path(folder), frame


def _frame_times(workdir: Path, frame_ids: list[str]) -> np.ndarray | None:
    """Seconds of each frame from remove-bg's (or pose2d's) index, None if unreadable."""
    from hpt_data.errors import StageError
    from hpt_data.stages.outputs import Crops, Pose2D, frame_id

    for stage, output in (("remove-bg", Crops), ("pose2d", Pose2D)):
        try:
            frames = output.read(workdir / stage).frames
            by_id = {frame_id(e.index): float(e.time_ms) for e in frames}
        except (StageError, ValueError, TypeError):
            continue
        if all(fid in by_id for fid in frame_ids):
            return np.array([by_id[fid] / 1000.0 for fid in frame_ids], np.float64)
    return None


def load_video_poses(
    workdir: str | Path, frame: str | None = None, fps: float | None = None
) -> PoseSequence:
    """The fitted poses of a video processed by hpt-data (``<work>/<dataset>/videos/<id>``,
    :mod:`hpt_data.workdir`): every frame whose fit is ``ok``, in order, or only ``frame``.
    Times come from the frames' time stamps (``fps`` overrides them)."""
    from hpt_data.stages.outputs import Fits

    workdir = Path(workdir)
    fit_dir = workdir / "fit-smpl"
    if not (fit_dir / "_stage.json").is_file():
        raise TargetError(
            f"{workdir}: no complete fit-smpl output; point to a video's work folder "
            "(work/<dataset>/videos/<video_id>) after `hpt-data fit-smpl`"
        )
    fits = Fits.read(fit_dir)
    rows = [i for i, ok in enumerate(fits.ok) if ok]
    if frame is not None:
        wanted = f"{int(frame):06d}" if frame.isdigit() else frame
        if wanted not in fits.frame_ids:
            raise TargetError(
                f"{workdir}: no frame {frame!r} in fit-smpl (frames: "
                f"{fits.frame_ids[0]} .. {fits.frame_ids[-1]})"
            )
        row = fits.frame_ids.index(wanted)
        if not fits.ok[row]:
            raise TargetError(f"{workdir}: frame {wanted} has no usable fit ({fits.flag[row]})")
        rows = [row]
    if not rows:
        raise TargetError(f"{workdir}: no frame with a usable fit")
    ids = [fits.frame_ids[r] for r in rows]
    times = None if fps is not None else _frame_times(workdir, ids)
    if times is None:
        times = np.arange(len(rows), dtype=np.float64) / (fps or DEFAULT_FPS)
    return PoseSequence(
        body_pose=fits.body_pose[rows].astype(np.float32),
        global_orient=fits.global_orient[rows].astype(np.float32),
        orient="absolute",
        times_s=times,
        labels=[f"{workdir.name}:{fid}" for fid in ids],
    )


# --------------------------------------------------------------------------- built-in


def named_targets() -> tuple[str, ...]:
    """The built-in names: the hand-made poses, then the motions (the synthetic source's
    actions; both from :mod:`hpt_data.body`)."""
    from hpt_data.body.motions import ACTIONS
    from hpt_data.body.named_poses import NAMED_POSES

    return (*sorted(NAMED_POSES), *ACTIONS)


def named_sequence(name: str, frames: int = 50, fps: float = DEFAULT_FPS) -> PoseSequence:
    """A built-in pose (one pose, the source's orientation) or motion (``frames`` poses at
    ``fps``, a fixed person style, orientation relative to the source's)."""
    from hpt_data.body.motions import ACTIONS, make_motion
    from hpt_data.body.named_poses import NAMED_POSES, named_pose

    if name in NAMED_POSES:
        return PoseSequence(
            body_pose=named_pose(name).astype(np.float32)[None],
            global_orient=None,
            orient="source",
            times_s=np.zeros(1),
            labels=[name],
        )
    if name not in ACTIONS:
        raise TargetError(f"unknown named pose {name!r}; expected one of {named_targets()}")
    if frames < 1 or fps <= 0:
        raise TargetError(f"need frames >= 1 and fps > 0, got {frames}, {fps}")
    from scipy.spatial.transform import Rotation

    motion, _ = make_motion(name, frames, fps, np.random.default_rng(0))
    root = Rotation.from_rotvec(motion.global_orient)
    relative = (root[0].inv() * root).as_rotvec()
    return PoseSequence(
        body_pose=motion.body_pose.astype(np.float32),
        global_orient=relative.astype(np.float32),
        orient="relative",
        times_s=np.arange(frames, dtype=np.float64) / fps,
        labels=[f"{name}#{i}" for i in range(frames)],
    )


def named_target(name: str) -> PoseSequence:
    """One built-in pose for a single transfer: a named pose, or a motion's last pose (the
    one-shot actions hold their pose at the end)."""
    seq = named_sequence(name)
    return seq.pick(-1)


# --------------------------------------------------------------------------- smoothing


def smooth_poses(
    seq: PoseSequence, min_cutoff: float = 1.0, beta: float = 1.0, d_cutoff: float = 1.0
) -> PoseSequence:
    """The sequence with every joint rotation (and the orientation) low-passed over time by
    a One Euro filter (:mod:`hpt_data.smoothing`) on the true time stamps.

    Axis-angle vectors jump (at π, where the upright orientation lives), so each rotation
    is filtered as its 3×3 matrix and projected back to the nearest rotation. ``beta`` is in
    Hz per unit of matrix change per second.
    """
    from scipy.spatial.transform import Rotation

    from hpt_data.smoothing import OneEuroFilter

    if len(seq) < 2:
        return seq
    t = len(seq)
    rots = seq.body_pose.reshape(t, 23, 3)
    if seq.global_orient is not None:
        rots = np.concatenate([seq.global_orient[:, None], rots], axis=1)
    k = rots.shape[1]
    mats = Rotation.from_rotvec(rots.reshape(-1, 3).astype(np.float64)).as_matrix()
    mats = mats.reshape(t, k, 9)
    gap = max(1.0, 3.0 * float(np.median(np.diff(seq.times_s))))
    filt = OneEuroFilter(min_cutoff, beta, d_cutoff, gap)
    out = np.stack([filt(mats[i], float(seq.times_s[i])) for i in range(t)])
    smooth = Rotation.from_matrix(out.reshape(-1, 3, 3)).as_rotvec().reshape(t, k, 3)
    smooth = smooth.astype(np.float32)
    if seq.global_orient is not None:
        return replace(seq, global_orient=smooth[:, 0], body_pose=smooth[:, 1:].reshape(t, 69))
    return replace(seq, body_pose=smooth.reshape(t, 69))
