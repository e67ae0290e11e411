"""Video sources: the entry-point registry, a contributor's plugin, video_folder, splits, and
the kit for source authors (exported helpers, the registration check, ``check_source``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.errors import ConfigError, SourceError
from hpt_data.sources import (
    SourceScan,
    VideoRecord,
    VideoSource,
    atomic_output,
    path_name_problem,
    probe_video,
    safe_id,
)
from hpt_data.sources.registry import list_sources, load_source_class
from hpt_data.sources.split import SplitRule, assign_splits
from hpt_data.sources.video_folder import VideoFolderOptions, VideoFolderSource
from hpt_data.testing import check_source

REPO = Path(__file__).resolve().parents[1]
HPT_DATA = Path(sys.executable).parent / "hpt-data"


def write_clip(path: Path, frames: int = 8, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((size[1], size[0], 3), (i * 20) % 255, np.uint8)
        cv2.circle(img, (10 + 4 * i, size[1] // 2), 6, (0, 0, 255), -1)
        writer.write(img)
    writer.release()
    return path


def test_builtin_sources_are_registered_through_entry_points() -> None:
    names = {e.name: e for e in list_sources()}
    assert names["video_folder"].target == "hpt_data.sources.video_folder:VideoFolderSource"
    assert names["synthetic"].target == "hpt_data.sources.synthetic:SyntheticSource"
    assert load_source_class("video_folder") is VideoFolderSource
    with pytest.raises(
        SourceError, match=r"unknown video source 'nope' \(registered: .*video_folder"
    ):
        load_source_class("nope")


def test_video_folder_lists_good_clips_and_reports_bad_files(tmp_path: Path) -> None:
    good = write_clip(tmp_path / "anna_walk.mp4")
    (tmp_path / "bert_empty.mp4").write_bytes(b"")
    (tmp_path / "carl_text.mp4").write_text("this is not a video\n")
    (tmp_path / "dora_cut.mp4").write_bytes(good.read_bytes()[:600])  # truncated
    (tmp_path / "notes.txt").write_text("ignored: not a video extension")
    scan = VideoFolderSource(tmp_path).scan()
    assert [(v.video_id, v.person_id) for v in scan.videos] == [("anna_walk", "anna")]
    assert scan.videos[0].path == str(good.resolve())
    reasons = {Path(p.path).name: p.reason for p in scan.problems}
    assert set(reasons) == {"bert_empty.mp4", "carl_text.mp4", "dora_cut.mp4"}
    assert reasons["bert_empty.mp4"] == "empty file (0 bytes)"
    # the stages' reader gives the reasons (hpt_data.sources.probe_video), so they agree
    assert reasons["carl_text.mp4"].startswith("not a video file")
    assert reasons["dora_cut.mp4"].startswith("truncated MP4/MOV")


def test_video_folder_person_from_csv_and_folders_and_image_sequences(tmp_path: Path) -> None:
    (tmp_path / "p1").mkdir()
    write_clip(tmp_path / "p1" / "clip.mp4")
    seq = tmp_path / "p2" / "seq"
    seq.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(seq / f"{i:04d}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    by_folder = VideoFolderSource(tmp_path, VideoFolderOptions(person_from="folder")).scan()
    assert sorted((v.video_id, v.person_id) for v in by_folder.videos) == [
        ("p1__clip", "p1"),
        ("p2__seq", "p2"),  # an image sequence is a video: its parent names the person
    ]
    (tmp_path / "persons.csv").write_text("file,person,action\np1/clip.mp4,alice,walking\n")
    by_csv = VideoFolderSource(tmp_path, VideoFolderOptions(person_from="csv")).scan()
    assert [(v.person_id, v.action) for v in by_csv.videos] == [("alice", "walking")]
    assert [Path(p.path).name for p in by_csv.problems] == ["seq"]
    (tmp_path / "persons.csv").write_text("name,who\n")
    with pytest.raises(SourceError, match=r"persons\.csv:1: expected a header"):
        VideoFolderSource(tmp_path, VideoFolderOptions(person_from="csv")).scan()


def test_video_folder_options_are_checked() -> None:
    with pytest.raises(ValueError, match="named group"):
        VideoFolderOptions(person_pattern=r"^(\w+)")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        VideoFolderOptions(person_pattern=r"(?P<person>")


def _records(persons: int, per_person: int = 2) -> list[VideoRecord]:
    return [
        VideoRecord(f"v{p}-{k}", f"p{p}", "x", "/x", action=f"a{k}")
        for p in range(persons)
        for k in range(per_person)
    ]


def test_split_by_person_is_seeded_disjoint_and_about_the_fraction() -> None:
    videos = _records(20)
    split = assign_splits(videos, SplitRule(by="person", test_fraction=0.1, seed=0))
    test_persons = {v.person_id for v in split if v.split == "test"}
    train_persons = {v.person_id for v in split if v.split == "train"}
    assert len(test_persons) == 2 and not test_persons & train_persons
    again = assign_splits(list(reversed(videos)), SplitRule(test_fraction=0.1, seed=0))
    assert {v.person_id for v in again if v.split == "test"} == test_persons
    other = assign_splits(videos, SplitRule(test_fraction=0.1, seed=1))
    assert {v.person_id for v in other if v.split == "test"} != test_persons


def test_split_by_action_lists() -> None:
    rule = SplitRule(by="action", train_actions=["a0"], test_actions=["a1"])
    split = assign_splits(_records(2, 3), rule)
    assert {v.action: v.split for v in split} == {"a0": "train", "a1": "test", "a2": "excluded"}
    with pytest.raises(ValueError, match="both train and test"):
        SplitRule(by="action", train_actions=["a"], test_actions=["a"])


@pytest.mark.slow
def test_a_contributors_source_installs_and_is_listed(tmp_path: Path) -> None:
    """The README's worked example, pip-installed into a folder and put on the path."""
    site = tmp_path / "site"
    package = shutil.copytree(REPO / "examples" / "hpt-source-example", tmp_path / "pkg")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run(
        [str(HPT_DATA), "sources"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith("csv_manifest"))
    assert "hpt_source_example:CsvManifestSource" in line
    assert "[hpt-source-example]" in line and "options: manifest" in line

    # and a dataset can use it: the scan lands in the work folder
    root = tmp_path / "videos"
    root.mkdir()
    write_clip(root / "a.mp4")
    (root / "videos.csv").write_text("path,person,action\na.mp4,zoe,dance\nb.mp4,zoe,run\n")
    config = tmp_path / "datasets.yaml"
    config.write_text(
        f"version: 1\nwork_root: {tmp_path / 'work'}\ndatasets:\n"
        f"  mine:\n    source: csv_manifest\n    root: {root}\n"
    )
    built = subprocess.run(
        [str(HPT_DATA), "build", "-d", "mine", "-c", str(config), "-w", "1", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # the clip holds no person: remove-bg fails it (and says why), so the run exits 1
    assert built.returncode == 1, built.stderr
    assert "a.mp4: no usable frame" in built.stdout
    assert f"skipped {root / 'b.mp4'}: listed but missing" in built.stdout
    assert (tmp_path / "work" / "mine" / "videos" / "a" / "video.json").exists()

    # the example's own tests, run as its author would after installing it: check_source
    # reads the options through hpt_data.config, since the source is registered now
    own = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert own.returncode == 0, own.stdout + own.stderr
    assert "2 passed" in own.stdout


# --------------------------------------------------------------------------- the kit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anna_walk", "anna_walk"),  # already an id: unchanged
        ("müller 01", "müller-01"),  # Unicode letters stay, the space goes
        ("p1/clip", "p1-clip"),
        ("a b/../c", "a-b-..-c"),  # no separator left, so '..' is harmless inside
        ("..", "__"),
        ("tab\there\n", "tab-here-"),
    ],
)
def test_safe_id_makes_valid_ids(text: str, expected: str) -> None:
    assert safe_id(text) == expected
    assert path_name_problem(safe_id(text)) is None


def test_safe_id_cuts_long_names_apart_and_refuses_empty_text() -> None:
    a, b = safe_id("é" * 200 + "a"), safe_id("é" * 200 + "b")
    assert a != b and len(a.encode()) <= 255 and len(b.encode()) <= 255
    assert path_name_problem(a) is None
    with pytest.raises(ValueError, match="non-empty"):
        safe_id("")


def test_atomic_output_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out" / "clip.mp4"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".mp4"  # writers pick by suffix
        write_clip(tmp)
    assert probe_video(target) is None
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="killed"), atomic_output(target) as tmp:
        tmp.write_bytes(b"half a video")
        raise RuntimeError("killed")
    assert target.read_bytes() == before  # the old file is untouched
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_output(target):
        pass
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.mp4"]  # no temporaries


def test_check_source_passes_video_folder(tmp_path: Path) -> None:
    write_clip(tmp_path / "anna_walk.mp4")
    (tmp_path / "p2").mkdir()
    write_clip(tmp_path / "p2" / "bert_run.avi")
    seq = tmp_path / "cara_seq"
    seq.mkdir()
    for i in range(3):
        cv2.imwrite(str(seq / f"{i:04d}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    (tmp_path / "dora_empty.mp4").write_bytes(b"")
    report = check_source(VideoFolderSource, {"extensions": [".mp4", ".avi"]}, tmp_path)
    assert report.through_registry  # the options went through hpt_data.config
    assert [v.video_id for v in report.videos] == ["anna_walk", "cara_seq", "p2__bert_run"]
    assert [p.reason for p in report.problems] == ["empty file (0 bytes)"]
    assert report.checked == ["anna_walk", "cara_seq", "p2__bert_run"]


def test_check_source_reads_options_as_datasets_yaml_does(tmp_path: Path) -> None:
    write_clip(tmp_path / "anna_walk.mp4")
    with pytest.raises(AssertionError, match=r"options: .*options\.recursiv: unknown key"):
        check_source(VideoFolderSource, {"recursiv": False}, tmp_path)
    with pytest.raises(AssertionError, match=r"expected a mapping or a VideoFolderOptions"):
        check_source(VideoFolderSource, 3, tmp_path)


def test_check_source_passes_the_example_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO / "examples" / "hpt-source-example"))
    from hpt_source_example import CsvManifestSource

    (tmp_path / "clips").mkdir()
    write_clip(tmp_path / "clips" / "a.mp4")
    (tmp_path / "videos.csv").write_text("path,person,action\nclips/a.mp4,zoe,dance\n")
    report = check_source(CsvManifestSource, None, tmp_path)
    assert [(v.video_id, v.person_id) for v in report.videos] == [("clips-a", "zoe")]
    assert not report.through_registry  # not installed here: the schema reader alone


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:tostring:DeprecationWarning")  # PyOpenGL 3.1.0 on numpy
def test_check_source_passes_synthetic(tmp_path: Path) -> None:
    from hpt_data.sources.synthetic import SyntheticSource

    options = {"persons": 1, "clips_per_person": 1, "seconds": 0.25, "fps": 8}
    options |= {"width": 64, "height": 96, "actions": ["wave"]}
    report = check_source(SyntheticSource, options, tmp_path / "synthetic")
    assert report.checked == ["p000-wave"]  # rendered, re-run untouched, deleted and remade


# Sources with one flaw each: check_source must name the rule they break.


class _Clips(VideoSource):
    """Every .mp4 in the root, person 'p'."""

    name = "clips"

    def record(self, path: Path) -> VideoRecord:
        return VideoRecord(path.stem, "p", self.name, str(path))

    def scan(self) -> SourceScan:
        return SourceScan([self.record(p) for p in sorted(self.root.glob("*.mp4"))])


class _UnsafeIds(_Clips):
    def record(self, path: Path) -> VideoRecord:
        return VideoRecord(f"x/{path.stem}", "p", self.name, str(path))


class _SameIds(_Clips):
    def record(self, path: Path) -> VideoRecord:
        return VideoRecord("same", "p", self.name, str(path))


class _RelativePaths(_Clips):
    def record(self, path: Path) -> VideoRecord:
        return VideoRecord(path.stem, "p", self.name, path.name)


class _ChangingIds(_Clips):
    def record(self, path: Path) -> VideoRecord:
        return VideoRecord(uuid.uuid4().hex, "p", self.name, str(path))


class _RaisesOnBadFiles(_Clips):
    def record(self, path: Path) -> VideoRecord:
        reason = probe_video(path)
        if reason is not None:
            raise ValueError(f"{path}: {reason}")
        return super().record(path)


class _Unpicklable(_Clips):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.callback = lambda: None


@dataclass(frozen=True)
class _TupleDefault:
    sizes: list[int] = field(default_factory=lambda: (1, 2))  # type: ignore[arg-type]


class _OptionsChange(_Clips):
    Options = _TupleDefault


class _DictOptions(_Clips):
    Options = dict


class _Made(VideoSource):
    """Plans one clip and renders it on demand, with a ground-truth file: keeps the rules."""

    name = "made"
    root_must_exist = False

    def scan(self) -> SourceScan:
        video = VideoRecord(
            "m1", "p", self.name, str(self.root / "m1.mp4"), ground_truth=str(self.root / "m1.txt")
        )
        return SourceScan([video])

    def is_materialized(self, video: VideoRecord) -> bool:
        return Path(video.path).exists() and Path(str(video.ground_truth)).exists()

    def materialize(self, video: VideoRecord) -> None:
        with atomic_output(str(video.ground_truth)) as tmp:
            tmp.write_text("truth")
        with atomic_output(video.path) as tmp:
            write_clip(tmp)


class _NeverDone(_Made):
    def is_materialized(self, video: VideoRecord) -> bool:
        return False


class _RewritesWhenAsked(_Made):
    def is_materialized(self, video: VideoRecord) -> bool:
        done = super().is_materialized(video)
        if done:  # "refreshes" the truth: a side effect the orchestrator would repeat
            Path(str(video.ground_truth)).write_text("truth")
        return done


class _IgnoresGroundTruth(_Made):
    def is_materialized(self, video: VideoRecord) -> bool:
        return Path(video.path).exists()


class _LeavesTemporaries(_Made):
    def materialize(self, video: VideoRecord) -> None:
        super().materialize(video)
        write_clip(self.root / "m1.tmp.mp4")


@pytest.mark.parametrize(
    ("source_cls", "rule"),
    [
        (_UnsafeIds, r"video ids: 'x/a' has '/' \(a path separator\)"),
        (_SameIds, r"video ids: not unique: same"),
        (_RelativePaths, r"records: a: path 'a.mp4' is neither absolute nor under root"),
        (_ChangingIds, r"stable scan"),
        (_RaisesOnBadFiles, r"scan: scan\(\) raised ValueError: .*b\.mp4: empty file"),
        (_Unpicklable, r"pickle: the source does not pickle"),
        (_OptionsChange, r"options round trip: the options read back"),
        (_DictOptions, r"registration: Options must be a dataclass \(got class dict\)"),
        (_NeverDone, r"materialize: m1: is_materialized\(\) is False after materialize\(\)"),
        (_RewritesWhenAsked, r"idempotent: running the source step on a made video changed"),
        (_IgnoresGroundTruth, r"recreate: m1: is_materialized\(\) is True with its ground_truth"),
        (_LeavesTemporaries, r"materialize: temporary files left behind: .*m1\.tmp\.mp4"),
    ],
)
def test_check_source_names_the_broken_rule(
    tmp_path: Path, source_cls: type[VideoSource], rule: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    if not issubclass(source_cls, _Made):
        write_clip(root / "a.mp4")
        (root / "b.mp4").write_bytes(b"")
    check_source(_Made, None, tmp_path / "made")  # the same shape without the flaw passes
    with pytest.raises(AssertionError, match=rf"check_source\({source_cls.name}\): {rule}"):
        check_source(source_cls, None, root)


# A plugin package with broken Options, installed the way pip installs one: a module and a
# .dist-info folder whose entry_points.txt declares it, on the path.

BROKEN_PLUGINS = """
from dataclasses import dataclass

from hpt_data.sources import SourceScan, VideoSource


class PlainOptions:
    size = 3


class Color:
    pass


@dataclass(frozen=True)
class SetOptions:
    frames: set[int] = frozenset()


@dataclass(frozen=True)
class ColorOptions:
    color: Color | None = None


@dataclass(frozen=True)
class RequiredOptions:
    manifest: str


class Base(VideoSource):
    name = "base"

    def scan(self):
        return SourceScan()


class NotDataclass(Base):
    Options = PlainOptions


class SetField(Base):
    Options = SetOptions


class CustomField(Base):
    Options = ColorOptions


class Required(Base):
    Options = RequiredOptions
"""

ENTRY_POINTS = """[hpt_data.sources]
kit_not_dataclass = kit_broken_plugins:NotDataclass
kit_set_field = kit_broken_plugins:SetField
kit_custom_field = kit_broken_plugins:CustomField
kit_required = kit_broken_plugins:Required
"""


@pytest.fixture
def broken_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    info = site / "kit_broken_plugins-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "kit_broken_plugins.py").write_text(BROKEN_PLUGINS)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kit-broken-plugins\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "kit_not_dataclass",
            "video source 'kit_not_dataclass' (kit_broken_plugins:NotDataclass): "
            "Options must be a dataclass (got class PlainOptions)",
        ),
        (
            "kit_set_field",
            "video source 'kit_set_field' (kit_broken_plugins:SetField): Options.frames has "
            "type set[int], which datasets.yaml cannot express (supported: int, float, str, ",
        ),
        (
            "kit_custom_field",
            "video source 'kit_custom_field' (kit_broken_plugins:CustomField): Options.color "
            "has type kit_broken_plugins.Color | None, which datasets.yaml cannot express",
        ),
    ],
)
def test_unsupported_options_are_refused_in_one_line_at_registration(
    broken_plugins: Path, name: str, message: str
) -> None:
    with pytest.raises(SourceError) as caught:
        load_source_class(name)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_sources_command_lists_broken_plugins_without_a_traceback(broken_plugins: Path) -> None:
    result = CliRunner().invoke(app, ["sources"])
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output
    lines = {ln.split()[0]: ln for ln in result.output.splitlines() if ln.strip()}
    assert lines["kit_not_dataclass"].endswith(
        "options: (broken: video source 'kit_not_dataclass' (kit_broken_plugins:NotDataclass): "
        "Options must be a dataclass (got class PlainOptions))"
    )
    assert "(broken: " in lines["kit_set_field"] and "Options.frames" in lines["kit_set_field"]
    assert lines["kit_required"].endswith("options: manifest")  # required fields are fine
    assert lines["video_folder"].endswith("recursive")  # the others still list


def test_a_required_option_left_out_is_named_in_one_line(broken_plugins: Path) -> None:
    from hpt_data.config import load_datasets

    config = broken_plugins / "datasets.yaml"
    config.write_text(
        f"version: 1\ndatasets:\n  mine:\n    source: kit_required\n    root: {broken_plugins}\n"
    )
    with pytest.raises(ConfigError, match=r"datasets\.yaml:3: datasets\.mine\.options: missing "):
        load_datasets(config)
