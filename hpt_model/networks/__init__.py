"""Networks of the hierarchical generator, one module per family, and their factory.

Names understood by :func:`define_network` / :func:`define_networks`:

============  ===========================================================
name          network
============  ===========================================================
coarse        :class:`CoarseGenerator` (512)
layers        :class:`PartLayers`: face, arm, leg generators (left/right shared)
fine          :class:`FineFusionGenerator` (1024)
coarse_d      :class:`MultiscaleDiscriminator`, 2 scales, conditioned on I_s
fine_d        :class:`MultiscaleDiscriminator`, 3 scales, conditioned on I_s
face_d        :class:`PartDiscriminator` (batch norm)
arm_d, leg_d  :class:`PartDiscriminator` (spectral norm)
volume        :class:`VolumeNetwork` (Ours-V)
============  ===========================================================

A Table IV variant (``config.variant``) builds only the networks it has
(:func:`variant_network_names`): no ``layers`` and part discriminators without PL, no part
discriminators with PL⁻ (it has no completeness loss), no ``fine``/``fine_d`` without F.
Asking for another one is a ValueError naming the variant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import nn

from hpt_model.config import HPTConfig
from hpt_model.networks.coarse import CoarseGenerator
from hpt_model.networks.discriminators import (
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    PartDiscriminator,
    build_part_discriminator,
    build_patch_discriminator,
)
from hpt_model.networks.fusion import FineFusionGenerator, FusionOutput, initial_fusion
from hpt_model.networks.generator import ResnetGenerator, get_norm_layer
from hpt_model.networks.layers import PART_NAMES, PartCrops, PartLayerGenerator, PartLayers
from hpt_model.networks.volume import VolumeNetwork

_BUILDERS: dict[str, Callable[[HPTConfig], nn.Module]] = {
    "coarse": CoarseGenerator,
    "layers": PartLayers,
    "fine": FineFusionGenerator,
    "coarse_d": lambda c: build_patch_discriminator(c, "coarse"),
    "fine_d": lambda c: build_patch_discriminator(c, "fine"),
    "face_d": lambda c: build_part_discriminator(c, "face"),
    "arm_d": lambda c: build_part_discriminator(c, "arm"),
    "leg_d": lambda c: build_part_discriminator(c, "leg"),
    "volume": VolumeNetwork,
}
NETWORK_NAMES: tuple[str, ...] = tuple(_BUILDERS)
PART_DISCRIMINATORS: tuple[str, ...] = ("face_d", "arm_d", "leg_d")


def variant_network_names(config: HPTConfig) -> tuple[str, ...]:
    """The networks that exist in ``config.variant`` (all of them for the full method)."""
    variant = config.variant
    names = []
    for name in NETWORK_NAMES:
        if name in ("layers", *PART_DISCRIMINATORS) and not variant.has_layers:
            continue
        if name in PART_DISCRIMINATORS and variant.layers != "complete":
            continue
        if name in ("fine", "fine_d") and not variant.fusion:
            continue
        names.append(name)
    return tuple(names)


def define_network(name: str, config: HPTConfig) -> nn.Module:
    """Build one network by name (see the module docstring); ValueError if unknown or not
    part of the config's variant."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown network {name!r}; expected one of {NETWORK_NAMES}")
    if name not in variant_network_names(config):
        raise ValueError(
            f"network {name!r} is not part of variant {config.variant.name}; its networks are "
            f"{', '.join(variant_network_names(config))}"
        )
    return _BUILDERS[name](config)


def define_networks(config: HPTConfig, names: Iterable[str] | None = None) -> nn.ModuleDict:
    """Build several networks (all of the variant's by default) into a ModuleDict."""
    names = variant_network_names(config) if names is None else tuple(names)
    return nn.ModuleDict({name: define_network(name, config) for name in names})


__all__ = [
    "NETWORK_NAMES",
    "PART_DISCRIMINATORS",
    "PART_NAMES",
    "CoarseGenerator",
    "FineFusionGenerator",
    "FusionOutput",
    "MultiscaleDiscriminator",
    "NLayerDiscriminator",
    "PartCrops",
    "PartDiscriminator",
    "PartLayerGenerator",
    "PartLayers",
    "ResnetGenerator",
    "VolumeNetwork",
    "define_network",
    "define_networks",
    "get_norm_layer",
    "initial_fusion",
    "variant_network_names",
]
