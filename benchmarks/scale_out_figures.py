"""``docs/scale_out.md``'s sizing table, computed from ``benchmarks/results/chain.json``.

Nothing in it is typed by hand: the per-frame CPU time of every stage (``cpu_ms_per_frame``,
this process's CPU, which hardly changes with the machine's load, unlike wall time), the
scratch bytes per frame (the stages' folders, ``keep: needed``) and the shard bytes per
frame of ``benchmarks/chain.py``'s one run are scaled to a corpus of 1M and 10M kept
frames, and to wall time on N nodes under the assumptions named in ``ASSUMPTIONS``.
``benchmarks/figures.py`` writes it between the figures markers of ``docs/scale_out.md``;
``tests/test_benchmark_figures.py`` checks the file holds it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SCALE_OUT = ROOT / "docs" / "scale_out.md"

CORPUS_FRAMES = (1_000_000, 10_000_000)  # kept frames
NODES = (1, 4, 16, 64)
CORES_PER_NODE = 16
BUSY = 0.75  # share of the cores busy on average (each stage's last tasks leave cores idle)
ASSUMPTIONS = (
    f"nodes of {CORES_PER_NODE} cores, one task per core, {BUSY:.0%} of the cores busy on "
    "average; fitting on CPUs; every frame of a 1024×1024 clip kept, so sample-frames' "
    "default (`image_format: auto`) writes no frame file (sparser sampling keeps PNG frames: "
    "about 0.3 MB of scratch and 28 ms more a frame, the chain benchmark's own comparison; "
    "decoding of frames a sampler drops, and larger sources, are not counted); per-frame CPU "
    "time as measured on this machine's cores"
)


def scale_out_figures(chain: dict[str, Any]) -> dict[str, Any]:
    """Per kept frame: core-seconds of each stage and in all, scratch and shard bytes; per
    corpus size: core-hours, TB of scratch and of shards, wall hours per node count."""
    stages = {k: s["cpu_ms_per_frame"] / 1000 for k, s in chain["stages"].items()}
    per_frame_s = sum(stages.values())
    scratch = chain["scratch_bytes_per_frame"]
    shards = chain["stages"]["write-shards"]["bytes_per_frame"]
    corpora = []
    for frames in CORPUS_FRAMES:
        core_h = frames * per_frame_s / 3600
        corpora.append(
            {
                "frames": frames,
                "core_hours": core_h,
                "scratch_tb": frames * scratch / 1e12,
                "shards_tb": frames * shards / 1e12,
                "wall_hours": {n: core_h / (n * CORES_PER_NODE * BUSY) for n in NODES},
            }
        )
    return {
        "stage_core_s": stages,
        "core_s_per_frame": per_frame_s,
        "scratch_bytes_per_frame": scratch,
        "shard_bytes_per_frame": shards,
        "corpora": corpora,
    }


def render_scale_out_table(results: Path = RESULTS) -> str:
    """The markdown of ``docs/scale_out.md``'s sizing section."""
    path = results / "chain.json"
    if not path.is_file():
        return "**not measured yet** (`python benchmarks/chain.py`)"
    chain = json.loads(path.read_text())
    f = scale_out_figures(chain)
    run = chain.get("run", {})
    when = f"{str(run.get('date', '?'))[:10]}, `{str(run.get('commit', '?'))[:8]}`"
    lines = [
        f"From `benchmarks/results/chain.json` ({chain['frames']} frames, {when}, load "
        f"average {chain['load_average_before'][0]} / {chain['load_average_after'][0]} on "
        f"{chain['cpu_count']} cores). Assumptions: {ASSUMPTIONS}.",
        "",
        "| stage | core-seconds per kept frame |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v:.3f} |" for k, v in f["stage_core_s"].items()]
    lines += [
        f"| **all** | **{f['core_s_per_frame']:.3f}** |",
        "",
        f"Scratch {f['scratch_bytes_per_frame'] / 1e6:.2f} MB and shards "
        f"{f['shard_bytes_per_frame'] / 1e6:.2f} MB per kept frame.",
        "",
        "| kept frames | core-hours | scratch, TB | shards, TB | "
        + " | ".join(f"wall on {n} node{'s' if n > 1 else ''}, h" for n in NODES)
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in NODES) + " |",
    ]
    for c in f["corpora"]:
        walls = " | ".join(f"{c['wall_hours'][n]:,.1f}" for n in NODES)
        lines.append(
            f"| {c['frames']:,} | {c['core_hours']:,.0f} | {c['scratch_tb']:.2f} "
            f"| {c['shards_tb']:.2f} | {walls} |"
        )
    return "\n".join(lines)
