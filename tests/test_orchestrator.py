"""The orchestrator's promises: skipping, per-video failure, atomic outputs, kill safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from stages_for_tests import (
    FrameSettings,
    SlowSettings,
    SlowStage,
    frame_bytes,
    make_dataset,
    wait_for_file,
)

from hpt_data.executors import LocalExecutor
from hpt_data.orchestrator import build, scan_videos
from hpt_data.output_state import assess_output, dataset_info

TESTS_DIR = Path(__file__).parent


def calls(tmp: Path, video_id: str) -> int:
    log = tmp / "src" / f"{video_id}.calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def made(tmp: Path, video_id: str) -> list[str]:
    log = tmp / "src" / f"{video_id}.made.log"
    return log.read_text().splitlines() if log.exists() else []


def states(report, step: str) -> dict[str, str]:
    summary = next(s for s in report.steps if s.step == step)
    return {o.video_id: o.state for o in summary.outcomes}


def test_second_run_skips_finished_videos(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path)
    with LocalExecutor(workers=1) as ex:
        first = build(ds, ex, progress=False)
        second = build(ds, ex, progress=False)
    assert set(states(first, "frames").values()) == {"ok"}
    assert set(states(second, "frames").values()) == {"skipped"}
    assert set(states(second, "summary").values()) == {"skipped"}
    assert all(calls(tmp_path, f"v{i}") == 1 for i in range(4))
    out = ds.dirs.video("v2").output("frames")
    assert (out / "frame_001.bin").read_bytes() == frame_bytes("v2", 1, "")


def test_a_failing_video_is_recorded_and_the_others_complete(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path, count=3, bad=(1,))
    with LocalExecutor(workers=2) as ex:
        report = build(ds, ex, progress=False)
    frames = states(report, "frames")
    assert frames == {"v0": "ok", "v1-bad": "failed", "v2": "ok"}
    # the failed video does not reach the next stage; the others do
    assert states(report, "summary") == {"v0": "ok", "v2": "ok"}
    status = ds.dirs.video("v1-bad").status("frames")
    assert status["state"] == "failed"
    assert status["error"].endswith("v1-bad.txt: no person in any frame")
    assert not ds.dirs.video("v1-bad").output("frames").exists()
    info = {row["stage"]: row for row in dataset_info(ds)}
    assert info["frames"]["counts"] == {"done": 2, "failed": 1}
    assert info["frames"]["failures"][0][0] == "v1-bad"
    assert report.failed


def test_missing_frame_is_redone_alone_and_downstream_kept(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path)
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, progress=False)
        out = ds.dirs.video("v3").output("frames")
        (out / "frame_002.bin").unlink()
        assert assess_output(ds.dirs.video("v3"), ds.stage("frames"), {})[0] == "incomplete"
        report = build(ds, ex, progress=False)
    assert states(report, "frames") == {
        "v0": "skipped",
        "v1": "skipped",
        "v2": "skipped",
        "v3": "ok",
    }
    assert made(tmp_path, "v3") == [
        "frame_000.bin",
        "frame_001.bin",
        "frame_002.bin",
        "frame_002.bin",
    ]
    # the redone output is byte-identical, so the downstream stage stays up to date
    assert states(report, "summary")["v3"] == "skipped"
    assert (out / "frame_002.bin").read_bytes() == frame_bytes("v3", 2, "")


def test_changed_settings_make_outputs_stale(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path)
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, progress=False)
        ds2 = make_dataset(tmp_path, settings={"frames": FrameSettings(frames=3, salt="x")})
        report = build(ds2, ex, progress=False)
    assert set(states(report, "frames").values()) == {"ok"}
    assert set(states(report, "summary").values()) == {"ok"}  # its input changed
    out = ds2.dirs.video("v0").output("frames")
    assert (out / "frame_000.bin").read_bytes() == frame_bytes("v0", 0, "x")


def test_truncated_output_file_is_not_trusted(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path, count=1)
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, progress=False)
    target = ds.dirs.video("v0").output("frames") / "frame_000.bin"
    target.write_bytes(target.read_bytes()[:10])
    assert assess_output(ds.dirs.video("v0"), ds.stage("frames"), {})[0] == "incomplete"


def test_downstream_stage_alone_is_blocked_without_its_input(tmp_path: Path) -> None:
    from hpt_data.orchestrator import run_stage

    ds = make_dataset(tmp_path, count=2)
    videos = scan_videos(ds).videos
    with LocalExecutor(workers=1) as ex:
        summary = run_stage(ds, ds.stage("summary"), videos, ex, progress=False)
    assert {o.state for o in summary.outcomes} == {"blocked"}
    assert "run frames first" in summary.outcomes[0].error


def _start_slow_build(tmp: Path, pause: Path, retries: int) -> subprocess.Popen:
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); import stages_for_tests as m; "
        f"m.run_slow_build({str(tmp)!r}, {str(pause)!r}, '2', '{retries}')"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
@pytest.mark.parametrize("retries", [0, 1])
def test_sigkilled_worker_leaves_nothing_trusted(tmp_path: Path, retries: int) -> None:
    """A real worker process is killed with SIGKILL in the middle of a stage."""
    pause = tmp_path / "pause"
    pause.write_text("")
    proc = _start_slow_build(tmp_path, pause, retries)
    pid_file = tmp_path / "pid-v1"
    try:
        wait_for_file(pid_file, 60.0)
        worker_pid = int(pid_file.read_text())
        assert worker_pid != proc.pid  # it is a pool worker, not the parent
        ds = make_dataset(tmp_path, 4, (SlowStage,), {"slow": SlowSettings(str(pause))})
        vdir = ds.dirs.video("v1")
        # mid-stage: half of the output exists, but only in an untrusted temporary folder
        assert list(vdir.path.glob(".slow.tmp-*/part1.bin"))
        assert assess_output(vdir, ds.stage("slow"), {})[0] == "missing"
        os.kill(worker_pid, signal.SIGKILL)
        if retries:
            pid_file.unlink()
            wait_for_file(pid_file, 60.0)  # the retried task reached the same point again
            pause.unlink()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("slow ")}
    if retries == 0:
        assert " failed worker process died" in lines["v1"]
        assert not vdir.output("slow").exists()
        assert vdir.status("slow")["state"] == "failed"
        # Python's pool ends every worker when one dies: tasks in flight with v1 fail the
        # same way (that is what retries are for); the rest complete.
        for other in ("v0", "v2", "v3"):
            assert " ok " in lines[other] or "worker process died" in lines[other]
    else:
        assert " ok " in lines["v1"], lines["v1"]  # the killed task, retried
        # a task that finished just before the pool broke loses only its result: when
        # resubmitted it finds its own complete output and skips
        for other in ("v0", "v2", "v3"):
            assert " ok " in lines[other] or " skipped " in lines[other], lines[other]

    # run again, uninterrupted: every output is complete and equals a clean run's
    if pause.exists():
        pause.unlink()
    ds = make_dataset(tmp_path, 4, (SlowStage,), {"slow": SlowSettings(str(pause))})
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, progress=False)
    clean = make_dataset(tmp_path / "clean", 4, (SlowStage,), {"slow": SlowSettings("")})
    with LocalExecutor(workers=1) as ex:
        build(clean, ex, progress=False)
    for vid in ("v0", "v1", "v2", "v3"):
        got = ds.dirs.video(vid).output("slow")
        want = clean.dirs.video(vid).output("slow")
        assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in want.iterdir())
        for name in ("part1.bin", "part2.bin"):
            assert (got / name).read_bytes() == (want / name).read_bytes()
        assert not list(ds.dirs.video(vid).path.glob(".slow.tmp-*"))


# ------------------------------------------------------------------ provenance


def test_stage_json_records_the_settings_and_old_outputs_stay_trusted(tmp_path: Path) -> None:
    """``_stage.json`` records the stage's version and resolved settings beside its
    fingerprint; an output written before that (no settings recorded) is still done."""
    from hpt_data.workdir import write_json_atomic

    ds = make_dataset(tmp_path, count=1, settings={"frames": FrameSettings(frames=2, salt="s")})
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, stages=["frames", "summary"], progress=False)
    vdir = ds.dirs.video("v0")
    manifest = vdir.manifest("frames")
    assert manifest["settings"] == {"frames": 2, "salt": "s"} and manifest["version"] == 1
    assert manifest["fingerprint"] == ds.stage("frames").fingerprint()
    assert vdir.manifest("summary")["settings"] == {}
    for name in ("frames", "summary"):
        old = {k: v for k, v in vdir.manifest(name).items() if k not in ("settings", "version")}
        write_json_atomic(vdir.output(name) / "_stage.json", old)
    for name in ("frames", "summary"):
        stage = ds.stage(name)
        assert assess_output(vdir, stage, ds.upstream_fingerprints(stage))[0] == "done"


def test_fingerprints_of_the_stages_are_unchanged() -> None:
    """Recorded values: recording settings (or moving code) must never change a stage's
    fingerprint, or every existing output would be redone. Changed on purpose: render-maps
    at version 3 (keypoints), voxelize when .binvox files became opt-in (binvox: False, a
    leaf stage, redone once), remove-bg and pose2d at version 2 (every person found and
    tracked: their outputs are redone), remove-bg at version 3 (landmarks refined from the
    heatmap and sampled as MediaPipe samples, found again on the crop; the detector every
    ``detect_every`` frames: its outputs change and are redone), pose2d at version 3
    (``landmarks: remove-bg`` the default, no second Pose pass; MediaPipe's world landmarks
    kept for fit-smpl's 3D term), fit-smpl at version 3 (those world landmarks as terms, on
    by default: every fit is redone). Settings that only add files (remove-bg's ``alpha``)
    or only act on records that carry something new (pose2d's keypoint prior) are left out
    at their defaults (``Stage.extra_files``, ``Stage.late_settings``). remove-bg at version
    4 with ``rescan_every`` (zoomed rescans with ``person: all``, weak and hidden bridging
    find more people: its outputs are redone); at version 5 a zoomed tile's person needs half
    their landmark box inside the frame (no phantom drawn beyond the frame: outputs made
    with rescans, ``person: all`` by default, change and are redone); at version 6
    ``crop_file: matte`` (no colour crop written: the crop is rebuilt from the frame and the
    8-bit matte, which the blend now takes quantised: crops and crop landmarks move by a
    grey level at most, and are redone); at version 7 tracks mended once the video is
    followed (each followed back from its first sighting, tracks split by an occlusion
    stitched, ids renumbered by first sight), people looked for by the landmark model with
    those already found painted out, and with ``person: all`` rescans every 4 frames that
    also peel people off with the landmark model (more people found, longer tracks: its
    outputs change and are redone). fit-smpl at version 4 (landmarks MediaPipe marks
    hidden keep a weight where they lie on the mask, the world term summed over frames:
    every fit is redone). remove-bg at version 8 (its landmark pass on the crop sees the
    frame's window, only other people removed, not the composite over the background
    colour: crop landmarks move and are redone) and pose2d at version 4 (its One Euro
    filter runs forwards and backwards over the video: no lag; every output is redone).
    remove-bg at version 9 (``mirror_pass``: the crop's landmarks are the mean of the
    model's look at the region and at its mirror image, which cancels MediaPipe's sampling
    offset in x and averages the model's noise: crop landmarks move and are redone);
    at version 10 (``reuse_follow_look``: where the person is alone and the crop window
    inside the frame, the crop's landmarks are the follow look's and its mirror look's on
    the frame, moved by the crop's sampling offset, not a look at the crop: crop landmarks
    and world landmarks move and are redone); at version 11 (rescans on zoom-4 tiles too,
    each tile's person looked for with the people already found painted out: more people
    found with ``person: all``, whose outputs change and are redone).
    sample-frames' ``png_encoder`` (its frames through the fast PNG
    encoder by default since issue 19) is left out at its default too: it changes the
    files' bytes, never their pixels, so frames made by libpng stay valid; for the same
    reason remove-bg's masks written 1 bit a pixel (issue 19: the same 0/255 pixels read
    back) and its frames handed to the models as BGR (the same people to the bit) left
    its version at 11, as did ``mirror_pass: alternate`` (a setting value, not the default);
    sample-frames' ``crc32`` of each frame kept in the source only (issue 19: it lets a
    reader seek; outputs without it decode from the first frame, as before) left its
    version as it was. fit-smpl at version 5 (a world bone's direction across the image
    weighs a quarter of its depth slope, ``w_world`` 500: every fit moves and is redone)."""
    from hpt_data.stages import STAGES

    assert {cls.name: cls().fingerprint() for cls in STAGES} == {
        "sample-frames": "60dcaaeb6f117023",
        "remove-bg": "f264ac28c87c99d9",
        "pose2d": "0105c67cd2fc1039",
        "fit-smpl": "1b06fd96814a1c65",
        "render-maps": "1404330577e483c1",
        "voxelize": "0e4d7978771bf1ad",
    }


def test_shard_provenance_names_outputs_made_with_other_settings(tmp_path: Path) -> None:
    """The manifest's provenance is the dataset's; a video whose output was made under
    another fingerprint (write-shards after a settings change) is named with the settings
    its _stage.json recorded, and ``hpt-data info``'s shards line says so."""
    from hpt_data.gather import other_makers
    from hpt_data.provenance import dataset_provenance, describe_settings, shards_line

    ds = make_dataset(tmp_path, count=2, settings={"frames": FrameSettings(frames=2)})
    with LocalExecutor(workers=1) as ex:
        build(ds, ex, stages=["frames", "summary"], progress=False)
    made = dataset_provenance(ds.config, ds.stages)
    assert made["source"] == {
        "name": "list",
        "root": str(tmp_path / "src"),
        "options": {"count": 2, "bad": []},
    }
    assert made["stages"]["frames"]["settings"] == {"frames": 2, "salt": ""}
    assert set(made) >= {"hpt_version", "git_commit", "git_dirty", "split", "stages"}
    videos = [ds.dirs.video("v0"), ds.dirs.video("v1")]
    assert other_makers(made, videos) == made
    manifest = {"generation": "gen-x", "frames": {"train": 3}, "provenance": made}
    assert shards_line(manifest, made).endswith("made with the settings above")

    now = make_dataset(tmp_path, count=2, settings={"frames": FrameSettings(frames=3)})
    later = other_makers(dataset_provenance(now.config, now.stages), videos)
    other = later["stages"]["frames"]["other_fingerprints"]
    assert other == {
        ds.stage("frames").fingerprint(): {
            "videos": ["v0", "v1"],
            "settings": {"frames": 2, "salt": ""},
        }
    }
    assert "other_fingerprints" not in later["stages"]["summary"]
    line = shards_line({**manifest, "provenance": later}, later)
    assert line.endswith("made with other settings than now for: frames")
    assert describe_settings(FrameSettings(frames=2, salt="x")) == "frames=2, salt=x"
    assert describe_settings(FrameSettings()) == "defaults"
    assert shards_line(None, made).startswith("shards: none written yet")
