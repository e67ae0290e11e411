"""Ray's overhead on one machine: the demo build with ``local`` and with ``ray``, side by side.

Each executor builds the embedded ``demo`` dataset (the one in ``datasets.yaml``) from
scratch in its own temporary folder, clips rendered included, in a fresh child process
(so neither inherits the other's loaded models). Per step it records the wall time and the
sum of the per-video task times (the work itself, the figure the scale-out estimate in
docs/scale_out.md starts from); for ``ray`` also the time to start the local instance.
Each executor builds ``--repeats`` times (in the order local, ray, ray, local, ...) and the
best time per step is kept, since load from other jobs only ever adds. The machine's load
average is written beside the figures: on a shared machine compare ratios, not seconds.

    python benchmarks/executor_overhead.py [--workers 2] [--limit N] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "executor_overhead.json"
REPO = Path(__file__).resolve().parent.parent


def build_once(executor: str, workers: int, limit: int | None, tmp: Path) -> dict[str, Any]:
    """One full demo build with ``executor``; returns its timings (run in a child)."""
    from hpt_data.config import load_datasets
    from hpt_data.executors import make_executor
    from hpt_data.orchestrator import (
        Dataset,
        materialize_videos,
        run_stage,
        scan_videos,
        write_shards,
    )

    start = time.perf_counter()
    demo = load_datasets(REPO / "datasets.yaml").dataset("demo")
    config = dataclasses.replace(demo, root=tmp / "clips")
    ds = Dataset.open(config, tmp / "work")
    steps: dict[str, dict[str, float]] = {}
    t = time.perf_counter()
    with make_executor(executor, workers) as ex:  # ray: starts its local instance here
        startup = time.perf_counter() - t
        scan = scan_videos(ds, limit)
        summaries = [materialize_videos(ds, scan.videos, ex, progress=False)]
        outcomes = {o.video_id: o.state for o in summaries[0].outcomes}
        alive = [v for v in scan.videos if outcomes[v.video_id] in ("ok", "skipped")]
        for stage in ds.stages.values():
            summary = run_stage(ds, stage, alive, ex, progress=False)
            summaries.append(summary)
            ok = {o.video_id for o in summary.outcomes if o.state in ("ok", "skipped")}
            alive = [v for v in alive if v.video_id in ok]
        for s in summaries:
            steps[s.step] = {
                "wall_s": round(s.seconds, 2),
                "task_s_sum": round(sum(o.seconds for o in s.outcomes), 2),
                "ok": s.count("ok"),
                "failed": s.count("failed") + s.count("blocked"),
            }
            if s.failures:
                steps[s.step]["first_error"] = f"{s.failures[0].video_id}: {s.failures[0].error}"
        t = time.perf_counter()
        shards = write_shards(ds, alive, progress=False)
        steps["write-shards"] = {"wall_s": round(time.perf_counter() - t, 2)}
    return {
        "startup_s": round(startup, 2),
        "steps": steps,
        "total_wall_s": round(time.perf_counter() - start, 2),
        "videos": len(scan.videos),
        "frames": dict(shards.frames),
    }


def _child(executor: str, workers: int, limit: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"hpt-bench-{executor}-") as tmp:
        code = (
            "import json, sys; from pathlib import Path; "
            f"sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import executor_overhead as b; "
            f"print('RESULT ' + json.dumps(b.build_once({executor!r}, {workers}, {limit!r}, "
            f"Path({tmp!r}))))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
        )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the {executor} build failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per step, the shortest wall time over the repeats (load spikes only ever add)."""
    steps = {step: min(r["steps"][step]["wall_s"] for r in runs) for step in runs[0]["steps"]}
    return {
        "total_wall_s": min(r["total_wall_s"] for r in runs),
        "startup_s": min(r["startup_s"] for r in runs),
        "steps_wall_s": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N videos")
    parser.add_argument(
        "--repeats", type=int, default=2, help="builds per executor, in the order L R R L ..."
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    load_before = os.getloadavg()
    order = [("local", "ray"), ("ray", "local")]
    runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    for i in range(args.repeats):
        for name in order[i % 2]:
            runs[name].append(_child(name, args.workers, args.limit))
            print(f"{name:<6} build {len(runs[name])}: {runs[name][-1]['total_wall_s']} s")
    frames = {json.dumps(r["frames"], sort_keys=True) for rs in runs.values() for r in rs}
    if len(frames) != 1:
        raise SystemExit(f"the builds differ in their frames: {sorted(frames)}")
    best = {name: _best(rs) for name, rs in runs.items()}
    local, ray = best["local"], best["ray"]
    ratios = {
        step: round(ray["steps_wall_s"][step] / max(t, 1e-9), 2)
        for step, t in local["steps_wall_s"].items()
    }
    result = {
        "benchmark": "executor_overhead",
        "dataset": "demo",
        "workers": args.workers,
        "limit": args.limit,
        "repeats": args.repeats,
        "best": best,
        "ratio_ray_over_local": {"total": round(ray["total_wall_s"] / local["total_wall_s"], 2)}
        | ratios,
        "runs": runs,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "note": "shared machine: other jobs ran at the same time; best of the repeats per step",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for name, b in best.items():
        per_step = ", ".join(f"{k} {v}" for k, v in b["steps_wall_s"].items())
        print(f"{name:<6} best total {b['total_wall_s']} s (startup {b['startup_s']}): {per_step}")
    print(f"ray / local: {result['ratio_ray_over_local']}")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
