"""Which file a user's SMPL path names: the rules of ``load_body_model`` without torch.

Kept apart from ``smpl_layer`` (which imports torch and smplx) so that a build can check a
configured path before its first stage (``hpt_data.preflight``) by the very rules the loader
applies when ``fit-smpl`` starts.
"""

from __future__ import annotations

from pathlib import Path

from hpt_data.errors import HptError

GENDERS = ("neutral", "male", "female")
SUFFIXES = (".pkl", ".npz")


def find_model_file(model_path: str | Path, gender: str = "neutral") -> Path:
    """The model file that ``model_path`` names.

    A ``.pkl``/``.npz`` file is itself; a folder holds ``SMPL_<GENDER>.pkl`` or ``.npz``
    (or the official ``basicmodel_*_lbs_10_207_0_v1.1.0.pkl`` names), directly or in a
    ``smpl/`` sub-folder. Raises ``HptError`` (one line, naming the path) when there is
    none or the file is not ``.pkl``/``.npz``; the file is not read.
    """
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {GENDERS}, got {gender!r}")
    path = Path(model_path).expanduser()
    if path.is_dir():
        path = _find_in_dir(path, gender)
    elif not path.exists():
        raise HptError(f"{path}: body model file not found")
    if path.suffix not in SUFFIXES:
        raise HptError(f"{path}: not a body model file (expected .pkl or .npz)")
    return path


def _find_in_dir(folder: Path, gender: str) -> Path:
    g = gender.upper()
    short = {"neutral": "neutral", "male": "m", "female": "f"}[gender]
    names = [f"SMPL_{g}.pkl", f"SMPL_{g}.npz"] + [
        f"basic{m}_{short}_lbs_10_207_0_v1.{v}.0.pkl" for m in ("model", "Model") for v in (1, 0)
    ]
    for sub in (folder, folder / "smpl"):
        for name in names:
            if (sub / name).is_file():
                return sub / name
    raise HptError(f"{folder}: no SMPL model for gender {gender!r} (looked for SMPL_{g}.pkl/.npz)")
