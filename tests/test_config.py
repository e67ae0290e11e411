"""datasets.yaml: a good file loads; each kind of mistake names file, line and expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hpt_data.config import load_datasets
from hpt_data.errors import ConfigError
from hpt_data.sources.split import SplitRule

GOOD = """\
version: 1
work_root: out
datasets:
  mine:
    source: video_folder
    root: videos
    options:
      person_from: filename
      recursive: false
    split: {by: person, test_fraction: 0.2, seed: 3}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "videos").mkdir(exist_ok=True)
    path = tmp_path / "datasets.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    cfg = load_datasets(write(tmp_path, GOOD))
    ds = cfg.dataset("mine")
    assert cfg.work_root == tmp_path / "out"
    assert ds.root == tmp_path / "videos"
    assert ds.options.recursive is False
    assert ds.options.person_from == "filename"
    assert ds.split == SplitRule(by="person", test_fraction=0.2, seed=3)


def test_keep_all_turns_on_what_no_later_stage_reads(tmp_path: Path) -> None:
    from hpt_data.orchestrator import Dataset
    from hpt_data.stages.voxelize import VoxelizeSettings

    needed = load_datasets(write(tmp_path, GOOD)).dataset("mine")
    assert needed.keep == "needed"
    stages = Dataset.open(needed, tmp_path / "work").stages
    assert stages["remove-bg"].settings.alpha is False
    assert stages["voxelize"].settings.binvox is False
    text = GOOD + "    keep: all\n    stages:\n      voxelize: {binvox_size: 64}\n"
    every = load_datasets(write(tmp_path, text)).dataset("mine")
    stages = Dataset.open(every, tmp_path / "work").stages
    assert stages["remove-bg"].settings.alpha is True
    # keep: all adds to a stage's own keys, it does not replace them
    assert stages["voxelize"].settings == VoxelizeSettings(binvox=True, binvox_size=64)


def test_the_repository_datasets_yaml_is_valid() -> None:
    repo = Path(__file__).resolve().parents[1]
    cfg = load_datasets(repo / "datasets.yaml")
    assert cfg.dataset("demo").source == "synthetic"


# (what to change in GOOD, the line the error must name, words the message must contain)
BAD = [
    pytest.param(
        GOOD.replace("    source: video_folder", "    sorce: video_folder"),
        5,
        ["datasets.mine.sorce", "unknown key", "did you mean 'source'"],
        id="unknown-key",
    ),
    pytest.param(
        GOOD.replace("test_fraction: 0.2", "test_fraction: lots"),
        10,
        ["datasets.mine.split.test_fraction", "expected a number", "'lots'"],
        id="wrong-type",
    ),
    pytest.param(
        GOOD.replace("root: videos", "root: no/such/folder"),
        6,
        ["datasets.mine.root", "does not exist", "no/such/folder"],
        id="missing-root",
    ),
    pytest.param(
        GOOD.replace("source: video_folder", "source: youtube"),
        5,
        ["datasets.mine.source", "unknown video source 'youtube'", "video_folder"],
        id="unknown-source",
    ),
    pytest.param(
        GOOD.replace("version: 1", "version: 7"),
        1,
        ["version", "unsupported schema version 7"],
        id="bad-version",
    ),
    pytest.param(
        GOOD.replace("    split: {by: person", "    split: {by: persn"),
        10,
        ["datasets.mine.split.by", "expected one of 'person', 'action'", "'persn'"],
        id="bad-choice",
    ),
    pytest.param(
        GOOD.replace("      recursive: false", "      recursive: sometimes"),
        9,
        ["datasets.mine.options.recursive", "expected bool", "'sometimes'"],
        id="bad-option-type",
    ),
    pytest.param(
        GOOD.replace("    source: video_folder\n", ""),
        4,
        ["datasets.mine", "missing required key 'source'"],
        id="missing-key",
    ),
    pytest.param(
        GOOD + "    root: other\n",
        11,
        ["datasets.mine.root", "duplicate key (first given on line 6)"],
        id="duplicate",
    ),
    pytest.param(
        GOOD.replace("    split: {by: person", "    split: [by: person"),
        10,
        ["invalid YAML"],
        id="syntax",
    ),
    pytest.param(
        GOOD.replace("test_fraction: 0.2", "test_fraction: 1.5"),
        10,
        ["datasets.mine.split", "test_fraction must be in [0, 1)"],
        id="out-of-range",
    ),
    pytest.param(
        GOOD + "    stages:\n      sample-frame: {}\n",
        12,
        ["datasets.mine.stages.sample-frame", "unknown key", "did you mean 'sample-frames'"],
        id="unknown-stage",
    ),
    pytest.param(
        GOOD + "    keep: everything\n",
        11,
        ["datasets.mine.keep", "keep must be one of needed, all", "'everything'"],
        id="bad-keep",
    ),
    pytest.param(
        GOOD.replace("datasets:\n", "datasets: 3\nx:\n"),
        4,
        ["unknown key", "x"],
        id="unknown-top-key",
    ),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD)
def test_malformed_file_gives_one_clear_line(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_datasets(path)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}:"), message
    for word in words:
        assert word in message, message


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=r"empty\.yaml:1: the file is empty"):
        load_datasets(empty)
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_datasets(tmp_path / "nope.yaml")


def test_unknown_dataset_name_lists_the_known_ones(tmp_path: Path) -> None:
    cfg = load_datasets(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"no dataset named 'other' \(datasets: mine\)"):
        cfg.dataset("other")
