"""Training (issue 9, part 3): stage inputs, schedule, learning check, exact resume, refusals,
and the ``hpt-model train`` command, on CPU with small configs.

The learning check trains every stage in the paper's order on a handful of learnable pairs
(``train_records``) and compares each stage's reconstruction error after training with its
error before and with copying the source. It uses :class:`TinyFeatures` instead of VGG-19
(seconds per step here); the loop, resume and CLI tests use the real VGG-19 (random weights).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset, Subset, default_collate
from train_records import (
    LEARNING_PLAN,
    TinyFeatures,
    collate_batches,
    learn,
    learn_every_stage,
    small_config,
    write_config,
    write_train_shards,
)
from typer.testing import CliRunner

from hpt_model.checkpoints import FINAL, LAST, load_checkpoint
from hpt_model.cli import app
from hpt_model.config import HPTConfig
from hpt_model.data import PairDataset
from hpt_model.data.pairs import SOURCE_FIELDS
from hpt_model.method.inputs import build_stage_inputs, render_heatmaps, scale_boxes
from hpt_model.networks import define_network
from hpt_model.training import StageTrainer, TrainingError, TrainSettings, train
from hpt_model.training.schedule import lr_factor
from hpt_model.vgg import MissingWeightsError

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py

PERSONS, FRAMES = 2, 4  # 8 training pairs


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_train_shards(tmp_path_factory.mktemp("train_shards"), PERSONS, FRAMES)


class CachedPairs(Dataset):
    """A PairDataset whose items are read once per (epoch, index): the tests read each pair
    many times, and decoding 1024² frames dominates otherwise."""

    def __init__(self, pairs: PairDataset) -> None:
        self.pairs = pairs
        self.cache: dict[tuple[int, int], dict] = {}

    def set_epoch(self, epoch: int) -> None:
        self.pairs.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        key = (self.pairs.epoch, index)
        if key not in self.cache:
            self.cache[key] = self.pairs[index]
        return self.cache[key]


@pytest.fixture(scope="module")
def pairs(shards: Path) -> CachedPairs:
    return CachedPairs(PairDataset(shards))


def settings(stage: str, out: Path, **kw) -> TrainSettings:
    base = dict(tensorboard=False, progress=False, num_workers=0, device="cpu", batch_size=2)
    return TrainSettings(stage=stage, out=out, **{**base, **kw})


# --------------------------------------------------------------------------- pure parts


def test_lr_schedule_by_hand() -> None:
    # 10 steps, constant for the first half, then (10 - step) / 5.
    want = [1, 1, 1, 1, 1, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    got = [lr_factor(step, 10, 0.5) for step in range(11)]
    assert got == pytest.approx(want)
    assert lr_factor(3, 4, 1.0) == 1.0  # all constant
    assert lr_factor(0, 4, 0.0) == 1.0 and lr_factor(2, 4, 0.0) == 0.5  # all decaying
    with pytest.raises(ValueError, match="total_steps"):
        lr_factor(0, 0)


def test_heatmaps_peak_at_the_joints_and_scale_with_resolution() -> None:
    joints = torch.tensor([[[512.0, 256.0], [100.0, 900.0]]])
    for size in (64, 128):
        maps = render_heatmaps(joints, size, sigma=16.0)
        assert maps.shape == (1, 2, size, size)
        for j in range(2):
            y, x = divmod(int(maps[0, j].argmax()), size)
            assert abs((x + 0.5) * 1024 / size - joints[0, j, 0]) <= 1024 / size
            assert abs((y + 0.5) * 1024 / size - joints[0, j, 1]) <= 1024 / size
    # the same σ in 1024-frame pixels covers the same share of the image at any size
    mass = [render_heatmaps(joints, s, 16.0)[0, 0].sum() / s**2 for s in (64, 256)]
    assert float(mass[0]) == pytest.approx(float(mass[1]), rel=0.05)


def test_part_boxes_keep_their_centre_at_the_fine_scale() -> None:
    boxes = torch.tensor([[448, 64, 128], [-100, 500, 512]])
    scaled = scale_boxes(boxes, fine_size=64, part_size=16)
    assert scaled.tolist() == [[24, 0, 16], [2, 39, 16]]  # centres 512/16=32 → 24..40, etc.


def test_stage_inputs_have_the_config_sizes(pairs: CachedPairs) -> None:
    config = small_config()
    batch = default_collate([pairs[0], pairs[1]])
    inputs = build_stage_inputs(batch, config, "fine")
    assert inputs.coarse is not None and inputs.fine is not None
    assert inputs.coarse.parsing.shape == (2, 7, 32, 32)
    assert inputs.fine.heatmaps.shape == (2, 29, 64, 64)  # 24 joints, nose, eyes, ears
    assert inputs.coarse.parsing.sum(1).allclose(torch.ones(2, 32, 32))  # soft one-hot
    for part, size in dict(face=16, left_arm=16, right_arm=16, left_leg=32, right_leg=32).items():
        p = inputs.parts[part]
        assert p.source.shape == p.target.shape == (2, 3, size, size)
        assert p.visible.shape == p.complete.shape == (2, 1, size, size)
        assert (p.other_source is None) == (part == "face")
        # what is visible of a part lies inside its complete map
        assert float((p.visible - p.complete).clamp_min(0).sum()) <= 0.05 * float(p.visible.sum())
    assert set(build_stage_inputs(batch, config, "arm").parts) == {"left_arm", "right_arm"}
    assert build_stage_inputs(batch, config, "coarse").parts == {}


# --------------------------------------------------------------------------- learning check


def test_every_stage_learns_below_its_start_and_copying_the_source(
    pairs: CachedPairs, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    figures = learn_every_stage(pairs, small_config(), tmp_path, settings)
    for stage, fig in figures.items():
        ratio = LEARNING_PLAN[stage][1]
        assert fig["end"] < ratio * fig["start"], (stage, fig)
        # end / copy_source over torch seeds 0-4 at 1 thread and 0-1 at 2: worst 0.84 (coarse,
        # seed 4; leg 0.71, fine 0.45 since the offset generators start near the identity);
        # 0.97 is 16 % beyond it and still needs every stage to beat copying the source.
        assert fig["end"] < 0.97 * fig["copy_source"], (stage, fig)


def test_volume_network_learns(shards: Path, tmp_path: Path) -> None:
    """The per-voxel cross-entropy and error rate fall well below their start. Copying the
    source's voxels is right on ~97% of voxels (mostly empty space); the tiny network does not
    get there in a CPU test's budget, so that baseline is reported, not asserted. The rate is
    raised to 2e-3 for the same reason (the paper gives none for this network)."""
    torch.manual_seed(0)
    data = small_config().to_dict()
    data["optim"]["lr"] = 2e-3
    config = HPTConfig.from_dict(data)
    volume_pairs = PairDataset(shards, with_volume=True, source_fields=(*SOURCE_FIELDS, "voxels"))
    batches = collate_batches(volume_pairs, 2)
    trainer = StageTrainer(settings("volume", tmp_path), config)
    before, after = learn(trainer, batches, 100)
    print(
        f"\nvolume: CE {before['ce']:.3f} → {after['ce']:.3f}; error {before['error']:.3f} → "
        f"{after['error']:.3f}; copy-source error {after['copy_source']:.3f}"
    )
    # after / before over torch seeds 0-4, 1 or 2 threads and ATEN_CPU_CAPABILITY=default:
    # CE worst 0.733 (seed 0: 0.8 was 9 % above it), error worst 0.518 (seed 0, 2 threads).
    # 0.85 and 0.6 are 16 % beyond; an untrained network stays near 1.
    assert after["ce"] < 0.85 * before["ce"]
    assert after["error"] < 0.6 * before["error"]


@pytest.mark.parametrize("stage", ["arm", "volume"])
def test_bf16_and_channels_last_paths_run_on_cpu(stage: str, pairs: CachedPairs) -> None:
    """The GPU code paths (bf16 autocast, channels_last), exercised on the CPU."""
    torch.manual_seed(0)
    config = small_config()
    s = settings(stage, Path("unused"), precision="bf16", channels_last="on")
    trainer = StageTrainer(s, config, features=TinyFeatures())
    assert trainer.autocast_dtype == torch.bfloat16 and trainer.channels_last
    trainer.total_steps = 2
    if stage == "volume":
        batch = default_collate([_volume_item(pairs, i) for i in range(2)])
    else:
        batch = default_collate([pairs[0], pairs[1]])
    for _ in range(2):
        losses = trainer.train_step(trainer.inputs(batch))
        assert losses and all(math.isfinite(float(v)) for v in losses.values()), losses
    plain = StageTrainer(settings(stage, Path("unused")), config, features=TinyFeatures())
    assert plain.autocast_dtype is None and not plain.channels_last  # auto: off on the CPU


def _volume_item(pairs: CachedPairs, index: int) -> dict:
    item = dict(pairs[index])
    item["target_voxels"] = torch.zeros(64, 256, 256, dtype=torch.int64)
    item["target_voxels"][20:40, 60:200, 100:160] = 2
    return item


# --------------------------------------------------------------------------- resume


def _parameters(path: Path) -> dict[str, torch.Tensor]:
    models = load_checkpoint(path)["models"]
    return {f"{n}.{k}": v for n, sd in models.items() for k, v in sd.items()}


@pytest.fixture(scope="module")
def coarse_checkpoint(pairs: CachedPairs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coarse_run")
    config = small_config()
    train(settings("coarse", out, epochs=1), config, pairs)
    return out / FINAL


@pytest.mark.parametrize("stage", ["coarse", "arm"])
def test_resume_equals_a_straight_run(
    stage: str, pairs: CachedPairs, coarse_checkpoint: Path, tmp_path: Path
) -> None:
    config = small_config()
    extra = {} if stage == "coarse" else {"coarse_checkpoint": coarse_checkpoint}
    straight = tmp_path / "straight"
    result = train(settings(stage, straight, epochs=2, **extra), config, pairs)
    assert result.step == result.total_steps == 8  # 8 pairs / batch 2 × 2 epochs

    split = tmp_path / "split"
    stopped = train(settings(stage, split, epochs=2, stop_after=3, **extra), config, pairs)
    assert stopped.step == 3 and stopped.checkpoint == split / LAST
    assert not (split / FINAL).exists()
    resumed = train(settings(stage, split, epochs=2, resume=True), config, pairs)
    assert resumed.step == 8

    want, got = _parameters(straight / FINAL), _parameters(split / FINAL)
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)
    if stage == "arm":
        bank = load_checkpoint(split / FINAL)["bank"]
        assert bank["real"] is not None and len(bank["real"]) > 0


def test_colour_augment_changes_the_training_and_resumes_exactly(
    pairs: CachedPairs, tmp_path: Path
) -> None:
    config = small_config()
    train(settings("coarse", tmp_path / "plain", epochs=1), config, pairs)
    swapped = settings("coarse", tmp_path / "straight", epochs=1, colour_augment=True)
    train(swapped, config, pairs)
    split = tmp_path / "split"
    train(settings("coarse", split, epochs=1, stop_after=2, colour_augment=True), config, pairs)
    train(settings("coarse", split, epochs=1, resume=True, colour_augment=True), config, pairs)
    plain, want, got = (_parameters(tmp_path / r / FINAL) for r in ("plain", "straight", "split"))
    assert any(not torch.equal(plain[k], want[k]) for k in want)  # the swaps were applied
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)


def test_resume_refuses_changed_settings(pairs: CachedPairs, tmp_path: Path) -> None:
    config = small_config()
    train(settings("coarse", tmp_path, epochs=1, stop_after=1), config, pairs)
    with pytest.raises(TrainingError, match="keep --epochs"):
        train(settings("coarse", tmp_path, epochs=3, resume=True), config, pairs)
    with pytest.raises(TrainingError, match=r"no last\.pt"):
        train(settings("coarse", tmp_path / "empty", resume=True), config, pairs)


def test_the_stages_chain_through_their_checkpoints(
    pairs: CachedPairs, coarse_checkpoint: Path, tmp_path: Path
) -> None:
    """coarse → face, arm, leg → fine → e2e by their final.pt files, one step each; each
    stage starts from exactly the weights the earlier ones saved."""
    config = small_config()
    two_pairs = Subset(pairs, [0, 1])
    one_step = dict(epochs=1, batch_size=2)
    layer_ckpts = {}
    for kind in ("face", "arm", "leg"):
        s = settings(kind, tmp_path / kind, coarse_checkpoint=coarse_checkpoint, **one_step)
        layer_ckpts[kind] = train(s, config, two_pairs).checkpoint
        assert layer_ckpts[kind] == tmp_path / kind / FINAL
    fine = train(
        settings(
            "fine",
            tmp_path / "fine",
            coarse_checkpoint=coarse_checkpoint,
            face_checkpoint=layer_ckpts["face"],
            arm_checkpoint=layer_ckpts["arm"],
            leg_checkpoint=layer_ckpts["leg"],
            **one_step,
        ),
        config,
        two_pairs,
    )
    fine_models = load_checkpoint(fine.checkpoint)["models"]
    coarse_models = load_checkpoint(coarse_checkpoint)["models"]
    for key, value in coarse_models["coarse"].items():  # frozen: unchanged by the fine stage
        torch.testing.assert_close(fine_models["coarse"][key], value, msg=key)
    for kind, path in layer_ckpts.items():
        trained = load_checkpoint(path)["models"]["layers"]
        for key, value in trained.items():
            if key.startswith(f"generators.{kind}."):
                torch.testing.assert_close(fine_models["layers"][key], value, msg=key)
    # the paper's order: e2e right after the layers, every sub-network with its losses; it
    # goes on with the coarse and layer stages' generators and discriminators
    earlier = dict(
        coarse_checkpoint=coarse_checkpoint,
        face_checkpoint=layer_ckpts["face"],
        arm_checkpoint=layer_ckpts["arm"],
        leg_checkpoint=layer_ckpts["leg"],
    )
    e2e_trainer = StageTrainer(settings("e2e", tmp_path / "e2e-start", **earlier), config)
    e2e_trainer.load_required()
    for name, path in (
        ("coarse_d", coarse_checkpoint),
        *((f"{k}_d", layer_ckpts[k]) for k in layer_ckpts),
    ):
        saved = load_checkpoint(path)["models"][name]
        for key, value in e2e_trainer.nets[name].state_dict().items():
            torch.testing.assert_close(value, saved[key], msg=f"{name}.{key}")
    e2e = train(settings("e2e", tmp_path / "e2e", **earlier, **one_step), config, two_pairs)
    e2e_models = load_checkpoint(e2e.checkpoint)["models"]
    discriminators = {"coarse_d", "face_d", "arm_d", "leg_d", "fine_d"}
    assert set(e2e_models) == {"coarse", "layers", "fine"} | discriminators
    start = {"coarse": coarse_models["coarse"], "layers": fine_models["layers"]}
    start.update({f"{k}_d": load_checkpoint(p)["models"][f"{k}_d"] for k, p in layer_ckpts.items()})
    start["coarse_d"] = coarse_models["coarse_d"]
    moved = sorted(
        name
        for name, before in start.items()
        if any(not torch.equal(v, before[k]) for k, v in e2e_models[name].items())
    )
    assert moved == sorted(start)  # e2e trains every generator and every discriminator
    # the extra fine phase stays an option: e2e from a fine run's weights (--init)
    option = train(
        settings("e2e", tmp_path / "e2e-init", init=fine.checkpoint, **one_step), config, two_pairs
    )
    assert set(load_checkpoint(option.checkpoint)["models"]) == set(e2e_models)


def test_two_processes_under_torchrun_match_one_with_twice_the_batch(
    shards: Path, tmp_path: Path
) -> None:
    """Gradient averaging over 2 ranks × batch 1 = one process with batch 2 (every loss is a
    batch mean and the networks use instance norm), on the CPU with Gloo."""
    cfg_file = write_config(tmp_path / "config.json", small_config(allow_random_vgg=True))
    common = ["train", "--stage", "coarse", "--data", str(shards), "-m", str(cfg_file)]
    common += ["--allow-random-vgg", "--device", "cpu", "--loader-workers", "0", "--epochs", "1"]
    # the VGG-19 in fp32: its bf16 rounding differs between batch 1 and batch 2 (not DDP's)
    common += ["--quiet", "--set", "tensorboard=false", "--set", "vgg_precision=fp32"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    subprocess.run(
        [
            *torchrun,
            "-m",
            "hpt_model.cli",
            *common,
            "--batch-size",
            "1",
            "--out",
            str(tmp_path / "ddp"),
        ],
        check=True,
        env=env,
        timeout=300,
        capture_output=True,
    )
    single = CliRunner().invoke(
        app, [*common, "--batch-size", "2", "--out", str(tmp_path / "single")]
    )
    assert single.exit_code == 0, single.output
    ddp, one = (
        load_checkpoint(tmp_path / "ddp" / FINAL),
        load_checkpoint(tmp_path / "single" / FINAL),
    )
    assert ddp["step"] == one["step"] == 4
    # Conv biases right before an instance norm get zero gradients up to rounding, which Adam
    # turns into full-size steps of arbitrary sign; the networks' outputs ignore them.
    for name in ("coarse", "coarse_d"):
        for key, value in one["models"][name].items():
            if key.endswith("weight"):
                torch.testing.assert_close(ddp["models"][name][key], value, rtol=1e-3, atol=1e-5)
    config = small_config()
    outputs = []
    for state in (ddp, one):
        generator = define_network("coarse", config)
        generator.load_state_dict(state["models"]["coarse"])
        torch.manual_seed(1)
        x = [torch.rand(1, c, 32, 32) for c in (3, config.inputs.num_heatmaps, 7, 1)]
        outputs.append(generator(*x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-3, atol=1e-4)


def test_every_stage_stays_in_step_across_ranks_fed_different_pairs(
    shards: Path, tmp_path: Path
) -> None:
    """DistributedDataParallel reaches every network each stage trains (the layers run
    through PartLayers.forward, the discriminators are wrapped): two ranks on different
    pairs end with identical weights, which moved; unwrapped, the same run drifts apart."""
    result = tmp_path / "ddp.json"
    worker = Path(__file__).with_name("ddp_stage_worker.py")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*torchrun, str(worker), str(shards), str(result)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(result.read_text())
    control = figures.pop("control: coarse, not distributed")
    expected = {
        "coarse": {"coarse", "coarse_d"},
        "face": {"layers", "face_d"},
        "arm": {"layers", "arm_d"},
        "leg": {"layers", "leg_d"},
        "fine": {"fine", "fine_d"},
        "e2e": {"coarse", "layers", "fine", "coarse_d", "face_d", "arm_d", "leg_d", "fine_d"},
        "volume": {"volume"},
    }
    assert {stage: set(nets) for stage, nets in figures.items()} == expected
    for stage, nets in figures.items():
        for name, f in nets.items():
            assert f["moved"] > 1e-4, (stage, name, f)
            assert f["rank_difference"] <= 1e-6, (stage, name, f)
    assert min(f["rank_difference"] for f in control.values()) > 1e-4, control


# --------------------------------------------------------------------------- refusals


def test_refuses_to_start_without_vgg_weights(
    monkeypatch: pytest.MonkeyPatch, shards: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    config = small_config(allow_random_vgg=False)
    with pytest.raises(MissingWeightsError, match="--allow-random-vgg"):
        StageTrainer(settings("coarse", tmp_path / "run"), config)
    cfg_file = write_config(tmp_path / "config.json", small_config())
    result = CliRunner().invoke(
        app, ["train", "--stage", "coarse", "--data", str(shards), "-m", str(cfg_file)]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: VGG-19 weights not found")
    assert "--allow-random-vgg" in lines[0]


@pytest.mark.parametrize(
    ("stage", "flag", "given"),
    [
        ("face", "--coarse-checkpoint", []),
        ("leg", "--coarse-checkpoint", []),
        ("fine", "--face-checkpoint", ["--coarse-checkpoint", "COARSE"]),
        ("e2e", "--coarse-checkpoint", []),
    ],
)
def test_a_missing_earlier_checkpoint_is_one_line(
    stage: str, flag: str, given: list[str], coarse_checkpoint: Path, shards: Path, tmp_path: Path
) -> None:
    cfg_file = write_config(tmp_path / "config.json", small_config())
    given = [str(coarse_checkpoint) if g == "COARSE" else g for g in given]
    args = ["train", "--stage", stage, "--data", str(shards), "--out", str(tmp_path / "run")]
    args += ["--model-config", str(cfg_file), "--allow-random-vgg", "--device", "cpu", *given]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: stage '{stage}' needs") and flag in lines[0]


def test_a_checkpoint_of_the_wrong_stage_is_refused(
    coarse_checkpoint: Path, shards: Path, tmp_path: Path
) -> None:
    config = small_config()
    s = settings(
        "fine",
        tmp_path,
        coarse_checkpoint=coarse_checkpoint,
        face_checkpoint=coarse_checkpoint,
        arm_checkpoint=coarse_checkpoint,
        leg_checkpoint=coarse_checkpoint,
    )
    with pytest.raises(TrainingError, match="holds no trained face layer generator"):
        StageTrainer(s, config).load_required()


# --------------------------------------------------------------------------- the command


def test_cli_trains_a_few_steps_with_tensorboard_and_resumes(shards: Path, tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "config.json", small_config())
    out = tmp_path / "run"
    base = ["train", "--stage", "coarse", "--data", str(shards), "--out", str(out)]
    base += ["-m", str(cfg_file), "--allow-random-vgg", "--loader-workers", "0", "--quiet"]
    base += ["--epochs", "1", "--batch-size", "4", "--set", "log_every=1", "--set", "image_every=1"]
    runner = CliRunner()
    first = runner.invoke(app, [*base, "--max-steps", "1"])
    assert first.exit_code == 0, first.output
    assert "coarse: step 1/2" in first.output
    second = runner.invoke(app, [*base, "--resume"])
    assert second.exit_code == 0, second.output
    assert "coarse: step 2/2" in second.output and (out / FINAL).is_file()
    state = load_checkpoint(out / FINAL)
    assert state["step"] == 2 and state["stage"] == "coarse"
    assert state["config"] == small_config(allow_random_vgg=True).to_dict()
    assert set(state["optimizers"]) == {"g", "d"}
    events = list((out / "tb" / "coarse").glob("events.out.tfevents.*"))
    assert events and sum(e.stat().st_size for e in events) > 1000  # scalars and image grids


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 1), (4, 3), (16, 4)])
def test_default_loader_workers_leave_a_cpu_to_the_loop(
    cpus: int, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a fixed 4 made torch warn on every run on a 2-core machine
    from hpt_model.training.settings import default_loader_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)), raising=False)
    assert default_loader_workers() == workers
    assert TrainSettings(stage="coarse").num_workers == workers
