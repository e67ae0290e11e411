"""Body model: a thin layer over ``smplx`` and a built-in SMPL-format model derived from Anny.

``load_body_model()`` returns a :class:`BodyModel`: the real SMPL files when a path is
given, otherwise the built-in model derived once from the ``anny`` package (see
``docs/body_model.md``). Importing this package is light: torch, smplx and anny are only
imported when a model is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpt_data.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from hpt_data.body.parts import PART_NAMES, part_labels_from_weights

if TYPE_CHECKING:
    from hpt_data.body.smpl_layer import BodyModel, BodyOutput, load_body_model

__all__ = [
    "PART_NAMES",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "BodyModel",
    "BodyOutput",
    "load_body_model",
    "part_labels_from_weights",
]

_LAZY = {"BodyModel", "BodyOutput", "load_body_model"}


def __getattr__(name: str) -> Any:
    """Import the torch/smplx layer only when one of its names is used."""
    if name in _LAZY:
        from hpt_data.body import smpl_layer

        return getattr(smpl_layer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
