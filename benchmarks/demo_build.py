"""The demo build as a new user runs it: ``hpt-data build -d demo``, clips rendered afresh.

Copies the ``demo`` entry of ``datasets.yaml`` into a scratch folder (clips under
``<work>/clips``, outputs under ``<work>/work``), runs the real command in a child process
with ``--workers`` processes and reads the ``build.json`` the command writes (wall time per
step, videos per state, frames per split) into ``benchmarks/results/demo_build.json``.
``--keep DIR`` keeps the clips and shards there for the benchmarks that read them
(``run_all.py`` does).

    python benchmarks/demo_build.py [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "demo_build.json"


def demo_config(work: Path) -> Path:
    """A datasets.yaml holding only the repository's ``demo`` entry, rooted in ``work``."""
    config = yaml.safe_load((ROOT / "datasets.yaml").read_text())
    demo = dict(config["datasets"]["demo"], root=str(work / "clips"))
    path = work / "datasets.yaml"
    path.write_text(
        yaml.safe_dump({"version": 1, "work_root": str(work / "work"), "datasets": {"demo": demo}})
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpt-demo-") as tmp:
        work = (args.keep or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        for stale in ("clips", "work"):
            if (work / stale).exists():
                raise SystemExit(f"{work / stale} exists: the demo build must start afresh")
        config = demo_config(work)
        cli = Path(sys.executable).parent / "hpt-data"
        command = [str(cli), "build", "-c", str(config), "-d", "demo", "-w", str(args.workers)]
        done = subprocess.run([*command, "-q"], check=False)
        if done.returncode != 0:
            raise SystemExit(f"demo build failed (exit {done.returncode})")
        record = json.loads((work / "work" / "demo" / "build.json").read_text())
    result = {
        "benchmark": "demo_build",
        "command": "hpt-data build -d demo -w N (clips rendered afresh)",
        "workers": args.workers,
        **{k: record[k] for k in ("total_wall_s", "steps_wall_s", "videos", "frames")},
        "load_average_after": list(os.getloadavg()),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"demo build: {record['total_wall_s']:.1f} s on {args.workers} workers")
    for step, seconds in record["steps_wall_s"].items():
        print(f"  {step:<14} {seconds:7.1f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
