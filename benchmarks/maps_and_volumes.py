"""Figures of ``render-maps`` and ``voxelize``, side by side in one run.

- voxelization per mesh: ours (256×256×64 with labels, and a cubic 256³ grid at the same
  pitch) on one core, against ``trimesh.voxel.creation.voxelize(mesh, pitch).fill()`` at
  that pitch on the same meshes;
- occupancy against trimesh's ``contains`` (embree) on 100k random voxel centres per pose,
  20 poses (18 random, crossed arms, crossed legs);
- S projected from the volume against S rendered, per-part IoU at 256;
- rasteriser against pyrender: label agreement at 1024;
- rendering S + D + H (and the complete part maps) at 1024: frames per second, one process
  and two processes (the machine's 2 cores), and pyrender's S + D for comparison.

Prints a table and writes ``benchmarks/results/maps_and_volumes.json``. The machine is
shared: the load average is recorded with the timings, which are the best of several runs.

    .venv/bin/python benchmarks/maps_and_volumes.py [--quick]
    .venv/bin/python benchmarks/maps_and_volumes.py --example docs/images/maps_example.png
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results" / "maps_and_volumes.json"
CAMERA = np.array([2 / 2.3, 0.0, -0.1])
NAMES = ["random"] * 18 + ["crossed_arms", "crossed_legs"]


def posed(names: list[str], seed: int = 11) -> tuple[object, np.ndarray, np.ndarray]:
    import torch

    from hpt_data.body import load_body_model
    from hpt_data.body.joint_limits import sample_random_poses
    from hpt_data.body.named_poses import named_pose
    from hpt_data.body.weak_perspective import UPRIGHT_FACING_CAMERA

    body = load_body_model()
    randoms = iter(sample_random_poses(len(names), seed=seed))
    poses = np.stack([next(randoms) if n == "random" else named_pose(n) for n in names])
    go = np.tile(UPRIGHT_FACING_CAMERA, (len(names), 1))
    with torch.no_grad():
        out = body(body_pose=torch.as_tensor(poses).float(), global_orient=torch.tensor(go).float())
    return body, out.vertices.double().numpy(), out.joints.double().numpy()


def best_of(fn, repeat: int, clock=time.perf_counter) -> tuple[float, float]:
    """(best, median) seconds of ``repeat`` calls (wall clock, or another clock)."""
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times), float(np.median(times))


def _render_worker(args: tuple[int, int]) -> int:
    """Render ``count`` frames of pose ``seed`` (S, D, H and part maps at 1024)."""
    seed, count = args
    body, verts, joints = posed(["random"], seed)
    from hpt_data.render.maps import render_maps

    for _ in range(count):
        m = render_maps(verts[0], body.faces, body.part_labels, joints[0], CAMERA, 1024)
        m.heatmaps()
    return count


def write_example(path: Path) -> None:
    """The documentation's preview sheet: crossed arms, S/D/H, part maps, volume views."""
    from hpt_data.render.maps import render_maps
    from hpt_data.render.preview_maps import maps_sheet, write_sheet
    from hpt_data.voxel import voxelize

    body, verts, joints = posed(["crossed_arms"])
    m = render_maps(verts[0], body.faces, body.part_labels, joints[0], CAMERA, 1024)
    grid = voxelize(verts[0], body.faces, body.part_labels, CAMERA)
    z_scale = grid.dz / grid.pitch_xy
    sheet = maps_sheet(
        m.parsing, m.depth, m.heatmaps(), m.part_masks, grid.labels, z_scale, m.boxes
    )
    print(f"wrote {write_sheet(path, sheet)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and trimesh runs")
    parser.add_argument("--example", type=Path, help="only write a preview sheet PNG here")
    args = parser.parse_args()
    if args.example:
        write_example(args.example)
        return
    import torch
    import trimesh

    from hpt_data.render.maps import render_maps
    from hpt_data.voxel import project_volume, voxelize
    from hpt_data.voxel.binvox import cubic_grid

    torch.set_num_threads(1)
    load_start = os.getloadavg()
    body, verts, joints = posed(NAMES)
    faces, labels = body.faces, body.part_labels
    rep = 5 if args.quick else 15
    res: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_start": [round(x, 2) for x in load_start],
        "mesh": {"vertices": int(verts.shape[1]), "faces": int(faces.shape[0])},
    }

    # --- voxelization speed, ours vs trimesh at the same pitch
    ours, cubic = [], []
    for v in verts[:5]:
        ours.append(best_of(lambda v=v: voxelize(v, faces, labels, CAMERA), rep))
        cubic.append(best_of(lambda v=v: cubic_grid(v, faces, labels, CAMERA, 256), rep))
    pitch = 2.0 / (CAMERA[0] * 256)
    tm_times = []
    for v in verts[: 1 if args.quick else 2]:
        mesh = trimesh.Trimesh(v, faces, process=False)
        t = time.perf_counter()
        vg = trimesh.voxel.creation.voxelize(mesh, pitch).fill()
        tm_times.append(time.perf_counter() - t)
        tm_shape = list(vg.shape)
    # DESIGN.md's reference case: 256 voxels over the body's height (a crop the body fills)
    v = verts[0]
    height = float(np.ptp(v[:, 1]))
    tall_cam = np.array([2.0 / height, 0.0, 0.0])
    tall_cam[1] = -tall_cam[0] * 0.5 * (v[:, 0].min() + v[:, 0].max())
    tall_cam[2] = -tall_cam[0] * 0.5 * (v[:, 1].min() + v[:, 1].max())
    tall_pitch = height / 256
    tall_ours = best_of(lambda: cubic_grid(v, faces, labels, tall_cam, 256), rep)
    t = time.perf_counter()
    tall_vg = trimesh.voxel.creation.voxelize(trimesh.Trimesh(v, faces, process=False), tall_pitch)
    tall_vg = tall_vg.fill()
    tall_tm = time.perf_counter() - t
    res["voxelize"] = {
        "pitch_m": pitch,
        "ours_256x256x64_labels_ms_best": 1e3 * min(b for b, _ in ours),
        "ours_256x256x64_labels_ms_median": 1e3 * float(np.median([m for _, m in ours])),
        "ours_cubic_256^3_labels_ms_best": 1e3 * min(b for b, _ in cubic),
        "ours_cubic_256^3_labels_ms_median": 1e3 * float(np.median([m for _, m in cubic])),
        "trimesh_voxelize_fill_s": tm_times,
        "trimesh_grid_shape": tm_shape,
        "speedup_vs_trimesh_cubic_median": float(
            np.mean(tm_times) / np.median([m for _, m in cubic])
        ),
        "threads": 1,
        "body_height_256_voxels": {
            "pitch_m": tall_pitch,
            "ours_cubic_256^3_labels_ms_best": 1e3 * tall_ours[0],
            "ours_cubic_256^3_labels_ms_median": 1e3 * tall_ours[1],
            "trimesh_voxelize_fill_s": tall_tm,
            "trimesh_grid_shape": list(tall_vg.shape),
            "speedup_median": tall_tm / tall_ours[1],
        },
    }

    # --- exactness: occupancy vs trimesh contains, S from the volume vs S rendered
    rng = np.random.default_rng(0)
    agree, agree_solid, agree_inside, ious = [], [], [], []
    for v, j in zip(verts, joints, strict=True):
        grid = voxelize(v, faces, labels, CAMERA)
        occ = grid.labels > 0
        nz = np.argwhere(occ)
        lo, hi = nz.min(0) - 2, nz.max(0) + 3
        idx = np.clip(rng.integers(lo, hi, size=(100_000, 3)), 0, np.array(occ.shape) - 1)
        ref = trimesh.Trimesh(v, faces, process=False).contains(grid.centres(idx))
        mine = occ[idx[:, 0], idx[:, 1], idx[:, 2]]
        agree.append(float((ref == mine).mean()))
        solid = voxelize(v, faces, labels, CAMERA, surface=False).labels > 0
        agree_solid.append(float((ref == solid[idx[:, 0], idx[:, 1], idx[:, 2]]).mean()))
        agree_inside.append(float(mine[ref].mean()))
        maps = render_maps(v, faces, labels, j, CAMERA, 256, layers=False)
        parsing, _ = project_volume(grid.labels, grid.z0, grid.dz)
        ious.append(
            [
                float(
                    ((maps.parsing == p) & (parsing == p)).sum()
                    / ((maps.parsing == p) | (parsing == p)).sum()
                )
                for p in range(1, 7)
            ]
        )
    res["exactness"] = {
        "poses": NAMES,
        "contains_agreement_per_pose": agree,
        "contains_agreement_min": min(agree),
        "contains_agreement_mean": float(np.mean(agree)),
        "solid_contains_agreement_per_pose": agree_solid,
        "solid_contains_agreement_min": min(agree_solid),
        "solid_contains_agreement_mean": float(np.mean(agree_solid)),
        "inside_voxels_found_mean": float(np.mean(agree_inside)),
        "samples_per_pose": 100_000,
        "sampling": "uniform over the body's bounding box in the grid (+2 voxels)",
        "part_iou_256_min": float(np.min(ious)),
        "part_iou_256_mean": float(np.mean(ious)),
        "embree": bool(trimesh.ray.has_embree),
    }

    # --- rendering speed at 1024
    torch.set_num_threads(2)
    v, j = verts[0], joints[0]
    sd = best_of(lambda: render_maps(v, faces, labels, j, CAMERA, 1024, layers=False), rep)
    full = best_of(lambda: render_maps(v, faces, labels, j, CAMERA, 1024).heatmaps(), rep)
    full_cpu = best_of(
        lambda: render_maps(v, faces, labels, j, CAMERA, 1024).heatmaps(), rep, time.process_time
    )
    m = render_maps(v, faces, labels, j, CAMERA, 1024)
    hm = best_of(m.heatmaps, rep)
    frames = 10 if args.quick else 30
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_render_worker, [(1, 1), (2, 1)]))  # warm up the workers
        t = time.perf_counter()
        done = sum(pool.map(_render_worker, [(1, frames), (2, frames)]))
        two = done / (time.perf_counter() - t)
    gl = {}
    try:
        from hpt_data.render.pyrender_maps import render_parsing_depth_gl

        s_gl, _ = render_parsing_depth_gl(v, faces, labels, CAMERA, 1024)
        best, med = best_of(lambda: render_parsing_depth_gl(v, faces, labels, CAMERA, 1024), rep)
        gl = {
            "pyrender_S_D_ms_best": 1e3 * best,
            "pyrender_S_D_ms_median": 1e3 * med,
            "label_agreement_with_ours_1024": float((s_gl == m.parsing).mean()),
        }
    except Exception as exc:  # report, do not fail the benchmark
        gl = {"pyrender_error": str(exc)}
    res["render_1024"] = {
        "S_D_ms_best": 1e3 * sd[0],
        "S_D_ms_median": 1e3 * sd[1],
        "S_D_H_parts_ms_best": 1e3 * full[0],
        "S_D_H_parts_ms_median": 1e3 * full[1],
        "H_only_ms_best": 1e3 * hm[0],
        "S_D_H_parts_cpu_ms_best": 1e3 * full_cpu[0],
        "S_D_H_parts_cpu_ms_median": 1e3 * full_cpu[1],
        "fps_one_process_median": 1.0 / full[1],
        "fps_two_cores_from_cpu_time": 2.0 / full_cpu[1],
        "fps_two_processes": two,
        **gl,
    }
    res["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1) + "\n")
    vx, ex, rd = res["voxelize"], res["exactness"], res["render_1024"]

    tm, f2 = vx["trimesh_voxelize_fill_s"], ".2f"
    tall = vx["body_height_256_voxels"]
    solid_mean = ex["solid_contains_agreement_mean"]

    def pair(a: float, b: float, unit: str = "ms", fmt: str = ".1f") -> str:
        return f"{a:{fmt}} / {b:{fmt}} {unit}"

    rows = [
        (
            "voxelize 256x256x64 + labels, 1 core (best / median)",
            pair(vx["ours_256x256x64_labels_ms_best"], vx["ours_256x256x64_labels_ms_median"]),
        ),
        (
            "voxelize cubic 256^3 + labels, same pitch (best / median)",
            pair(vx["ours_cubic_256^3_labels_ms_best"], vx["ours_cubic_256^3_labels_ms_median"]),
        ),
        ("trimesh voxelize(pitch).fill()", ", ".join(f"{t:.1f} s" for t in tm)),
        ("speed-up vs trimesh (cubic, medians)", f"{vx['speedup_vs_trimesh_cubic_median']:.0f}x"),
        (
            "256 voxels of body height: ours cubic / trimesh",
            f"{tall['ours_cubic_256^3_labels_ms_median']:.1f} ms / "
            f"{tall['trimesh_voxelize_fill_s']:.1f} s ({tall['speedup_median']:.0f}x)",
        ),
        (
            "occupancy vs contains, 20 x 100k (min / mean)",
            pair(100 * ex["contains_agreement_min"], 100 * ex["contains_agreement_mean"], "%", f2),
        ),
        (
            "same, centre-inside voxels only (min / mean)",
            pair(100 * ex["solid_contains_agreement_min"], 100 * solid_mean, "%", f2),
        ),
        ("per-part IoU, S projected vs rendered, 256 (min)", f"{ex['part_iou_256_min']:.4f}"),
        ("S+D at 1024 (best / median)", pair(rd["S_D_ms_best"], rd["S_D_ms_median"])),
        (
            "S+D+H+part maps at 1024 (best / median)",
            pair(rd["S_D_H_parts_ms_best"], rd["S_D_H_parts_ms_median"]),
        ),
        (
            "S+D+H+part maps at 1024, CPU time (best / median)",
            pair(rd["S_D_H_parts_cpu_ms_best"], rd["S_D_H_parts_cpu_ms_median"]),
        ),
        (
            "fps at 1024: 1 process / 2 processes (wall)",
            pair(rd["fps_one_process_median"], rd["fps_two_processes"], "fps"),
        ),
        ("fps at 1024 on 2 cores from CPU time", f"{rd['fps_two_cores_from_cpu_time']:.1f} fps"),
        ("pyrender S+D at 1024 (median)", f"{rd.get('pyrender_S_D_ms_median', np.nan):.1f} ms"),
        ("load average start / end", f"{res['load_average_start']} / {res['load_average_end']}"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
