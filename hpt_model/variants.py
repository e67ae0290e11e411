"""Which parts of the method are on: the rows of Table IV (§IV-D), the paper's ablation.

A variant names its informative maps (H, S, D), its part layers (none, PL⁻, PL) and the
fine fusion F; it decides which stages exist to train and which networks and inputs they
build. Apart from the sizes and weights of :mod:`hpt_model.config` (whose
:class:`~hpt_model.config.HPTConfig` holds one as ``variant``) since it answers other
questions: what a name like ``H+S+D+PL-`` means, and whether a stage is part of the run.
"""

from __future__ import annotations

from dataclasses import dataclass

PART_KINDS = ("face", "arm", "leg")  # the part-layer generators (§III-C)

MAP_NAMES = ("H", "S", "D")  # pose heatmaps, parsing, depth: Table IV's letters
LAYER_MODES = ("none", "incomplete", "complete")  # no part layers, PL⁻, PL
FULL_VARIANT = "H+S+D+PL+F"
TABLE_IV_VARIANTS: tuple[str, ...] = (
    "H",
    "H+S",
    "H+S+D",
    "H+S+D+PL-",
    "H+S+D+PL",
    FULL_VARIANT,
)


@dataclass
class VariantConfig:
    """Which parts of the method are on: one row of Table IV (§IV-D). Default: all of them.

    - ``maps``: the informative maps every generator takes besides its images (coarse, part
      layers, fine fusion): ``H`` pose heatmaps (always, the pose itself), ``S`` parsing,
      ``D`` depth. Channels are always concatenated in the order S, D, H.
    - ``layers``: ``none`` (the method ends at the coarse stage, upsampled to the fine size),
      ``incomplete`` (PL⁻: layer generators trained to reproduce the visible target crop,
      occluders included) or ``complete`` (PL, §III-C: complete target part map as input,
      completeness discriminator Eq. 1, perceptual loss on the visible part Eq. 2).
    - ``fusion``: F, the fine generator refining Eq. 6's fusion; off, the result is Eq. 6.
    """

    maps: tuple[str, ...] = MAP_NAMES
    layers: str = "complete"
    fusion: bool = True

    def uses(self, letter: str) -> bool:
        """Whether informative map ``letter`` (H, S or D) is a generator input."""
        if letter not in MAP_NAMES:
            raise ValueError(f"unknown informative map {letter!r}; expected one of {MAP_NAMES}")
        return letter in self.maps

    @property
    def has_layers(self) -> bool:
        return self.layers != "none"

    @property
    def name(self) -> str:
        """Table IV's name of the variant, e.g. ``H+S+D+PL-`` (ASCII minus for PL⁻)."""
        tokens = [m for m in MAP_NAMES if m in self.maps]
        tokens += {"none": [], "incomplete": ["PL-"], "complete": ["PL"]}[self.layers]
        return "+".join(tokens + (["F"] if self.fusion else []))

    @classmethod
    def from_name(cls, name: str) -> VariantConfig:
        """Parse ``H+S+D+PL-+F``-style names (any order; ``PL⁻`` and ``full`` accepted)."""
        if name.strip() == "full":
            name = FULL_VARIANT
        tokens = [t.strip().replace("⁻", "-") for t in name.split("+")]
        known = (*MAP_NAMES, "PL-", "PL", "F")
        bad = [t for t in tokens if t not in known]
        if bad or len(set(tokens)) != len(tokens):
            raise ValueError(
                f"variant {name!r}: expected distinct parts from {', '.join(known)} joined by '+'"
            )
        if "PL" in tokens and "PL-" in tokens:
            raise ValueError(f"variant {name!r}: PL and PL- exclude each other")
        layers = "complete" if "PL" in tokens else "incomplete" if "PL-" in tokens else "none"
        variant = cls(
            maps=tuple(m for m in MAP_NAMES if m in tokens), layers=layers, fusion="F" in tokens
        )
        variant.validate()
        return variant

    def stages(self) -> tuple[str, ...]:
        """The training stages of this variant (``volume``, Ours-V's network, always)."""
        stages = ["coarse"]
        if self.has_layers:
            stages += list(PART_KINDS)
        if self.fusion:
            stages += ["fine", "e2e"]
        return (*stages, "volume")

    def check_stage(self, stage: str) -> None:
        """ValueError, in one line, if ``stage`` is not part of this variant."""
        if stage in self.stages():
            return
        if stage in PART_KINDS:
            lacks = "part-based layers (PL)"
        elif stage in ("fine", "e2e"):
            lacks = "fine-scale fusion stage (F)"
        else:
            raise ValueError(f"unknown stage {stage!r}")
        raise ValueError(
            f"stage '{stage}' is not part of variant {self.name}: it has no {lacks}; "
            f"its stages are {', '.join(self.stages())}"
        )

    def validate(self) -> None:
        if not isinstance(self.maps, tuple) or not all(isinstance(m, str) for m in self.maps):
            raise ValueError(f"variant.maps must be a tuple of letters, got {self.maps!r}")
        bad = [m for m in self.maps if m not in MAP_NAMES]
        if bad or len(set(self.maps)) != len(self.maps):
            raise ValueError(
                f"variant.maps: expected distinct letters from {MAP_NAMES}, got {list(self.maps)}"
            )
        if "H" not in self.maps:
            raise ValueError(
                "variant.maps must contain 'H': the pose heatmaps are how the target pose "
                "reaches the generators (every Table IV row has them)"
            )
        if self.layers not in LAYER_MODES:
            raise ValueError(f"variant.layers must be one of {LAYER_MODES}, got {self.layers!r}")
        if not isinstance(self.fusion, bool):
            raise ValueError(f"variant.fusion must be true or false, got {self.fusion!r}")
        if self.fusion and not self.has_layers:
            raise ValueError(
                "variant.fusion needs part layers (variant.layers 'incomplete' or 'complete'): "
                "the fine stage fuses the layers into the coarse result (Eq. 6)"
            )
