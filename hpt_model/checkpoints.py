"""Checkpoints: the file format, and the one entry that turns files into ready networks.

A checkpoint is a dict (``torch.save``), following nanoGPT's train.py::

    version     CHECKPOINT_VERSION
    stage       "coarse" | "face" | ... | "volume"
    step        iterations done; epoch = step // steps_per_epoch
    total_steps the stage's length (its schedule depends on it)
    models      network name → state dict (every network the stage builds, frozen ones too)
    optimizers  "g" / "d" → Adam state dict
    bank        the complete-part bank of the layer stages (or None)
    config      HPTConfig.to_dict(): the architecture comes back from here
    settings    the run's settings (plain values), for the record
    rng         torch CPU (and CUDA) generator states

Only tensors and plain Python values are stored, so files load with
``torch.load(weights_only=True)``. A write goes to ``<name>.tmp`` and is renamed into place,
so a crash never leaves a truncated ``last.pt``. Training writes them
(:mod:`hpt_model.training`); :func:`load_generators` is how everything else (inference,
``hpt transfer``/``motion``/``eval``) reads them: a file or a run folder in, the variant's
generators (and, for Ours-V, the volume network) out, on a device, in eval mode. Errors are
:class:`~hpt_model.errors.CheckpointError`, one line naming the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hpt_data.shards.schema import HEATMAP_SIGMA_1024
from hpt_model.config import HPTConfig
from hpt_model.errors import CheckpointError, ModelError
from hpt_model.networks import define_network, variant_network_names

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
LAST = "last.pt"  # written every N steps and when a run stops
FINAL = "final.pt"  # written when a stage has run all its epochs

GENERATORS: tuple[str, ...] = ("coarse", "layers", "fine")
# where a run folder keeps each stage's checkpoints (docs/training.md's layout)
GENERATOR_RUNS: tuple[str, ...] = ("e2e", "fine")
LAYER_RUNS: tuple[str, ...] = ("face", "arm", "leg")
COARSE_RUN = "coarse"
VOLUME_RUN = "volume"
RANDOM = "random"
RANDOM_WARNING = (
    "RANDOM WEIGHTS: the generators are randomly initialised (--allow-random-model); "
    "the images are noise, useful only to test the pipeline"
)


# --------------------------------------------------------------------------- the file format


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint on the CPU; CheckpointError naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: not an hpt-model checkpoint of version {CHECKPOINT_VERSION}"
        )
    return state


def checkpoint_config(state: Mapping[str, Any], where: str | Path) -> HPTConfig:
    """The config a checkpoint was trained with; CheckpointError naming ``where`` if it
    cannot be read."""
    try:
        return HPTConfig.from_dict(state["config"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{where}: its config cannot be read ({exc})") from exc


def check_pose_inputs(state: Mapping[str, Any], config: HPTConfig, where: str | Path) -> None:
    """CheckpointError in one line when the checkpoint's networks read another pose than
    ``config``'s: another number of heatmaps H (24 joints before the face keypoints) or a
    volume network without the target 3D pose, instead of a shape traceback later."""
    own = checkpoint_config(state, where)
    theirs, ours = own.inputs.num_heatmaps, config.inputs.num_heatmaps
    if theirs != ours:
        raise CheckpointError(
            f"{where}: trained with {theirs} pose heatmaps, this config has {ours}"
            + (" (joints and face keypoints)" if ours > theirs else "")
            + ": retrain it with this config, or use the checkpoint's own config"
        )
    models = state.get("models", {})
    if "volume" in models and own.volume.pose_depth != config.volume.pose_depth:
        raise CheckpointError(
            f"{where}: its volume network reads the target pose "
            + ("with" if own.volume.pose_depth else "without")
            + " joint depths, this config "
            + ("with" if config.volume.pose_depth else "without")
            + " (volume.pose_depth): retrain it, or use the checkpoint's own config"
        )


def part_weights(layers_state: Mapping[str, Tensor], kind: str) -> dict[str, Tensor]:
    """One part generator's weights (``kind`` face, arm or leg) out of a saved
    :class:`~hpt_model.networks.layers.PartLayers` state dict, keys as the generator's own."""
    prefix = f"generators.{kind}."
    return {k[len(prefix) :]: v for k, v in layers_state.items() if k.startswith(prefix)}


def load_weights(module: nn.Module, state: Mapping[str, Tensor], where: str, why: str) -> None:
    """``module.load_state_dict(state, strict=True)``; CheckpointError ``"<where>: <why>:
    <torch's first line>"`` when the weights do not fit."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise CheckpointError(f"{where}: {why}: {first}") from exc


def rng_state() -> dict[str, Any]:
    """torch's CPU generator and, where present, every CUDA generator."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved (CUDA generators only where CUDA is)."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- ready networks


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

    def layer(self, kind: str) -> nn.Module:
        """The shared part generator of ``kind`` (face, arm or leg); KeyError without
        part layers."""
        return self.nets["layers"].generators[kind]

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
            for kind in LAYER_RUNS:
                self.layer(kind).net.compile(mode=mode)
        if "fine" in nets:
            nets["fine"].net.compile(mode=mode)
        if "volume" in nets:
            nets["volume"].compile(mode=mode)


def generator_names(config: HPTConfig) -> tuple[str, ...]:
    """The generators ``config``'s variant has: coarse; layers (with part layers); fine
    (with F)."""
    present = set(variant_network_names(config))
    return tuple(name for name in GENERATORS if name in present)


def _has(folder: Path) -> bool:
    return (folder / FINAL).is_file() or (folder / LAST).is_file()


def find_checkpoint(path: str | Path, runs: tuple[str, ...] = GENERATOR_RUNS) -> Path:
    """A checkpoint file, or the first of ``<path>/<run>/final.pt``, ``<path>/<run>/last.pt``
    (for each run in ``runs``), ``<path>/final.pt``, ``<path>/last.pt`` that exists.

    Raises CheckpointError naming the folder when there is none.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint file or run folder")
    candidates = [path / run / name for run in runs for name in (FINAL, LAST)]
    candidates += [path / FINAL, path / LAST]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c.relative_to(path)) for c in candidates)
    raise CheckpointError(f"{path}: no checkpoint in the folder (looked for {tried})")


def row_checkpoints(path: str | Path) -> dict[str, Path]:
    """The checkpoint file(s) a file or run folder gives the generators from, read as
    ``docs/training.md`` lays out the Table IV runs: ``e2e/`` or ``fine/`` (the full method;
    :func:`find_checkpoint`) → ``{"all": file}``; else ``face/``, ``arm/``, ``leg/`` (a
    part-layer row, PL or PL⁻: each stage's checkpoint holds the coarse generator it was
    trained on and its own part generator; the coarse comes from ``face``) → ``{"face": …,
    "arm": …, "leg": …}``; else ``coarse/`` (rows H, H+S, H+S+D) → ``{"all": file}``.
    CheckpointError naming what was looked for when there is none."""
    path = Path(path)
    if path.is_dir() and not (any(_has(path / run) for run in GENERATOR_RUNS) or _has(path)):
        if all(_has(path / stage) for stage in LAYER_RUNS):
            return {stage: find_checkpoint(path / stage, ()) for stage in LAYER_RUNS}
        if _has(path / COARSE_RUN):
            return {"all": find_checkpoint(path / COARSE_RUN, ())}
    return {"all": find_checkpoint(path)}  # its error names what it looked for


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
    checkpoint : a checkpoint file holding the variant's generators (``fine`` or ``e2e``
        for the full method), or a run folder (see :func:`row_checkpoints`: the full
        method's, a part-layer row's three stages, a coarse-only row's); None only with
        ``allow_random``.
    config : used for random weights only; a checkpoint brings its own config (a different
        ``config`` given too is reported and ignored).
    volume : also load the volume network (Ours-V): from ``volume_checkpoint``, else from
        ``<checkpoint folder>/volume/``, else from the checkpoint itself.
    allow_random : build randomly initialised networks (seeded by ``seed``) where no
        checkpoint is given, with a loud warning. Never silently.
    precision : ``fp32`` or ``bf16`` (autocast in ``run_transfer``).

    Raises
    ------
    CheckpointError
        One line naming the file: no checkpoint and no ``allow_random``, a checkpoint
        without the generators, weights that do not fit, a row's stages of different
        variants.
    """
    if precision not in ("fp32", "bf16"):
        raise ModelError(f"precision must be fp32 or bf16, got {precision!r}")
    device = torch.device(device)
    torch.manual_seed(seed)
    if checkpoint is not None:
        files = row_checkpoints(checkpoint)
        gens = _load_checkpoint_generators(files.get("all") or files["face"], config, precision)
        if "all" not in files:
            _load_row_layers(gens, files)
    elif allow_random:
        config = config or HPTConfig.paper()
        nets = nn.ModuleDict(
            {name: define_network(name, config) for name in generator_names(config)}
        )
        gens = Generators(nets, config, {name: RANDOM for name in nets}, precision=precision)
        _warn_random(", ".join(generator_names(config)))
    else:
        raise CheckpointError(
            "no generator weights: pass --checkpoint (a fine or e2e final.pt, or its run "
            "folder) or --allow-random-model to test the pipeline with random weights"
        )
    if volume:
        _load_volume(gens, checkpoint, volume_checkpoint, allow_random)
    nets = gens.nets
    nets.to(device)
    if channels_last:
        nets.to(memory_format=torch.channels_last)
        gens.channels_last = True
    nets.eval()
    for p in nets.parameters():
        p.requires_grad_(False)
    return gens


def _load_checkpoint_generators(path: Path, config: HPTConfig | None, precision: str) -> Generators:
    """The variant's generators, all from one checkpoint file (on the CPU)."""
    state = load_checkpoint(path)
    own = checkpoint_config(state, path)
    if config is not None and config.to_dict() != own.to_dict():
        logger.warning("%s: using the checkpoint's own config, not the one given", path)
    models = state.get("models", {})
    names = generator_names(own)
    missing = [name for name in names if name not in models]
    if missing:
        raise CheckpointError(
            f"{path}: a '{state.get('stage')}' checkpoint holds no {', '.join(missing)} "
            f"generator; pass the final.pt of the last stage of variant "
            f"{own.variant.name} (fine or e2e for the full method)"
        )
    nets = nn.ModuleDict()
    for name in names:
        nets[name] = define_network(name, own)
        load_weights(nets[name], models[name], str(path), "weights do not fit its own config")
    return Generators(
        nets, own, {name: str(path) for name in names}, _sigma_of(state), precision=precision
    )


def _load_row_layers(gens: Generators, files: Mapping[str, Path]) -> None:
    """A part-layer row: the arm and leg generators from their own stages' checkpoints
    (``gens`` came from the face stage's), refused when trained as another variant."""
    variant = gens.config.variant.name
    for stage in LAYER_RUNS[1:]:
        state = load_checkpoint(files[stage])
        models = state.get("models", {})
        if state.get("stage") != stage or "layers" not in models:
            raise CheckpointError(
                f"{files[stage]}: a '{state.get('stage')}' checkpoint, not the {stage} "
                "stage's part layers"
            )
        theirs = checkpoint_config(state, files[stage]).variant.name
        if theirs != variant:
            raise CheckpointError(
                f"{files[stage]}: trained as variant {theirs}, but {files['face']} is {variant}"
            )
        try:
            gens.layer(stage).load_state_dict(part_weights(models["layers"], stage), strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{files[stage]}: its {stage} generator does not fit") from exc
    gens.origin["layers"] = ", ".join(str(files[stage]) for stage in LAYER_RUNS)


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
            raise CheckpointError(
                f"{path}: a '{state.get('stage')}' checkpoint holds no volume network; pass "
                "the final.pt of `hpt-model train --stage volume`"
            )
        vconfig = checkpoint_config(state, path)
        net = define_network("volume", vconfig)
        load_weights(net, state["models"]["volume"], str(path), "weights do not fit its own config")
        gens.origin["volume"] = str(path)
    elif allow_random:
        vconfig = gens.config
        net = define_network("volume", vconfig)
        gens.origin["volume"] = RANDOM
        _warn_random("volume network")
    else:
        raise CheckpointError(
            "--volume needs the volume network: pass --volume-checkpoint (the final.pt of "
            "`hpt-model train --stage volume`) or --allow-random-model"
        )
    gens.nets["volume"] = net
    gens.volume_config = vconfig
