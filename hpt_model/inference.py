"""Inference of the hierarchical generator: weights in, coarse → part layers → fusion out.

:func:`load_generators` builds the three generators (coarse, part layers, fine) and, for
Ours-V, the volume network, from training checkpoints (:mod:`hpt_model.training.checkpoint`)
or, when asked (``allow_random``), from a random initialisation with a loud warning.
:func:`run_transfer` runs one batch in the :class:`~hpt_model.data.PairDataset` item format
(``source_<field>`` / ``target_<field>``, compact or decoded) through the same functions the
training uses (``build_stage_inputs`` and ``final_image``: coarse, part layers, Eq. 6, fine
generator, as far as the config's Table IV variant goes) and returns the final image with
every intermediate.

Ours-V (§III-B): :func:`volume_to_maps` turns the volume network's voxel logits into the
parsing S (the front-most non-background label along z) and depth D (that voxel's centre in
the shards' units: camera-frame metres, ``+inf`` on the background). With ``volume=True``
those maps replace the SMPL-rendered S and D of the batch before the stage inputs are made.

Torch only: like the rest of ``hpt_model`` this imports nothing of ``hpt_data`` but the
shard schema.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpt_data.shards.schema import COARSE, CROP, HEATMAP_SIGMA_1024, VOXELS
from hpt_model.config import HPTConfig
from hpt_model.data.pairs import decode_pair_batch
from hpt_model.networks import define_network, variant_network_names
from hpt_model.training.checkpoint import FINAL, LAST, TrainingError, load_checkpoint
from hpt_model.training.inputs import (
    MapSet,
    build_stage_inputs,
    render_heatmaps,
    resize,
    to_device,
)
from hpt_model.training.steps import eval_mode, final_image

logger = logging.getLogger(__name__)

GENERATORS: tuple[str, ...] = ("coarse", "layers", "fine")
# where a run folder keeps the generators and the volume network (docs/training.md's layout)
GENERATOR_RUNS: tuple[str, ...] = ("e2e", "fine")
VOLUME_RUN = "volume"
RANDOM = "random"
RANDOM_WARNING = (
    "RANDOM WEIGHTS: the generators are randomly initialised (--allow-random-model); "
    "the images are noise, useful only to test the pipeline"
)


# --------------------------------------------------------------------------- loading


@dataclass
class Generators:
    """The networks inference needs, on one device, in eval mode.

    ``nets`` holds the variant's generators (``coarse``, ``layers``, ``fine`` for the full
    method; see :func:`generator_names`) and, when loaded, ``volume``;
    ``config`` is the generators' config (the checkpoint's), ``volume_config`` the volume
    network's; ``origin`` says where each network's weights came from (a path or
    ``"random"``); ``heatmap_sigma`` is the σ of H the generators were trained with.
    """

    nets: nn.ModuleDict
    config: HPTConfig
    origin: dict[str, str]
    heatmap_sigma: float = HEATMAP_SIGMA_1024
    volume_config: HPTConfig | None = None
    precision: str = "fp32"
    channels_last: bool = False

    @property
    def device(self) -> torch.device:
        return next(self.nets.parameters()).device

    @property
    def random(self) -> bool:
        """True when any network has random weights."""
        return RANDOM in self.origin.values()

    @property
    def has_volume(self) -> bool:
        return "volume" in self.nets

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when ``precision == "bf16"``, else nothing."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def compile(self, mode: str | None = None) -> None:
        """``torch.compile`` each generator's convolution stack in place (the crops and
        pastes between them stay eager: they read box positions on the host). ``mode``
        ``"reduce-overhead"`` captures CUDA graphs; ``"max-autotune"`` also tunes kernels."""
        nets = self.nets
        nets["coarse"].net.compile(mode=mode)
        if "layers" in nets:
            for generator in nets["layers"].generators.values():
                generator.net.compile(mode=mode)
        if "fine" in nets:
            nets["fine"].net.compile(mode=mode)
        if "volume" in nets:
            nets["volume"].compile(mode=mode)


def generator_names(config: HPTConfig) -> tuple[str, ...]:
    """The generators ``config``'s variant has: coarse; layers (with part layers); fine
    (with F)."""
    present = set(variant_network_names(config))
    return tuple(name for name in GENERATORS if name in present)


def find_checkpoint(path: str | Path, runs: tuple[str, ...] = GENERATOR_RUNS) -> Path:
    """A checkpoint file, or the first of ``<path>/<run>/final.pt``, ``<path>/<run>/last.pt``
    (for each run in ``runs``), ``<path>/final.pt``, ``<path>/last.pt`` that exists.

    Raises TrainingError naming the folder when there is none.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise TrainingError(f"{path}: no such checkpoint file or run folder")
    candidates = [path / run / name for run in runs for name in (FINAL, LAST)]
    candidates += [path / FINAL, path / LAST]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c.relative_to(path)) for c in candidates)
    raise TrainingError(f"{path}: no checkpoint in the folder (looked for {tried})")


def _config_of(state: Mapping[str, Any], where: Path) -> HPTConfig:
    try:
        return HPTConfig.from_dict(state["config"])
    except (KeyError, ValueError) as exc:
        raise TrainingError(f"{where}: its config cannot be read ({exc})") from exc


def _load_weights(module: nn.Module, state: Mapping[str, Tensor], where: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise TrainingError(f"{where}: weights do not fit its own config: {first}") from exc


def _sigma_of(state: Mapping[str, Any]) -> float:
    settings = state.get("settings") or {}
    sigma = settings.get("heatmap_sigma") if isinstance(settings, Mapping) else None
    return float(sigma) if sigma else HEATMAP_SIGMA_1024


def _warn_random(what: str) -> None:
    message = f"{RANDOM_WARNING} ({what})"
    logger.warning(message)
    warnings.warn(message, stacklevel=3)


def load_generators(
    checkpoint: str | Path | None,
    config: HPTConfig | None = None,
    *,
    volume: bool = False,
    volume_checkpoint: str | Path | None = None,
    allow_random: bool = False,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    channels_last: bool = False,
    seed: int = 0,
) -> Generators:
    """The generators (and, with ``volume``, the volume network) ready for inference.

    Parameters
    ----------
    checkpoint : a ``fine`` or ``e2e`` checkpoint (it holds all three generators), or a run
        folder (see :func:`find_checkpoint`); None only with ``allow_random``.
    config : used for random weights only; a checkpoint brings its own config (a different
        ``config`` given too is reported and ignored).
    volume : also load the volume network (Ours-V): from ``volume_checkpoint``, else from
        ``<checkpoint folder>/volume/``, else from the checkpoint itself.
    allow_random : build randomly initialised networks (seeded by ``seed``) where no
        checkpoint is given, with a loud warning. Never silently.
    precision : ``fp32`` or ``bf16`` (autocast in :func:`run_transfer`).

    Raises
    ------
    TrainingError
        One line naming the file: no checkpoint and no ``allow_random``, a checkpoint
        without the generators, weights that do not fit.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    device = torch.device(device)
    nets = nn.ModuleDict()
    origin: dict[str, str] = {}
    sigma = HEATMAP_SIGMA_1024
    torch.manual_seed(seed)
    if checkpoint is not None:
        path = find_checkpoint(checkpoint)
        state = load_checkpoint(path)
        own = _config_of(state, path)
        if config is not None and config.to_dict() != own.to_dict():
            logger.warning("%s: using the checkpoint's own config, not the one given", path)
        config = own
        models = state.get("models", {})
        names = generator_names(config)
        missing = [name for name in names if name not in models]
        if missing:
            raise TrainingError(
                f"{path}: a '{state.get('stage')}' checkpoint holds no {', '.join(missing)} "
                f"generator; pass the final.pt of the last stage of variant "
                f"{config.variant.name} (fine or e2e for the full method)"
            )
        for name in names:
            nets[name] = define_network(name, config)
            _load_weights(nets[name], models[name], str(path))
            origin[name] = str(path)
        sigma = _sigma_of(state)
    elif allow_random:
        config = config or HPTConfig.paper()
        for name in generator_names(config):
            nets[name] = define_network(name, config)
            origin[name] = RANDOM
        _warn_random(", ".join(generator_names(config)))
    else:
        raise TrainingError(
            "no generator weights: pass --checkpoint (a fine or e2e final.pt, or its run "
            "folder) or --allow-random-model to test the pipeline with random weights"
        )
    gens = Generators(nets, config, origin, sigma, precision=precision)
    if volume:
        _load_volume(gens, checkpoint, volume_checkpoint, allow_random)
    nets.to(device)
    if channels_last:
        nets.to(memory_format=torch.channels_last)
        gens.channels_last = True
    nets.eval()
    for p in nets.parameters():
        p.requires_grad_(False)
    return gens


def _load_volume(
    gens: Generators,
    checkpoint: str | Path | None,
    volume_checkpoint: str | Path | None,
    allow_random: bool,
) -> None:
    path: Path | None = None
    if volume_checkpoint is not None:
        path = find_checkpoint(volume_checkpoint, (VOLUME_RUN,))
    elif checkpoint is not None:
        # the run folder's volume/ (runs/x given, or runs/x/e2e/final.pt given)
        root = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent.parent
        if (root / VOLUME_RUN).is_dir():
            path = find_checkpoint(root / VOLUME_RUN, ())
    if path is not None:
        state = load_checkpoint(path)
        if "volume" not in state.get("models", {}):
            raise TrainingError(
                f"{path}: a '{state.get('stage')}' checkpoint holds no volume network; pass "
                "the final.pt of `hpt-model train --stage volume`"
            )
        vconfig = _config_of(state, path)
        net = define_network("volume", vconfig)
        _load_weights(net, state["models"]["volume"], str(path))
        gens.origin["volume"] = str(path)
    elif allow_random:
        vconfig = gens.config
        net = define_network("volume", vconfig)
        gens.origin["volume"] = RANDOM
        _warn_random("volume network")
    else:
        raise TrainingError(
            "--volume needs the volume network: pass --volume-checkpoint (the final.pt of "
            "`hpt-model train --stage volume`) or --allow-random-model"
        )
    gens.nets["volume"] = net
    gens.volume_config = vconfig


# --------------------------------------------------------------------------- Ours-V


def volume_to_maps(logits: Tensor, voxel_z: Tensor) -> tuple[Tensor, Tensor]:
    """S and D of a predicted volume, seen by the camera (BodyNet's projection, §III-B).

    Parameters
    ----------
    logits : (B, 7, Z, X, X) voxel logits (:class:`~hpt_model.networks.VolumeNetwork`;
        ``logits[:, c, z, y, x]`` is label c at depth bin z, bin 0 nearest the camera).
    voxel_z : (B, 2) the shards' ``[z0, dz]`` of the full 64-bin grid (bin k of 64 spans
        camera-frame depths ``z0 + [k, k+1)·dz``); a network with Z bins has bins of
        ``dz · 64 / Z``, as the training resamples the 64 bins to Z.

    Returns
    -------
    parsing : (B, X, X) int64, the label of the front-most non-background voxel, 0 where
        the column is empty.
    depth : (B, 1, X, X) float32, camera-frame depth of that voxel's centre (metres),
        ``+inf`` where the column is empty: the shards' convention for D.
    """
    if logits.dim() != 5:
        raise ValueError(f"logits: expected (B, 7, Z, X, X), got {tuple(logits.shape)}")
    batch, _, z_bins = logits.shape[:3]
    if voxel_z.shape != (batch, 2):
        raise ValueError(f"voxel_z: expected (B={batch}, 2) [z0, dz], got {tuple(voxel_z.shape)}")
    labels = logits.argmax(dim=1)  # (B, Z, X, X)
    occupied = labels != 0
    hit = occupied.any(dim=1)  # (B, X, X)
    first = occupied.to(torch.uint8).argmax(dim=1)  # index of the first occupied bin
    front = labels.gather(1, first.unsqueeze(1)).squeeze(1)
    parsing = torch.where(hit, front, torch.zeros_like(front))
    z = voxel_z.to(torch.float32)
    z0 = z[:, 0].view(batch, 1, 1)
    dz = (z[:, 1] * (VOXELS[0] / z_bins)).view(batch, 1, 1)
    depth = z0 + (first.to(torch.float32) + 0.5) * dz
    depth = torch.where(hit, depth, torch.full_like(depth, float("inf")))
    return parsing, depth.unsqueeze(1)


def _nearest(x: Tensor, size: int) -> Tensor:
    """(B, C, X, X) → (B, C, size, size) by nearest neighbour: voxel column (x, y) covers
    output pixels ``x·size/X .. (x+1)·size/X - 1`` (DESIGN.md's grid)."""
    return F.interpolate(x, size=(size, size), mode="nearest")


@dataclass
class VolumeMaps:
    """What Ours-V made of the volume: the logits and S, D at the volume's xy size."""

    logits: Tensor  # (B, 7, Z, X, X)
    parsing: Tensor  # (B, X, X) int64
    depth: Tensor  # (B, 1, X, X) float32, +inf background


def volume_batch(
    gens: Generators, batch: Mapping[str, Any], heatmap_sigma: float
) -> tuple[dict[str, Any], VolumeMaps]:
    """The batch with its target S and D (1024 and 512) replaced by the volume network's:
    it sees the source image and the target pose's heatmaps at its xy size, as in
    training; ``target_voxel_z`` gives the depth frame (see :func:`volume_to_maps`)."""
    if not gens.has_volume or gens.volume_config is None:
        raise ValueError("these generators were loaded without the volume network")
    if "target_voxel_z" not in batch:
        raise ValueError("the batch lacks target_voxel_z, the depth frame of the volume")
    v = gens.volume_config.volume
    out = decode_pair_batch(dict(batch))
    image = resize(out["source_image"], v.xy_size)
    pose = render_heatmaps(out["target_joints2d"], v.xy_size, heatmap_sigma)
    with gens.autocast():
        logits = gens.nets["volume"](image, pose).float()
    parsing, depth = volume_to_maps(logits, out["target_voxel_z"])
    labels = parsing.unsqueeze(1).float()
    for suffix, size in (("", CROP), ("_512", COARSE)):
        out[f"target_parsing{suffix}"] = _nearest(labels, size)[:, 0].long()
        out[f"target_depth{suffix}"] = _nearest(depth, size)
    return out, VolumeMaps(logits, parsing, depth)


# --------------------------------------------------------------------------- running


@dataclass
class TransferOutput:
    """One batch through the generator; images in [-1, 1] (not clamped), F = fine size,
    C = coarse size, s = a part's crop size."""

    final: Tensor  # (B, 3, F, F) I_t = İ_t + Ǐ_t (the variant's result, see final_image)
    coarse: Tensor  # (B, 3, C, C) Ĩ_t
    initial: Tensor | None = None  # (B, 3, F, F) İ_t, Eq. 6: fused, before refinement
    refinement: Tensor | None = None  # (B, 3, F, F) Ǐ_t, the fine generator's offset
    offsets: dict[str, Tensor] = field(default_factory=dict)  # part → (B, 3, s, s) Ǐ^n_t
    layers: dict[str, Tensor] = field(default_factory=dict)  # part → (B, 3, s, s) I^n_t
    boxes: dict[str, Tensor] = field(default_factory=dict)  # part → (B, 3) fine-frame box
    coarse_maps: MapSet | None = None  # S, D, H (and I_s) at C
    fine_maps: MapSet | None = None  # S, D, H (and I_s) at F
    volume: VolumeMaps | None = None  # Ours-V only


@torch.no_grad()
def run_transfer(
    gens: Generators,
    batch: Mapping[str, Any],
    volume: bool = False,
    heatmap_sigma: float | None = None,
) -> TransferOutput:
    """Coarse → part layers → fusion on one batch of PairDataset items (any device; moved
    to the generators'). ``target_image`` is not looked at (there is no ground truth at
    inference; any image of the right size will do). ``heatmap_sigma`` defaults to the
    generators' own. With ``volume``, S and D come from the volume network (Ours-V)."""
    sigma = gens.heatmap_sigma if heatmap_sigma is None else heatmap_sigma
    on_device = to_device(batch, gens.device, gens.channels_last)
    vol = None
    if volume:
        on_device, vol = volume_batch(gens, on_device, sigma)
    inputs = build_stage_inputs(on_device, gens.config, "fine", sigma)
    nets = gens.nets
    with eval_mode(nets), gens.autocast():
        method = final_image(gens.config, nets, inputs)
    layers = method.layers
    return TransferOutput(
        final=method.final.float(),
        coarse=method.coarse.float(),
        initial=None if method.initial is None else method.initial.float(),
        refinement=None if method.offset is None else method.offset.float(),
        offsets={part: offset.float() for part, (offset, _) in layers.items()},
        layers={part: layer.float() for part, (_, layer) in layers.items()},
        boxes={part: inputs.parts[part].box for part in layers},
        coarse_maps=inputs.coarse,
        fine_maps=inputs.fine,
        volume=vol,
    )


def to_uint8(images: Tensor) -> Tensor:
    """(B, 3, H, W) in [-1, 1] → (B, H, W, 3) uint8 RGB on the CPU (clamped for display)."""
    x = images.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu()


def iterate_batches(items: list[dict[str, Any]], batch_size: int) -> Iterator[dict[str, Any]]:
    """Collate PairDataset items ``batch_size`` at a time (the last batch may be smaller)."""
    from torch.utils.data import default_collate

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(items), batch_size):
        yield default_collate(items[start : start + batch_size])
