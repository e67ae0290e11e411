"""write-shards in parallel (``hpt_data.shard_tasks``): the same bytes on any number of
workers, the same frames whatever the ranges, and a writer killed mid-run publishes nothing.

The stage outputs are the tiny dataset's (``conftest.tiny_dataset``: real renders, detector,
fits, maps and volumes); every write here goes to a folder of the test's own.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hpt_data.executors import LocalExecutor
from hpt_data.shard_tasks import plan_ranges, write_dataset_shards
from hpt_data.shards.reading import open_shard
from hpt_data.shards.verify import verify_shards
from hpt_data.shards.writer import sha256_file
from hpt_data.sources.base import VideoRecord
from hpt_data.workdir import VideoDir

pytestmark = pytest.mark.slow
MIB = 1 << 20


def _videos(config: Path) -> list[tuple[VideoRecord, VideoDir]]:
    work = config.parent / "work" / "tiny"
    listed = json.loads((work / "videos.json").read_text())["videos"]
    records = [VideoRecord.from_json(v) for v in listed]
    return [(v, VideoDir(work / "videos" / v.video_id)) for v in records]


def _shards(out: Path) -> list[tuple[str, str, int]]:
    """(file name, sha256 of the bytes on disk, frames) of every shard in the manifest."""
    manifest = json.loads((out / "manifest.json").read_text())
    return [
        (Path(s["file"]).name, sha256_file(out / s["file"]), s["frames"])
        for s in manifest["shards"]
    ]


def _frames(out: Path) -> list[tuple[str, int, bytes]]:
    """(video, frame id, voxel bytes) of every frame, in shard order."""
    manifest = json.loads((out / "manifest.json").read_text())
    rows = []
    for s in manifest["shards"]:
        with open_shard(out / s["file"]) as h5:
            for i in range(int(h5.attrs["num_frames"])):
                rows.append(
                    (
                        h5["video_id"][i].decode(),
                        int(h5["frame_id"][i]),
                        np.asarray(h5["voxels"][i]).tobytes(),
                    )
                )
    return rows


def test_two_workers_write_the_bytes_of_a_serial_write(tiny_dataset: Path, tmp_path: Path):
    videos = _videos(tiny_dataset)
    tasks = plan_ranges("tiny", videos, tmp_path, MIB, frames_per_range=3)
    assert len(tasks) >= 4  # 4 frames a video, ranges of 3: both splits cut in two
    serial = write_dataset_shards(
        "tiny", videos, tmp_path / "serial", MIB, False, frames_per_range=3
    )
    with LocalExecutor(workers=2) as ex:
        parallel = write_dataset_shards(
            "tiny", videos, tmp_path / "two", MIB, False, executor=ex, frames_per_range=3
        )
    assert serial.frames == parallel.frames and sum(serial.frames.values()) >= 4
    one, two = _shards(tmp_path / "serial"), _shards(tmp_path / "two")
    assert len(one) >= 4 and one == two  # same names, same bytes, same frame counts
    assert verify_shards(tmp_path / "two").ok

    # each range's span says where it ran: serially here, one after the other; in the pool
    # in the workers, never in this process
    here = f"{socket.gethostname()}:{os.getpid()}"
    assert len(serial.range_spans) == len(parallel.range_spans) == len(tasks)
    assert {s.worker for s in serial.range_spans} == {here}
    in_time = sorted(serial.range_spans, key=lambda s: s.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(in_time))
    assert here not in {s.worker for s in parallel.range_spans}
    assert all(s.start <= s.end for s in parallel.range_spans)

    # the ranges cut the shards, not the frames: one range per split holds the same
    whole = write_dataset_shards("tiny", videos, tmp_path / "whole", 64 * MIB, False)
    assert whole.frames == serial.frames
    assert len(_shards(tmp_path / "whole")) == len(whole.frames)
    assert sorted(_frames(tmp_path / "whole")) == sorted(_frames(tmp_path / "serial"))


def test_a_video_id_longer_than_a_shard_holds_leaves_that_video_out(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    """One line naming the video folder; the other videos are written."""
    import dataclasses

    from hpt_data.shards.schema import TEXT_BYTES

    videos = _videos(tiny_dataset)
    first, vdir = videos[0]
    videos[0] = (dataclasses.replace(first, person_id="p" * (TEXT_BYTES + 1)), vdir)
    summary = write_dataset_shards("tiny", videos, tmp_path / "out", MIB, False)
    assert [video_id for video_id, _ in summary.failed] == [first.video_id]
    reason = summary.failed[0][1]
    assert reason.startswith(f"{vdir.path}: person_id 'ppp") and "\n" not in reason
    assert f"{TEXT_BYTES} UTF-8 bytes" in reason
    assert sum(summary.frames.values()) > 0 and verify_shards(tmp_path / "out").ok


def _writer_child(config: Path, out: Path) -> subprocess.Popen:
    code = (
        "import sys, json; from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_shards_parallel import _videos\n"
        "from hpt_data.shard_tasks import write_dataset_shards\n"
        f"write_dataset_shards('tiny', _videos(Path({str(config)!r})), Path({str(out)!r}), "
        "1 << 20, False, frames_per_range=1)\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_killed_writer_loses_nothing_published(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    write_dataset_shards("tiny", _videos(tiny_dataset), out, MIB, False, frames_per_range=1)
    published = (out / "manifest.json").read_text()
    before = _shards(out)
    rng = np.random.default_rng(0)
    killed = 0
    for _ in range(2):
        gens = len(list(out.glob("gen-*")))
        child = _writer_child(tiny_dataset, out)
        deadline = time.monotonic() + 60
        # wait until the child has made its generation folder, then kill it mid-write
        while len(list(out.glob("gen-*"))) == gens and child.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.returncode != -signal.SIGKILL:
            continue  # it finished first: a new complete set, checked below
        killed += 1
        assert (out / "manifest.json").read_text() == published
        assert _shards(out) == before  # every published shard still there, same bytes
        report = verify_shards(out)
        assert report.ok, report.problems
    assert killed >= 1
    # the next complete run publishes and clears what the killed runs left
    write_dataset_shards("tiny", _videos(tiny_dataset), out, MIB, False, frames_per_range=1)
    assert _shards(out) == before
    assert len(list(out.glob("gen-*"))) == 1 and verify_shards(out).leftovers == []
