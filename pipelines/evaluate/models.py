"""The table's rows (a model's generators, or the oracle) and the LPIPS network they are
scored with."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ORACLE = "ground truth (oracle)"


@dataclass
class ModelSpec:
    """One row of the table: generators (None: the oracle), where they came from, and
    whether S and D come from the volume network (Ours-V)."""

    name: str
    gens: Any  # hpt_model.checkpoints.Generators | None
    origin: str
    volume: bool = False

    @property
    def oracle(self) -> bool:
        return self.gens is None


def name_models(models: Sequence[tuple[Any, str, bool]]) -> list[ModelSpec]:
    """Row names for ``(generators or None, origin, volume)``: the config's Table IV variant
    (``-V`` appended for Ours-V, `` (random)`` for random weights), the oracle's
    :data:`ORACLE`; names that would repeat get their origin appended."""
    names = []
    for gens, _, volume in models:
        if gens is None:
            names.append(ORACLE)
            continue
        name = gens.config.variant.name + ("-V" if volume else "")
        names.append(name + (" (random)" if gens.random else ""))
    specs = []
    for (gens, origin, volume), name in zip(models, names, strict=True):
        if names.count(name) > 1:
            name = f"{name} [{origin}]"
        specs.append(ModelSpec(name, gens, origin, volume))
    return specs


@dataclass
class ModelResult:
    """One model's rows: its scores per image and their summary."""

    spec: ModelSpec
    resolution: int
    images: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    grid: list[np.ndarray] = field(default_factory=list)  # (T, T, 3) uint8 RGB tiles


@dataclass
class LpipsMetric:
    """The LPIPS network and what the table says of it."""

    model: Any  # hpt_model.metrics.lpips.LPIPS
    net: str
    backbone: str  # the weights file, or "random"

    @property
    def trusted(self) -> bool:
        return self.backbone != "random"


def load_metric_lpips(
    net: str = "alex", weights: str | os.PathLike[str] | None = None, allow_random: bool = False
) -> LpipsMetric:
    """LPIPS with its backbone weights from ``weights`` or torch hub's cache.

    Raises ``MissingWeightsError`` (one line naming the files looked for) when there are
    none, unless ``allow_random``: then random backbone weights, with a warning, and the
    metric is marked untrusted.
    """
    from hpt_model.metrics.lpips import MissingWeightsError, default_backbone_paths, load_lpips

    try:
        model = load_lpips(net, backbone_path=weights)
    except MissingWeightsError:
        if not allow_random or weights is not None:
            raise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # said once, by the caller
            return LpipsMetric(load_lpips(net, allow_random=True), net, "random")
    if weights is not None:
        used = str(Path(weights).expanduser())
    else:
        used = str(next(p for p in default_backbone_paths(net) if p.is_file()))
    return LpipsMetric(model, net, used)
