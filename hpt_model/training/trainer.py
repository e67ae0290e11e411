"""One stage's trainer: :class:`StageTrainer` owns the stage's networks, optimisers, VGG
loss and complete-part bank on one device, loads the earlier stages' weights it starts from,
runs steps at the scheduled rate and gives its checkpoint state.

Apart from the loop (:func:`~hpt_model.training.loop.train`) so that tests, the DDP worker
and the speed benchmark step a stage without epochs, data loading or logging.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hpt_model.checkpoints import (
    CHECKPOINT_VERSION,
    FINAL,
    check_pose_inputs,
    checkpoint_config,
    load_checkpoint,
    part_weights,
    rng_state,
    set_rng_state,
)
from hpt_model.config import HPTConfig
from hpt_model.errors import TrainingError
from hpt_model.losses import VGGPerceptualLoss
from hpt_model.method import LAYER_STAGES, StageInputs, build_stage_inputs, to_device
from hpt_model.networks import define_networks
from hpt_model.training.bank import CompletePartBank
from hpt_model.training.distributed import DistInfo, is_trained, replicate_trained
from hpt_model.training.schedule import lr_factor, set_learning_rate
from hpt_model.training.settings import TrainSettings
from hpt_model.training.steps import (
    Losses,
    StepContext,
    discriminator_parameters,
    generator_parameters,
    prepare_networks,
    stage_networks,
    train_step,
)
from hpt_model.vgg import VGG19Features, load_vgg19

# stage → (settings field, network to load, what to load it from) that must be given
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "face": (("coarse_checkpoint", "coarse"),),
    "arm": (("coarse_checkpoint", "coarse"),),
    "leg": (("coarse_checkpoint", "coarse"),),
    "fine": (
        ("coarse_checkpoint", "coarse"),
        ("face_checkpoint", "face"),
        ("arm_checkpoint", "arm"),
        ("leg_checkpoint", "leg"),
    ),
    "e2e": (  # the paper's order: coarse → layers → e2e; or --init (a fine run, an option)
        ("coarse_checkpoint", "coarse"),
        ("face_checkpoint", "face"),
        ("arm_checkpoint", "arm"),
        ("leg_checkpoint", "leg"),
    ),
}
_WHAT = {
    "coarse": "the trained coarse generator",
    "face": "the trained face layer generator",
    "arm": "the trained arm layer generator",
    "leg": "the trained leg layer generator",
    "fine": "the trained fine stage",
}


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 convolutions natively here (AVX512-BF16 or AMX); elsewhere
    bf16 is emulated and slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _load_into(module: nn.Module, state: Mapping[str, Tensor], where: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise TrainingError(
            f"{where}: weights do not fit this config (trained with another one?): {first}"
        ) from exc


class StageTrainer:
    """One stage's networks, optimisers, VGG loss and bank on one device; steps and saves.

    Construction loads the VGG-19 first, so a run without weights (and without
    ``loss.allow_random_vgg``) refuses at once with :class:`~hpt_model.vgg.MissingWeightsError`.
    A stage that ``config.variant`` lacks (e.g. ``face`` for Table IV's H+S+D) is refused at
    once with a one-line TrainingError. ``features`` replaces the VGG-19 by another frozen
    extractor with its interface (image (B, 3, H, W) in [-1, 1] → five feature maps at 1,
    1/2, … 1/16 of H): tests use a small one, VGG-19 costing seconds per step on two CPU
    cores.
    """

    def __init__(
        self,
        settings: TrainSettings,
        config: HPTConfig,
        device: torch.device | None = None,
        info: DistInfo | None = None,
        features: nn.Module | None = None,
    ) -> None:
        try:
            config.variant.check_stage(settings.stage)
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc
        self.settings = settings
        self.config = config
        self.stage = settings.stage
        self.info = info or DistInfo()
        self.device = device or torch.device("cpu")
        cuda = self.device.type == "cuda"
        bf16 = settings.precision == "bf16" or (
            settings.precision == "auto" and cuda and torch.cuda.is_bf16_supported()
        )
        self.autocast_dtype = torch.bfloat16 if bf16 else None
        self.channels_last = settings.channels_last == "on" or (
            settings.channels_last == "auto" and cuda
        )
        vgg_loss = None
        if self.stage != "volume":
            if features is None:
                features = load_vgg19(config.loss.vgg_weights_path, config.loss.allow_random_vgg)
            vgg_loss = VGGPerceptualLoss(
                features,  # type: ignore[arg-type]
                config.loss.vgg_layer_weights,
                cpu_bf16=self._vgg_bf16(settings.vgg_precision, features),
            )
            vgg_loss.to(self.device)
        self.nets = define_networks(config, stage_networks(self.stage, config)).to(self.device)
        if self.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        prepare_networks(self.stage, self.nets)
        optim = config.optim
        betas = (optim.beta1, optim.beta2)
        self.optimizers = {
            "g": torch.optim.Adam(generator_parameters(self.stage, self.nets), optim.lr, betas)
        }
        d_params = discriminator_parameters(self.stage, self.nets)
        if d_params:
            self.optimizers["d"] = torch.optim.Adam(d_params, optim.lr, betas)
        complete = config.variant.layers == "complete"
        self.bank = (
            CompletePartBank(settings.bank_size)
            if self.stage in LAYER_STAGES and complete
            else None
        )
        self.banks = (  # e2e: the completeness discriminators' banks, one per layer kind
            {kind: CompletePartBank(settings.bank_size) for kind in LAYER_STAGES}
            if self.stage == "e2e" and complete
            else None
        )
        self.ctx = StepContext(
            stage=self.stage,
            config=config,
            nets=self.nets,
            optimizers=self.optimizers,
            vgg_loss=vgg_loss,
            bank=self.bank,
            banks=self.banks,
            autocast=self._autocast,
        )
        self.step = 0
        self.total_steps = 1
        self.length_fixed = False  # total_steps set by a wall budget (training/budget.py)

    def _vgg_bf16(self, vgg_precision: str, features: nn.Module) -> bool:
        """Whether the perceptual network runs in bf16 on this CPU (``vgg_precision``; auto:
        the VGG-19 of a CPU step in fp32, on a CPU with native bf16; a stand-in extractor
        such as the tests' stays in fp32). On a GPU it follows ``precision``."""
        if self.device.type != "cpu" or self.autocast_dtype is not None:
            return False
        if vgg_precision == "auto":
            return isinstance(features, VGG19Features) and cpu_has_native_bf16()
        return vgg_precision == "bf16"

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------------------ weights

    def load_required(self) -> None:
        """Load the earlier stages' weights this stage starts from (see ``_REQUIRED``);
        a missing one is a one-line TrainingError naming the flag."""
        s = self.settings
        for flag, what in _REQUIRED.get(self.stage, ()):
            path = getattr(s, flag)
            if path is None and self.stage == "e2e" and s.init is not None:
                continue  # e2e from a fine run (--init) holds every generator
            if path is None:
                raise TrainingError(
                    f"stage '{self.stage}' needs {_WHAT[what]}: pass {_flag(flag)} PATH "
                    f"(the {FINAL} of `hpt-model train --stage {what}`)"
                    + (", or --init a fine stage's" if self.stage == "e2e" else "")
                )
            if flag != "init":
                self._load_network(path, what, _flag(flag))
        if s.init is not None:
            self._load_all(s.init)

    def _load_network(self, path: Path, what: str, flag: str) -> None:
        state = load_checkpoint(path)
        check_pose_inputs(state, self.config, f"{flag} {path}")
        models = state["models"]
        if what == "coarse":
            if "coarse" not in models:
                raise TrainingError(f"{flag} {path}: holds no coarse generator")
            _load_into(self.nets["coarse"], models["coarse"], f"{flag} {path}")
            if "coarse_d" in self.nets and "coarse_d" in models:  # e2e goes on with it
                _load_into(self.nets["coarse_d"], models["coarse_d"], f"{flag} {path}")
            return
        if state.get("stage") not in (what, "fine", "e2e") or "layers" not in models:
            raise TrainingError(
                f"{flag} {path}: a '{state.get('stage')}' checkpoint holds no trained {what} "
                "layer generator"
            )
        saved_layers = checkpoint_config(state, f"{flag} {path}").variant.layers
        if saved_layers != self.config.variant.layers:
            raise TrainingError(
                f"{flag} {path}: its {what} layers were trained as '{saved_layers}' part "
                f"layers, this variant ({self.config.variant.name}) needs "
                f"'{self.config.variant.layers}' ones"
            )
        generator = self.nets["layers"].generators[what]
        _load_into(generator, part_weights(models["layers"], what), f"{flag} {path}")
        d_name = f"{what}_d"  # e2e goes on with the layer stage's discriminator and bank
        if d_name in self.nets and d_name in models and state.get("stage") == what:
            _load_into(self.nets[d_name], models[d_name], f"{flag} {path}")
            if self.banks is not None and state.get("bank") is not None:
                self.banks[what].load_state_dict(state["bank"])

    def _load_all(self, path: Path) -> None:
        """Every network of the checkpoint that this stage builds (the --init weights)."""
        state = load_checkpoint(path)
        check_pose_inputs(state, self.config, f"--init {path}")
        models = state["models"]
        shared = [name for name in self.nets if name in models]
        if not shared:
            raise TrainingError(f"--init {path}: holds none of {list(self.nets)}")
        for name in shared:
            _load_into(self.nets[name], models[name], f"--init {path}")

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "stage": self.stage,
            "step": self.step,
            "total_steps": self.total_steps,
            "length_fixed": self.length_fixed,
            "models": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "bank": None if self.bank is None else self.bank.state_dict(),
            "banks": None
            if self.banks is None
            else {k: b.state_dict() for k, b in self.banks.items()},
            "config": self.config.to_dict(),
            "settings": self.settings.to_dict(),
            "rng": rng_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any], where: str = "checkpoint") -> None:
        if state["stage"] != self.stage:
            raise TrainingError(f"{where}: a '{state['stage']}' checkpoint, not '{self.stage}'")
        for name, net in self.nets.items():
            _load_into(net, state["models"][name], where)
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        if self.bank is not None and state.get("bank") is not None:
            self.bank.load_state_dict(state["bank"])
        if self.banks is not None and state.get("banks") is not None:
            for kind, bank in self.banks.items():
                bank.load_state_dict(state["banks"][kind])
        self.step = int(state["step"])
        self.total_steps = int(state["total_steps"])
        self.length_fixed = bool(state.get("length_fixed", False))
        set_rng_state(state["rng"])

    # ------------------------------------------------------------------ stepping

    def inputs(self, batch: Mapping[str, Any]) -> StageInputs:
        """A collated PairDataset batch (any device) → this stage's inputs on the device."""
        on_device = to_device(batch, self.device, self.channels_last)
        return build_stage_inputs(
            on_device,
            self.config,
            self.stage,
            self.settings.heatmap_sigma,
            self.settings.complete_threshold,
        )

    def learning_rate(self) -> float:
        optim = self.config.optim
        return optim.lr * lr_factor(self.step, self.total_steps, optim.constant_fraction)

    def train_step(self, inputs: StageInputs) -> Losses:
        """Set the scheduled rate, run one step, count it; returns the named losses."""
        lr = self.learning_rate()
        for opt in self.optimizers.values():
            set_learning_rate(opt, lr)
        losses = train_step(self.ctx, inputs)
        self.step += 1
        return losses

    def compile(self) -> None:
        """torch.compile the trained networks in place (state-dict keys unchanged)."""
        for net in self.nets.values():
            if is_trained(net):
                net.compile()

    def distribute(self) -> None:
        """Under torchrun, wrap the trained networks in DistributedDataParallel and take the
        others from rank 0 (no-op for one process). Call after loading weights and compiling:
        checkpoints keep holding the plain networks' state dicts."""
        self.ctx.replicas = replicate_trained(self.nets, self.info, self.device)
