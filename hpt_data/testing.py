"""The contract of a video source, as one call a plugin's own tests make.

A source plugin is written far from this project, and what breaks it (an id that is no
folder name, a bad file that raises instead of being reported, ``is_materialized`` looking
at the wrong file, options that ``datasets.yaml`` cannot give back) shows up only deep in a
build. :func:`check_source` runs those rules on a small root folder in seconds, with real
files and no stage::

    from hpt_data.testing import check_source

    def test_my_source_keeps_the_contract(tmp_path):
        make_two_small_videos(tmp_path)
        check_source(MySource, {"manifest": "videos.csv"}, tmp_path)

Each broken rule raises ``AssertionError`` with one message naming the rule and what broke
it; pytest shows it as is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hpt_data.errors import HptError
from hpt_data.names import path_name_problem
from hpt_data.sources.base import SourceProblem, SourceScan, VideoRecord, VideoSource
from hpt_data.sources.helpers import probe_video
from hpt_data.sources.registry import list_sources, load_source_class, source_class_problem
from hpt_data.sources.split import SOURCE_SPLITS
from hpt_data.yaml_schema import ConfigLocation, compose_file, load_dataclass, mapping_items
from hpt_data.yaml_schema import to_plain as _to_plain

DATASET = "check"  # the dataset name in the datasets.yaml the round trip writes


@dataclass(frozen=True)
class SourceCheck:
    """What :func:`check_source` saw, for a test that wants to assert more."""

    source: str  # the source's name
    options: Any  # the Options instance, as datasets.yaml gave it back
    videos: list[VideoRecord]  # what scan listed
    problems: list[SourceProblem]  # what scan skipped, with reasons
    checked: list[str]  # ids materialised (where the source makes files) and probed
    through_registry: bool  # whether the options were read by hpt_data.config itself


class _Check:
    """Failure messages that all start with the source's name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, rule: str, detail: str) -> AssertionError:
        return AssertionError(f"check_source({self.name}): {rule}: {detail}")

    def require(self, ok: bool, rule: str, detail: str) -> None:
        if not ok:
            raise self.fail(rule, detail)


def _listing(items: list[str], most: int = 5) -> str:
    more = f" (and {len(items) - most} more)" if len(items) > most else ""
    return "; ".join(items[:most]) + more


def check_source(
    source_cls: type[VideoSource],
    options: Mapping[str, Any] | Any | None,
    root: str | Path,
    *,
    sample: int | None = 3,
) -> SourceCheck:
    """Run the contract of a video source on ``root``; raise ``AssertionError`` at a break.

    Parameters
    ----------
    source_cls : the plugin's ``VideoSource`` subclass
    options : the keys under ``options:`` in ``datasets.yaml`` (a mapping, read exactly as
        the config loader reads it), an ``Options`` instance, or None for the defaults
    root : the dataset's root: a scratch folder (``tmp_path``) that holds, or for a source
        that makes its files will hold, at least one video. Files a source makes there are
        deleted and made again (rule 10); files it only lists are never touched
    sample : how many videos (first by id) rules 8-10 materialise and probe; None for all

    Rules
    -----
    1. The class passes the check made when a source is registered: a ``VideoSource``
       subclass with a ``name``, whose ``Options`` is a dataclass with field types that
       ``datasets.yaml`` can express (``hpt_data.sources.SUPPORTED_TYPES``). If the name is
       registered (entry-point group ``hpt_data.sources``), it loads this very class.
    2. The options survive ``datasets.yaml``: written into one with this source and read
       back (by ``hpt_data.config.load_datasets`` when the source is registered, else by the
       same schema reader) they give equal ``Options``, twice over.
    3. The source, built as ``hpt-data`` builds it, pickles (workers get a copy).
    4. ``scan()`` returns a ``SourceScan`` without raising and lists at least one video.
    5. Every record is a ``VideoRecord``: its ``video_id`` is one safe folder name
       (``hpt_data.sources.path_name_problem``) and unique; ``person_id`` is non-empty text;
       ``source`` is the source's name; ``split`` is ``"unassigned"`` or a split the
       dataset defines itself (``train``, ``test``, ``excluded``; kept by ``split: {by:
       source}``); ``path`` and
       ``ground_truth`` are absolute or under ``root``; it survives ``videos.json`` (JSON
       and back to an equal record).
    6. Skipped files are ``SourceProblem`` values (a path and a one-line reason), not
       exceptions.
    7. A second ``scan()`` gives the same videos and problems (ids must be stable across
       runs: the work folder is keyed by them).
    8. After the source step as the orchestrator runs it (``materialize`` unless
       ``is_materialized``), ``is_materialized`` holds, the video decodes
       (``probe_video``), and no temporary file (``*tmp*``) is left beside it.
    9. For a source that makes its files: running the step again changes no byte and no
       modification time.
    10. For a source that makes its files: with the video (or its ground truth) deleted,
        ``is_materialized`` is False and the step makes it again.
    """
    root = Path(root)
    check = _Check(getattr(source_cls, "name", None) or repr(source_cls))

    # 1. registration
    problem = source_class_problem(source_cls)
    check.require(problem is None, "registration", str(problem))
    registered = _is_registered(source_cls, check)

    # 2. options through datasets.yaml
    given = options
    if given is not None and not isinstance(given, Mapping):
        check.require(
            isinstance(given, source_cls.Options),
            "options",
            f"expected a mapping or a {source_cls.Options.__name__}, got {type(given).__name__}",
        )
    first, source = _through_yaml(source_cls, given, root, registered, check)
    if given is not None and not isinstance(given, Mapping):
        _require_same(given, first, check, "the options given")
    second, _ = _through_yaml(source_cls, first, root, registered, check)
    _require_same(first, second, check, "the options read back")

    # 3. pickling
    try:
        pickle.loads(pickle.dumps(source))
    except Exception as exc:
        detail = f"the source does not pickle: {type(exc).__name__}: {exc}"
        raise check.fail("pickle", detail) from exc

    # 4.-7. the scan
    scan = _scan(source, check)
    _check_records(scan, source_cls.name, root, check)
    _check_problems(scan, check)
    again = _scan(source, check)
    check.require(
        again.videos == scan.videos and again.problems == scan.problems,
        "stable scan",
        "a second scan() gave other records or problems",
    )

    # 8.-10. materialising
    videos = sorted(scan.videos, key=lambda v: v.video_id)[:sample]
    makes_files = type(source).materialize is not VideoSource.materialize
    for video in videos:
        _check_materialize(source, video, makes_files, check)
    return SourceCheck(
        source=source_cls.name,
        options=first,
        videos=scan.videos,
        problems=scan.problems,
        checked=[v.video_id for v in videos],
        through_registry=registered,
    )


# ----------------------------------------------------------------------- registration


def _is_registered(source_cls: type[VideoSource], check: _Check) -> bool:
    """Whether ``source_cls.name`` is registered; refuses a name taken by another class."""
    entries = [e for e in list_sources() if e.name == source_cls.name]
    if not entries:
        return False
    try:
        loaded = load_source_class(source_cls.name)
    except HptError as exc:
        raise check.fail("registration", str(exc)) from None
    check.require(
        loaded is source_cls,
        "registration",
        f"the name {source_cls.name!r} is registered to {entries[0].target} "
        f"[{entries[0].distribution}], not to {source_cls.__module__}:{source_cls.__qualname__}",
    )
    return True


# ----------------------------------------------------------------------- options


def _through_yaml(
    source_cls: type[VideoSource],
    options: Any,
    root: Path,
    registered: bool,
    check: _Check,
) -> tuple[Any, VideoSource]:
    """Options read back from a datasets.yaml that holds them, and the source built on them."""
    dataset: dict[str, Any] = {"source": source_cls.name, "root": str(root.absolute())}
    if options is not None:
        dataset["options"] = _to_plain(dict(options) if isinstance(options, Mapping) else options)
    with tempfile.TemporaryDirectory(prefix="check_source-") as tmp:
        config = Path(tmp) / "datasets.yaml"
        document = {"version": 1, "work_root": str(Path(tmp) / "work"), "datasets": {}}
        document["datasets"][DATASET] = dataset
        try:
            text = yaml.safe_dump(document, sort_keys=False)
        except yaml.YAMLError as exc:
            raise check.fail("options", f"YAML cannot write {options!r}: {exc}") from None
        config.write_text(text, encoding="utf-8")
        try:
            if registered:
                from hpt_data.config import load_datasets

                ds = load_datasets(config).dataset(DATASET)
                return ds.options, ds.make_source()
            read = _read_options(source_cls, config)
        except HptError as exc:
            raise check.fail("options", f"{exc}\n--- datasets.yaml ---\n{text}") from None
    check.require(
        not source_cls.root_must_exist or root.is_dir(),
        "root",
        f"{root} is not a folder (the source sets root_must_exist)",
    )
    return read, source_cls(root, read, dataset=DATASET)


def _read_options(source_cls: type[VideoSource], config: Path) -> Any:
    """``datasets.check.options`` of ``config`` read by the schema reader config.py uses."""
    top = compose_file(config)
    datasets = next(
        e for e in mapping_items(top, ConfigLocation(config, 1, "")) if e.key == "datasets"
    )
    entry = mapping_items(datasets.node, ConfigLocation(config, datasets.line, "datasets"))[0]
    keys = {e.key: e for e in mapping_items(entry.node, ConfigLocation(config, entry.line, ""))}
    key_path = f"datasets.{DATASET}.options"
    if "options" in keys:
        node = keys["options"].node
        loc = ConfigLocation(config, keys["options"].line, key_path)
    else:
        node = yaml.MappingNode(
            "tag:yaml.org,2002:map", [], entry.node.start_mark, entry.node.end_mark
        )
        loc = ConfigLocation(config, entry.line, key_path)
    return load_dataclass(source_cls.Options, node, loc)


def _require_same(expected: Any, got: Any, check: _Check, what: str) -> None:
    same = type(expected) is type(got) and dataclasses.asdict(expected) == dataclasses.asdict(got)
    check.require(
        same,
        "options round trip",
        f"{what} came back from datasets.yaml as {got!r}, not {expected!r}",
    )


# ----------------------------------------------------------------------- scan


def _scan(source: VideoSource, check: _Check) -> SourceScan:
    try:
        scan = source.scan()
    except Exception as exc:
        raise check.fail(
            "scan",
            f"scan() raised {type(exc).__name__}: {exc} (a bad file is a SourceProblem in "
            "the scan; SourceError is for a root the source cannot read at all)",
        ) from exc
    check.require(
        isinstance(scan, SourceScan),
        "scan",
        f"scan() returned {type(scan).__name__}, not a SourceScan",
    )
    return scan


def _check_records(scan: SourceScan, name: str, root: Path, check: _Check) -> None:
    check.require(
        bool(scan.videos),
        "scan",
        f"no videos found under {root} (give check_source a root with at least one usable "
        f"video); problems: {_listing([f'{p.path}: {p.reason}' for p in scan.problems])}",
    )
    not_records = [repr(v)[:80] for v in scan.videos if not isinstance(v, VideoRecord)]
    check.require(not not_records, "records", f"not VideoRecords: {_listing(not_records)}")
    bad_ids = [
        f"{v.video_id!r} {problem}"
        for v in scan.videos
        if (problem := path_name_problem(v.video_id)) is not None
    ]
    check.require(
        not bad_ids,
        "video ids",
        f"{_listing(bad_ids)} (make ids with hpt_data.sources.safe_id)",
    )
    seen: dict[str, int] = {}
    for v in scan.videos:
        seen[v.video_id] = seen.get(v.video_id, 0) + 1
    dupes = sorted(i for i, n in seen.items() if n > 1)
    check.require(not dupes, "video ids", f"not unique: {_listing(dupes)}")

    broken = []
    for v in scan.videos:
        if not isinstance(v.person_id, str) or not v.person_id:
            broken.append(f"{v.video_id}: person_id {v.person_id!r} is not non-empty text")
        if v.source != name:
            broken.append(f"{v.video_id}: source {v.source!r}, not {name!r}")
        if v.split not in ("unassigned", *SOURCE_SPLITS):
            broken.append(
                f"{v.video_id}: split {v.split!r} (leave it 'unassigned', or set one of "
                f"{', '.join(SOURCE_SPLITS)} where the dataset defines its split)"
            )
        for key in ("path", "ground_truth"):
            value = getattr(v, key)
            if value is None and key == "ground_truth":
                continue
            if not isinstance(value, str):
                broken.append(f"{v.video_id}: {key} is a {type(value).__name__}, not text")
            elif not (Path(value).is_absolute() or Path(value).is_relative_to(root)):
                broken.append(f"{v.video_id}: {key} {value!r} is neither absolute nor under root")
        try:
            back = VideoRecord.from_json(json.loads(json.dumps(v.to_json())))
        except (TypeError, ValueError) as exc:
            broken.append(f"{v.video_id}: not plain JSON for videos.json ({exc})")
        else:
            if back != v:
                broken.append(f"{v.video_id}: changes on its way through videos.json")
    check.require(not broken, "records", _listing(broken))


def _check_problems(scan: SourceScan, check: _Check) -> None:
    broken = []
    for p in scan.problems:
        if not isinstance(p, SourceProblem):
            broken.append(f"{p!r:.80} is not a SourceProblem")
        elif not isinstance(p.path, str) or not isinstance(p.reason, str):
            broken.append(f"{p!r:.80}: path and reason must be text")
        elif not p.reason.strip() or "\n" in p.reason:
            broken.append(f"{p.path}: the reason must be one non-empty line, got {p.reason!r}")
    check.require(not broken, "problems", _listing(broken))


# ----------------------------------------------------------------------- materialising


def _files(video: VideoRecord) -> list[Path]:
    """The files that make up a video: its path (every file under it, for a folder) and
    its ground truth."""
    out = []
    for value in (video.path, video.ground_truth):
        if value is None:
            continue
        p = Path(value)
        out += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return out


def _snapshot(video: VideoRecord) -> dict[str, tuple[int, str]]:
    """Modification time (ns) and SHA-256 of each of the video's files that exists."""
    return {
        str(f): (f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in _files(video)
        if f.is_file()
    }


def _step(source: VideoSource, video: VideoRecord, check: _Check, when: str) -> None:
    """The source step as ``hpt_data.orchestrator`` runs it for one video."""
    try:
        if not source.is_materialized(video):
            source.materialize(video)
    except Exception as exc:
        raise check.fail(
            "materialize", f"{video.video_id} ({when}): {type(exc).__name__}: {exc}"
        ) from exc


def _leftovers(before: dict[Path, set[str]]) -> list[str]:
    """New names with ``tmp`` in them in the folders a video's files went to."""
    out = []
    for folder, names in before.items():
        now = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
        out += [str(folder / n) for n in sorted(now - names) if "tmp" in n.lower()]
    return out


def _check_materialize(
    source: VideoSource, video: VideoRecord, makes_files: bool, check: _Check
) -> None:
    folders = {Path(p).parent for p in (video.path, video.ground_truth) if p is not None}
    before = {f: {p.name for p in f.iterdir()} if f.is_dir() else set() for f in folders}
    _step(source, video, check, "first run")
    check.require(
        source.is_materialized(video),
        "materialize",
        f"{video.video_id}: is_materialized() is False after materialize()",
    )
    reason = probe_video(video.path)
    check.require(reason is None, "decodable", f"{video.path}: {reason}")
    left = _leftovers(before)
    check.require(
        not left,
        "materialize",
        f"temporary files left behind: {_listing(left)} (write with hpt_data.sources."
        "atomic_output)",
    )
    if not makes_files:
        return

    snap = _snapshot(video)
    _step(source, video, check, "second run")
    changed = sorted(k for k, v in _snapshot(video).items() if snap.get(k) != v)
    changed += sorted(set(snap) - set(_snapshot(video)))
    check.require(
        not changed,
        "idempotent",
        f"running the source step on a made video changed {_listing(changed)}",
    )

    for key in ("path", "ground_truth"):
        value = getattr(video, key)
        if value is None:
            continue
        target = Path(value)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
        check.require(
            not source.is_materialized(video),
            "recreate",
            f"{video.video_id}: is_materialized() is True with its {key} {value} deleted, "
            "so it would never be made again",
        )
        _step(source, video, check, f"{key} deleted")
        check.require(
            target.exists() and source.is_materialized(video),
            "recreate",
            f"{video.video_id}: {key} {value} was not made again",
        )
    reason = probe_video(video.path)
    check.require(reason is None, "decodable", f"{video.path} (made again): {reason}")
