"""Ray: a video's stages as one task (``--fuse-stages``) against one task per stage, on a
local Ray instance and on a two-node cluster simulated on this machine.

Renders a small synthetic dataset once (``--clips`` clips of ``--frames`` frames at
``--side``², cached in the scratch folder), then builds its stages (sample-frames to
the shards) four times, each into a fresh work folder: stage by stage and fused,
on a local Ray instance of 2 CPUs, then on a "cluster" of two ``ray start`` processes
(a head and a worker node, 1 CPU each, their own ports) that the build joins with
``--ray-address HOST:PORT``. Reported: the stages' wall seconds and seconds per frame of
each build. Skips (and says so in the results file) when Ray is not installed or the
cluster does not start.

    python benchmarks/ray_fused.py [--clips 4] [--frames 8] [--side 512] [--quick]

Prints a table and writes ``benchmarks/results/ray_fused.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "ray_fused.json"
STAGES = "sample-frames,remove-bg,pose2d,fit-smpl,render-maps,voxelize"
HEAD_PORT, HEAD_CLIENT_PORT = 26379, 20001


def config_text(clips: int, frames: int, side: int) -> str:
    return (
        "version: 1\nwork_root: work\ndatasets:\n  bench:\n    source: synthetic\n"
        f"    root: clips\n    options: {{persons: {clips}, clips_per_person: 1, "
        f"seconds: {frames / 5}, fps: 5, width: {side}, height: {side}}}\n"
        "    split: {by: person, test_fraction: 0.0, seed: 0}\n"
        "    stages: {sample-frames: {mode: stride}}\n"
    )


def hpt_data(args: list[str], env: dict[str, str] | None = None) -> float:
    """Run ``hpt-data`` in a fresh process; its wall seconds."""
    start = time.perf_counter()
    cmd = [str(Path(sys.executable).with_name("hpt-data")), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def stage_build(config: Path, work: Path, fuse: bool, extra: list[str], env: dict) -> float:
    """One whole build into ``work`` (the clips already rendered); wall seconds."""
    args = ["build", "-c", str(config), "-d", "bench", "-q", "--work-root", str(work)]
    args += ["--executor", "ray", "-w", "2", *extra]
    if fuse:
        args.append("--fuse-stages")
    return hpt_data(args, env)


def start_cluster(tmp: Path, env: dict[str, str]) -> None:
    """A head and a worker node, 1 CPU each, as two ``ray start`` processes."""
    ray = str(Path(sys.executable).with_name("ray"))
    common = ["--num-cpus=1", "--disable-usage-stats"]
    subprocess.run(
        [ray, "start", "--head", f"--port={HEAD_PORT}",
         f"--ray-client-server-port={HEAD_CLIENT_PORT}", "--include-dashboard=false",
         f"--temp-dir={tmp / 'ray'}", *common],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    subprocess.run(
        [ray, "start", f"--address=127.0.0.1:{HEAD_PORT}", "--node-manager-port=26380",
         "--object-manager-port=26381", "--min-worker-port=26400",
         "--max-worker-port=26499", *common],
        check=True, capture_output=True, env=env, timeout=120,
    )  # fmt: skip


def cluster_pids(temp_dir: Path) -> list[int]:
    """The processes of this benchmark's cluster: those whose command line names its own
    Ray temp folder (every Ray daemon and worker of a node names its session folder)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(temp_dir) in cmd and int(proc.name) != os.getpid():
            pids.append(int(proc.name))
    return pids


def stop_cluster(temp_dir: Path) -> None:
    """End the cluster's processes, by pid: not ``ray stop``, which ends every Ray
    instance on the machine, other people's too."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in cluster_pids(temp_dir):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while cluster_pids(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="synthetic clips (one person each)")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--side", type=int, default=512, help="clip width and height")
    parser.add_argument("--quick", action="store_true", help="2 clips of 4 frames at 256²")
    parser.add_argument("--no-cluster", action="store_true", help="skip the 2-node cluster")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.clips, args.frames, args.side = 2, 4, 256
    result: dict[str, Any] = {
        "benchmark": "ray_fused",
        "what": f"{args.clips} synthetic clips x {args.frames} frames at {args.side}², "
        "every stage and the shards, 2 CPUs",
        "frames": args.clips * args.frames,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        import ray  # noqa: F401
    except ImportError:
        result["skipped"] = "ray is not installed (pip install 'hpt[ray]')"
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(result["skipped"])
        return
    env = dict(os.environ, PYOPENGL_PLATFORM="egl")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # ray start --head turns token authentication on (docs/scale_out.md)
    cluster_env = dict(env, RAY_AUTH_MODE="token")
    builds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hpt-ray-fused-") as tmp_name:
        tmp = Path(tmp_name)
        config = tmp / "datasets.yaml"
        config.write_text(config_text(args.clips, args.frames, args.side))
        # render the clips once, outside the timed builds
        hpt_data(["sample-frames", "-c", str(config), "-d", "bench", "-q", "-w", "2",
                  "--work-root", str(tmp / "render")], env)  # fmt: skip
        for fuse in (False, True):
            name = f"local_{'fused' if fuse else 'per_stage'}"
            builds[name] = stage_build(config, tmp / name, fuse, [], env)
        if not args.no_cluster:
            try:
                start_cluster(tmp, cluster_env)
                address = ["--ray-address", f"127.0.0.1:{HEAD_PORT}"]
                for fuse in (False, True):
                    name = f"two_nodes_{'fused' if fuse else 'per_stage'}"
                    builds[name] = stage_build(config, tmp / name, fuse, address, cluster_env)
            except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
                result["cluster_error"] = str(exc).splitlines()[0][:300]
            finally:
                stop_cluster(tmp / "ray")
        shutil.rmtree(tmp / "ray", ignore_errors=True)
    n = result["frames"]
    result["seconds"] = {k: round(v, 2) for k, v in builds.items()}
    result["ms_per_frame"] = {k: round(1000 * v / n, 1) for k, v in builds.items()}
    for where in ("local", "two_nodes"):
        if f"{where}_fused" in builds:
            ratio = builds[f"{where}_fused"] / builds[f"{where}_per_stage"]
            result[f"{where}_fused_over_per_stage"] = round(ratio, 3)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| build | seconds | ms per frame |\n| --- | --- | --- |")
    for k, v in builds.items():
        print(f"| {k} | {v:.1f} | {1000 * v / n:.0f} |")
    if "cluster_error" in result:
        print(f"two-node cluster skipped: {result['cluster_error']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
