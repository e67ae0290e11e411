"""Calibration of Occlusion State Accuracy (``pipelines/occlusion/``) on known bodies.

The figures of docs/evaluation.md ("Figures" under the OSA section), all with the built-in
body model, upright facing the camera, camera ``(2/2.3, 0, -0.1)``, OSA at 256:

- named poses (``hpt_data/body/named_poses.py``): the ground truth against itself and
  the mirrored body (``mirror_smpl``, the fit of the left↔right flipped image) against it;
- the worked example: the counted overlap pixels of ``right_arm_in_front`` and its mirror,
  and its OSA without the junction rule; with the arms down and no junction rule, the torso
  pixels each limb's root hides;
- random poses within the joint limits (``sample_random_poses(n, seed=0)``), mirrored
  against the truth (``osa_over_set``), at ``junction_radius`` 0, 5, 10 and 15 cm: mean
  and pooled OSA, images without overlap, and the seconds one body's states take.

Prints a table and writes ``benchmarks/results/osa_calibration.json``.

    .venv/bin/python benchmarks/osa_calibration.py            # 50 poses (the docs' size)
    .venv/bin/python benchmarks/osa_calibration.py --quick    # 15 poses
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "osa_calibration.json"
CAMERA = (2 / 2.3, 0.0, -0.1)
RADII = (0.0, 0.05, 0.10, 0.15)
NAMED = ("crossed_arms", "crossed_legs", "right_arm_in_front", "arms_down")
SEED = 0


def _num(x: float) -> float | None:
    """JSON has no NaN: an OSA with nothing to judge is null."""
    return None if math.isnan(x) else round(float(x), 4)


def named_figures(body) -> dict:
    from hpt_data.body.named_poses import named_pose
    from hpt_data.body.parts import (
        HEAD,
        LEFT_ARM,
        LEFT_LEG,
        PART_NAMES,
        RIGHT_ARM,
        RIGHT_LEG,
        TORSO,
    )
    from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA
    from pipelines.occlusion.accuracy import occlusion_state_accuracy
    from pipelines.occlusion.body import BodyParams, mirror_smpl
    from pipelines.occlusion.part_layers import PART_PAIRS
    from pipelines.occlusion.states import occlusion_states_smpl

    def px(states, i: int, j: int) -> int:
        return int(states.overlap[PART_PAIRS.index((i, j))])

    named = {}
    for name in NAMED:
        gt = BodyParams(UPRIGHT_FACING_CAMERA.copy(), named_pose(name), np.array(CAMERA))
        truth = occlusion_states_smpl(body, gt)
        mirror = occlusion_states_smpl(body, mirror_smpl(gt))
        named[name] = {
            "truth_vs_itself": _num(occlusion_state_accuracy(truth, truth)),
            "mirror_vs_truth": _num(occlusion_state_accuracy(mirror, truth)),
            "mirror_vs_truth_junction_0": _num(
                occlusion_state_accuracy(
                    occlusion_states_smpl(body, mirror_smpl(gt), junction_radius=0.0),
                    occlusion_states_smpl(body, gt, junction_radius=0.0),
                )
            ),
        }
        if name == "arms_down":  # "Why the junction rule": what the limbs' roots hide
            everything = occlusion_states_smpl(body, gt, junction_radius=0.0)
            named[name]["junction_0_overlap_px"] = {
                f"torso_{PART_NAMES[part]}": px(everything, TORSO, part)
                for part in (LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG)
            }
        if name == "right_arm_in_front":  # the worked example's table
            named[name]["worked_example_overlap_px"] = {
                "truth_torso_right_arm": px(truth, TORSO, RIGHT_ARM),
                "mirror_torso_left_arm": px(mirror, TORSO, LEFT_ARM),
                "truth_head_torso": px(truth, HEAD, TORSO),
                "mirror_head_torso": px(mirror, HEAD, TORSO),
            }
    return named


def random_figures(body, n: int) -> tuple[dict, float]:
    """OSA of the mirrored random poses at each radius; and seconds per body's states."""
    from hpt_data.body.joint_limits import sample_random_poses
    from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA
    from pipelines.occlusion.accuracy import osa_over_set
    from pipelines.occlusion.body import BodyParams, mirror_smpl

    poses = sample_random_poses(n, seed=SEED)
    gts = [BodyParams(UPRIGHT_FACING_CAMERA.copy(), p, np.array(CAMERA)) for p in poses]
    preds = [mirror_smpl(g) for g in gts]
    by_radius, seconds = {}, []
    for radius in RADII:
        start = time.perf_counter()
        per_image, s = osa_over_set(body, preds, gts, junction_radius=radius, progress=False)
        seconds.append((time.perf_counter() - start) / (2 * n))  # two bodies per image
        by_radius[f"{radius:.2f}"] = {
            "junction_radius_m": radius,
            "mean_osa": _num(s.mean),
            "pooled_osa": _num(s.pooled),
            "n_images": s.n_images,
            "n_without_overlap": s.n_without_overlap,
            "per_image": [_num(a) for a in per_image],
        }
    return by_radius, float(np.median(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", type=int, default=50, help="random poses (default 50)")
    parser.add_argument("--quick", action="store_true", help="15 random poses")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    n = 15 if args.quick else args.poses

    import torch

    from hpt_data.body import load_body_model
    from pipelines.occlusion.part_layers import OSA_SIZE
    from pipelines.occlusion.states import MIN_OVERLAP_FRACTION, min_overlap_pixels

    torch.set_num_threads(1)
    body = load_body_model()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    named = named_figures(body)
    by_radius, per_body = random_figures(body, n)
    results = {
        "body_model": "built-in",
        "camera": list(CAMERA),
        "global_orient": "UPRIGHT_FACING_CAMERA",
        "size": OSA_SIZE,
        "min_overlap_px": min_overlap_pixels(OSA_SIZE),
        "min_overlap_fraction": MIN_OVERLAP_FRACTION,
        "named_poses": named,
        "random_poses": {"n": n, "seed": SEED, "by_junction_radius": by_radius},
        "seconds_per_body": round(per_body, 3),
        "seconds_per_body_note": "posing + 6 part renders + states at 256, median over radii",
        "wall_s": round(time.perf_counter() - start, 1),
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": 1,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")

    print(f"{'pose':<20} {'truth/truth':>11} {'mirror':>7} {'mirror, r=0':>12}")
    for name, f in named.items():
        itself, mirror, mirror0 = (
            "NaN" if f[k] is None else f"{f[k]:.3f}"
            for k in ("truth_vs_itself", "mirror_vs_truth", "mirror_vs_truth_junction_0")
        )
        print(f"{name:<20} {itself:>11} {mirror:>7} {mirror0:>12}")
    print(f"\n{n} random poses (seed {SEED}), mirrored vs truth")
    print(f"{'junction_radius':>15} {'mean OSA':>9} {'pooled':>7} {'no overlap':>11}")
    for r in by_radius.values():
        print(
            f"{r['junction_radius_m']:>13.2f} m {r['mean_osa']:>9.3f} {r['pooled_osa']:>7.3f} "
            f"{r['n_without_overlap']:>11}"
        )
    print(f"\none body's states: {per_body:.3f} s (load {load:.1f}); wrote {args.out}")


if __name__ == "__main__":
    main()
