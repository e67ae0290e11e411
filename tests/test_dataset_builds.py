"""The DeepFashion and Human3.6M fixtures built to shards through every stage, and ``hpt eval``
scoring DeepFashion's official test pairs on them.

What the shards must hold is read here from the fixture's own files (the pairs CSV with the
csv module, the subjects from the folder names), not through the sources, so a source that
misreads them fails. Each build is a few frames (the fit dominates: ~10-30 s on 2 shared
cores) and is made once per module; the iPER build is in test_dataset_sources.py.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.shards.pairs import read_pairs
from hpt_data.shards.reading import load_manifest
from hpt_data.shards.stats import collect_stats

DATA = Path(__file__).parent / "data"
FRAME0 = "000000"  # a photo is frame 0 of its one-frame video

DEEPFASHION = """\
version: 1
work_root: work
datasets:
  deepfashion:
    source: deepfashion
    root: deepfashion
    split: {by: source}
    stages:
      fit-smpl: {min_frames: 1, temporal: false}
    shards: {max_mb: 64}
"""
HUMAN36M = """\
version: 1
work_root: work
datasets:
  human36m:
    source: human36m
    root: human36m
    split: {by: source}
    stages:
      sample-frames: {mode: stride, stride: 2}
    shards: {max_mb: 64}
"""
#: the test photo replaced by an empty studio wall: remove-bg finds no person, and a photo
#: is a one-frame video, so the video fails and its pairs are left out as not built
BLANK = "fashionWOMENDressesid0000000303_7additional.jpg"
#: the train item built (item id_00000002; the other is left out to keep the fit short)
TRAIN_ITEM = "Denimid00000002"


def build(tmp: Path, config: str, dataset: str, failed: int = 0) -> Path:
    """``hpt-data build`` of ``dataset`` under ``tmp`` (``failed`` videos expected to fail:
    the command then exits 1 after writing the others); its shard folder."""
    (tmp / "datasets.yaml").write_text(config)
    args = ["build", "-c", str(tmp / "datasets.yaml"), "-d", dataset, "-w", "1", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == (1 if failed else 0), result.output
    lines = result.output.splitlines()
    assert sum(ln.lstrip().startswith("failed ") for ln in lines) == failed, result.output
    return tmp / "work" / dataset / "shards"


def info_lines(shards: Path, dataset: str) -> list[str]:
    """``hpt-data info`` of the build whose shard folder is ``shards``, line by line."""
    config = shards.parents[2] / "datasets.yaml"
    result = CliRunner().invoke(app, ["info", "-c", str(config), "-d", dataset])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


@pytest.fixture(scope="module")
def deepfashion_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DeepFashion fixture with one train item (2 photos) and the 3 test photos, one of
    them (``BLANK``) blanked, built to shards (~10-30 s)."""
    tmp = tmp_path_factory.mktemp("deepfashion_build")
    root = tmp / "deepfashion"
    shutil.copytree(DATA / "deepfashion", root)
    for photo in (root / "train").iterdir():
        if TRAIN_ITEM not in photo.name:
            photo.unlink()
    wall = np.full((256, 176, 3), 236, np.uint8)
    assert cv2.imwrite(str(root / "test" / BLANK), wall)
    return build(tmp, DEEPFASHION, "deepfashion", failed=1)


def csv_pairs(path: Path) -> list[tuple[str, str]]:
    """(from, to) rows of a PATN pairs CSV, read with the csv module."""
    with open(path, newline="") as fh:
        return [(row["from"], row["to"]) for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_deepfashion_fixture_builds_to_shards_with_its_split_items_and_official_pairs(
    deepfashion_shards: Path,
) -> None:
    shards = deepfashion_shards
    manifest = load_manifest(shards)
    assert manifest["frames"] == {"train": 2, "test": 2}
    persons = {split: dict(c) for split, c in collect_stats(shards).persons.items()}
    assert persons == {"train": {"id_00000002": 2}, "test": {"id_00000003": 2}}
    official = csv_pairs(DATA / "deepfashion" / "fasion-resize-pairs-test.csv")
    kept = [(a, b) for a, b in official if BLANK not in (a, b)]
    assert len(official) == 4 and len(kept) == 2  # the fixture's CSV, as written
    stem = lambda name: name.removesuffix(".jpg")  # noqa: E731
    assert read_pairs(shards, "test") == [((stem(a), FRAME0), (stem(b), FRAME0)) for a, b in kept]
    entry = manifest["pairs"]["test"]
    assert entry["origin"] == "dataset" and entry["pairs"] == 2
    # the blanked photo's two pairs, left out, with the reason
    assert entry["left_out"] == {"video not built": len(official) - len(kept)}
    assert read_pairs(shards, "train") is None  # pair_splits: test only; train samples
    info = info_lines(shards, "deepfashion")
    assert (
        "pairs (scan): train: none listed (sampled in training; exports use the rule); "
        f"test: {len(official)} listed by the dataset"
    ) in info
    assert (
        "pairs (shards): test: 2 stored (the dataset's list; left out 2: video not built 2)"
    ) in info


# the fixture's videos built (3 frames each; stride 2 keeps frames 0 and 2), by subject
H36M_BUILT = {
    "S1": ["Greeting.54138969"],
    "S9": ["Photo.55011271", "Walking 1.54138969"],
    "S11": ["Posing.55011271"],
}


@pytest.mark.slow
def test_human36m_fixture_builds_to_shards_by_subject_with_rule_pairs(
    tmp_path: Path,
) -> None:
    """Subjects S1 (train) and S9, S11 (test: the default subject split), 2 frames per video
    (~15-30 s). Human3.6M defines no pairs, so the test split stores the rule's: every test
    frame a target once, its source the same subject's, from another video where the subject
    has one (S9), else another frame of the same video (S11)."""
    root = tmp_path / "human36m"
    for subject, names in H36M_BUILT.items():
        (root / subject / "Videos").mkdir(parents=True)
        for name in names:
            shutil.copy(DATA / "human36m" / subject / "Videos" / f"{name}.mp4",
                        root / subject / "Videos" / f"{name}.mp4")  # fmt: skip
    shards = build(tmp_path, HUMAN36M, "human36m")
    manifest = load_manifest(shards)
    assert manifest["frames"] == {"train": 2, "test": 6}
    persons = {split: dict(c) for split, c in collect_stats(shards).persons.items()}
    assert persons == {"train": {"S1": 2}, "test": {"S9": 4, "S11": 2}}
    entry = manifest["pairs"]["test"]
    assert entry["origin"] == "rule" and entry["frames_without_pair"] == 0
    pairs = read_pairs(shards, "test")
    video = {  # video id -> (subject, file) as the folder names say
        f"{s}_{n.replace(' ', '_')}": (s, n) for s, names in H36M_BUILT.items() for n in names
    }
    test_frames = sorted(
        (v, f) for v, (s, _) in video.items() if s != "S1" for f in ("000000", "000002")
    )
    assert sorted(target for _, target in pairs) == test_frames  # each a target once
    for source, target in pairs:
        assert source != target and video[source[0]][0] == video[target[0]][0]
        if video[target[0]][0] == "S9":
            assert source[0] != target[0]  # S9 has two videos: the source is in the other
    assert read_pairs(shards, "train") is None
    info = info_lines(shards, "human36m")
    assert (
        "pairs (scan): train: none listed (sampled in training; exports use the rule); "
        "test: none listed (write-shards makes them by the rule)"
    ) in info
    assert "pairs (shards): test: 6 stored (the rule's; 0 frames without a pair)" in info


def save_random_checkpoint(folder: Path) -> Path:
    """A coarse-stage checkpoint of the tiny ``H+S`` model with seeded random weights, saved
    through ``hpt_model.checkpoints`` as training saves one (``<run>/coarse/final.pt``)."""
    import torch

    from hpt_model.checkpoints import CHECKPOINT_VERSION, generator_names, save_checkpoint
    from hpt_model.config import HPTConfig
    from hpt_model.networks import define_network

    config = HPTConfig.tiny("H+S")
    torch.manual_seed(0)
    state = {
        "version": CHECKPOINT_VERSION,
        "stage": "coarse",
        "models": {n: define_network(n, config).state_dict() for n in generator_names(config)},
        "config": config.to_dict(),
        "settings": {"heatmap_sigma": 16.0},
    }
    save_checkpoint(folder / "coarse" / "final.pt", state)
    return folder


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_eval_on_the_deepfashion_build_scores_exactly_its_official_test_pairs(
    deepfashion_shards: Path, tmp_path: Path
) -> None:
    """``hpt eval --pairs stored`` on the build above: the CSV's pairs whose photos reached the
    shards, in the CSV's order, and the count of those left out, with the reason."""
    from pipelines.cli import app as hpt

    run = save_random_checkpoint(tmp_path / "run")
    out = tmp_path / "eval"
    args = ["eval", "--data", str(deepfashion_shards), "--out", str(out), "--pairs", "stored"]
    args += ["--checkpoint", str(run), "--allow-random-lpips", "--no-osa", "-q"]
    result = CliRunner().invoke(hpt, args)
    assert result.exit_code == 0, result.output
    assert "RANDOM backbone, the LPIPS column is untrustworthy" in result.stderr
    official = csv_pairs(DATA / "deepfashion" / "fasion-resize-pairs-test.csv")
    kept = [(a, b) for a, b in official if BLANK not in (a, b)]
    summary = (
        f"2 of the dataset's {len(official)} pairs (2 left out by write-shards: video not built 2)"
    )
    assert f"pairs: {summary}" in result.stdout
    assert summary in (out / "table.md").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    settings = metrics["settings"]
    assert (settings["pairs"], settings["pairs_origin"]) == ("stored", "dataset")
    assert (settings["n_pairs"], settings["n_pairs_listed"]) == (len(kept), len(official))
    assert settings["pairs_left_out"] == {"video not built": len(official) - len(kept)}
    (model,) = metrics["models"]
    scored = [(im["source"], im["target"]) for im in model["images"]]
    assert scored == [
        (f"{a.removesuffix('.jpg')}/{FRAME0}", f"{b.removesuffix('.jpg')}/{FRAME0}")
        for a, b in kept
    ]
    assert all(im["ssim"] < 0.9 for im in model["images"])  # random weights: far off
