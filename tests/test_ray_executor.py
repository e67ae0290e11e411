"""The Ray executor: the same shards as the local executor, worker deaths retried, resume,
the in-flight bound, and one-line errors.

One local Ray instance (2 CPUs) serves the whole module; the commands run in this process
find it connected and use it. The tiny synthetic dataset of the end-to-end test is built
once with ``--executor ray`` and once with ``--executor local`` over the same clips.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray
from stages_for_tests import (
    TINY_DATASET,
    SlowSettings,
    SlowStage,
    frame_bytes,
    make_dataset,
    wait_for_file,
)
from test_local_executor import threads_seen
from typer.testing import CliRunner

from hpt_data.cli import app
from hpt_data.executors import RayExecutor
from hpt_data.orchestrator import build
from hpt_data.output_state import assess_output
from hpt_data.shard_tasks import write_dataset_shards
from hpt_data.shards.reading import load_manifest
from hpt_data.shards.writer import sha256_file
from hpt_data.sources.base import VideoRecord
from hpt_data.workdir import VideoDir
from hpt_model.data import ShardFrames

runner = CliRunner()
STAGE_NAMES = ("sample-frames", "remove-bg", "pose2d", "fit-smpl", "render-maps", "voxelize")


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[RayExecutor]:
    """A local Ray instance with 2 CPUs, started the way ``--executor ray`` starts one."""
    if ray.is_initialized():
        pytest.fail("Ray was already connected before this module started its instance")
    executor = RayExecutor(workers=2)
    executor.connect()
    assert ray.cluster_resources()["CPU"] == 2
    yield executor
    executor.close()
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, ray_instance: RayExecutor) -> Path:
    """``work_ray`` built with --executor ray (which also renders the clips), then
    ``work_local`` with --executor local over the same clips."""
    root = tmp_path_factory.mktemp("ray_vs_local")
    config = root / "datasets.yaml"
    config.write_text(TINY_DATASET)
    for executor in ("ray", "local"):
        args = ["build", "-c", str(config), "-d", "tiny", "-q", "--executor", executor]
        args += ["--work-root", str(root / f"work_{executor}")]
        args += ["-w", "2" if executor == "ray" else "1"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "write-shards   frames written:" in result.stdout
    return root


def _frames(shards: Path) -> dict[tuple[str, str, str], dict]:
    out = {}
    for split in load_manifest(shards)["frames"]:
        frames = ShardFrames(shards, split)
        for i in range(len(frames)):
            rec = frames.read(i)
            out[(split, rec["video_id"], rec["frame_id"])] = rec
    return out


@pytest.mark.slow
def test_ray_and_local_builds_write_the_same_shards(builds: Path) -> None:
    by_ray = _frames(builds / "work_ray" / "tiny" / "shards")
    by_local = _frames(builds / "work_local" / "tiny" / "shards")
    assert len(by_ray) >= 4
    assert sorted(by_ray) == sorted(by_local)  # the same frames, none lost or added
    for key, rec in by_ray.items():
        other = by_local[key]
        assert rec.keys() == other.keys()
        for name, value in rec.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == other[name].dtype, (key, name)
                # bit-exact: labels, keypoints, voxels, and also images and depth (every
                # stage is deterministic, whichever process or thread count runs it)
                np.testing.assert_array_equal(value, other[name], err_msg=f"{key} {name}")
            else:
                assert value == other[name], (key, name)


@pytest.mark.slow
def test_ray_shard_tasks_write_the_bytes_of_a_serial_write(
    builds: Path, ray_instance: RayExecutor, tmp_path: Path
) -> None:
    # one Ray task per shard range (ranges of one frame: several tasks per split)
    work = builds / "work_ray" / "tiny"
    listed = json.loads((work / "videos.json").read_text())["videos"]
    videos = [VideoRecord.from_json(v) for v in listed]
    pairs = [(v, VideoDir(work / "videos" / v.video_id)) for v in videos]
    serial = write_dataset_shards(
        "tiny", pairs, tmp_path / "serial", 1 << 20, False, frames_per_range=1
    )
    by_ray = write_dataset_shards(
        "tiny", pairs, tmp_path / "ray", 1 << 20, False, executor=ray_instance, frames_per_range=1
    )
    assert serial.frames == by_ray.frames and sum(serial.frames.values()) >= 4

    def listing(out: Path) -> list[tuple[str, str]]:
        shards = json.loads((out / "manifest.json").read_text())["shards"]
        return [(s["file"].split("/")[1], sha256_file(out / s["file"])) for s in shards]

    assert listing(tmp_path / "serial") == listing(tmp_path / "ray")
    assert len(listing(tmp_path / "ray")) >= 4


@pytest.mark.slow
def test_a_second_ray_build_skips_every_stage(builds: Path) -> None:
    config = builds / "datasets.yaml"
    args = ["build", "-c", str(config), "-d", "tiny", "-q", "--executor", "ray"]
    result = runner.invoke(app, [*args, "--work-root", str(builds / "work_ray")])
    assert result.exit_code == 0, result.output
    for stage in STAGE_NAMES:
        line = next(ln for ln in result.stdout.splitlines() if ln.startswith(stage))
        assert " 0 ok, 2 skipped, 0 failed" in line, line


@pytest.mark.slow
def test_a_second_driver_joins_the_running_cluster(builds: Path) -> None:
    """``--ray-address auto`` from another process attaches to the running instance (as a
    driver on any node of a cluster does) and resumes: everything is already done."""
    config = builds / "datasets.yaml"
    args = ["sample-frames", "-c", str(config), "-d", "tiny", "-q", "--executor", "ray"]
    args += ["--ray-address", "auto", "--work-root", str(builds / "work_ray")]
    proc = subprocess.run(
        [sys.executable, "-m", "hpt_data.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("sample-frames"))
    assert " 0 ok, 2 skipped" in line, line
    assert ray.is_initialized()  # the other driver left this one's instance running


@pytest.mark.slow
@pytest.mark.parametrize("retries", [0, 1])
def test_a_killed_ray_worker_is_retried(
    tmp_path: Path, ray_instance: RayExecutor, retries: int
) -> None:
    """SIGKILL the Ray worker process in the middle of v1's task (it waits on a pause
    file after writing half its output)."""
    pause = tmp_path / "pause"
    pause.write_text("")
    ds = make_dataset(tmp_path, 4, (SlowStage,), {"slow": SlowSettings(str(pause))})
    outcome: dict = {}

    def run() -> None:
        try:
            with RayExecutor(workers=2, retries=retries) as ex:
                outcome["report"] = build(ds, ex, progress=False)
        except BaseException as exc:  # surfaced by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    pid_file = tmp_path / "pid-v1"
    try:
        wait_for_file(pid_file, 90.0)
        worker_pid = int(pid_file.read_text())
        assert worker_pid != os.getpid()
        vdir = ds.dirs.video("v1")
        assert list(vdir.path.glob(".slow.tmp-*/part1.bin"))  # half written, untrusted
        os.kill(worker_pid, signal.SIGKILL)
        if retries:
            pid_file.unlink()
            wait_for_file(pid_file, 90.0)  # the task, rerun by Ray, reached the same point again
            assert int(pid_file.read_text()) != worker_pid
    finally:
        pause.unlink(missing_ok=True)
        thread.join(timeout=120)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    step = next(s for s in outcome["report"].steps if s.step == "slow")
    ids = [o.video_id for o in step.outcomes]
    assert sorted(ids) == ["v0", "v1", "v2", "v3"]  # each video reported exactly once
    states = {o.video_id: o for o in step.outcomes}
    assert all(states[v].state == "ok" for v in ("v0", "v2", "v3"))  # no collateral
    for vid in ("v0", "v2", "v3"):
        assert not list(ds.dirs.video(vid).path.glob(".slow.*"))  # no leftovers
    if retries:
        assert not list(vdir.path.glob(".slow.*"))  # the rerun cleared the killed attempt's
        assert states["v1"].state == "ok"
        assert ds.dirs.video("v1").status("slow")["pid"] != worker_pid
        out = vdir.output("slow")
        assert (out / "part1.bin").read_bytes() == frame_bytes("v1", 1, "")
        assert (out / "part2.bin").read_bytes() == frame_bytes("v1", 2, "")
    else:
        assert states["v1"].state == "failed"
        assert "worker process died 1 time(s)" in states["v1"].error
        status = ds.dirs.video("v1").status("slow")
        assert status["state"] == "failed" and "WorkerCrashedError" in status["error"]
        assert not vdir.output("slow").exists()  # only an untrusted temporary folder is left
        assert assess_output(vdir, ds.stage("slow"), {})[0] == "missing"


def record_interval(path: str) -> int:
    """A task for the in-flight test: writes when it started and ended."""
    start = time.monotonic()
    time.sleep(0.3)
    Path(path).write_text(f"{start} {time.monotonic()}")
    return os.getpid()


@pytest.mark.slow
def test_in_flight_bound_holds(tmp_path: Path, ray_instance: RayExecutor) -> None:
    tasks = [str(tmp_path / f"t{i}") for i in range(4)]
    ex = RayExecutor(workers=2, max_in_flight=1)
    results = list(ex.imap_unordered(record_interval, tasks, step="sample-frames"))
    ex.close()  # it did not start Ray: the module's instance stays up
    assert ray.is_initialized()
    assert [t for t, _ in results] == tasks  # one at a time: in submission order
    spans = sorted(tuple(map(float, Path(t).read_text().split())) for t in tasks)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # never two at once, although 2 CPUs were free


@pytest.mark.slow
def test_a_ray_task_runs_on_the_one_cpu_it_holds(ray_instance: RayExecutor) -> None:
    """Every step asks Ray for one CPU; OpenCV's pool, which Ray leaves at every core,
    is held to it too (as the local executor's workers are: test_local_executor)."""
    ex = RayExecutor(workers=2)
    seen = [r for _, r in ex.imap_unordered(threads_seen, [0, 1], step="remove-bg")]
    ex.close()
    assert seen == [(1, "1")] * 2


@pytest.mark.slow
def test_task_options_follow_the_step_and_retries(ray_instance: RayExecutor) -> None:
    ex = RayExecutor(workers=2, retries=3)
    opts = ex.task_options(ray, "fit-smpl")
    assert opts["num_cpus"] == 1 and opts["max_retries"] == 3
    assert "num_gpus" not in opts  # this instance has no GPU
    assert opts["retry_exceptions"] is False  # stage errors are values, never retried
    assert ex.in_flight_limit(ray) == 4  # twice the instance's 2 CPUs


# ---------------------------------------------------------------------------- errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build(tmp_path: Path, *extra: str) -> tuple[int, str]:
    config = tmp_path / "datasets.yaml"
    config.write_text(TINY_DATASET)
    result = runner.invoke(app, ["build", "-c", str(config), "-d", "tiny", "-q", *extra])
    return result.exit_code, result.output


def test_unreachable_address_is_one_line(tmp_path: Path) -> None:
    port = _free_port()
    start = time.monotonic()
    code, out = _build(tmp_path, "--executor", "ray", "--ray-address", f"ray://127.0.0.1:{port}")
    assert code == 2, out
    assert f"error: cannot reach the Ray cluster at ray://127.0.0.1:{port}" in out
    assert "Traceback" not in out and time.monotonic() - start < 30
    assert not (tmp_path / "work").exists()  # nothing was started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "ray", "--ray-address", "head-node"], "'head-node' is not 'auto'"),
        (["--executor", "ray", "--ray-address", "ray://h:99999"], "'ray://h:99999' is not"),
        (["--ray-address", "auto"], "--ray-address goes with --executor ray"),
        (["--executor", "spark"], "unknown executor 'spark' (available: local, ray)"),
    ],
)
def test_bad_executor_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, out = _build(tmp_path, *args)
    assert code == 2, out
    assert out.count("\n") == 1 and message in out and out.startswith("error: "), out


def test_missing_ray_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    code, out = _build(tmp_path, "--executor", "ray")
    assert code == 2
    assert "error: the ray executor needs Ray: pip install 'hpt[ray]'" in out
