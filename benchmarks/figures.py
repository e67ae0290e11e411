"""The README's table of measured figures, written from ``benchmarks/results/*.json``.

No figure in the README is typed by hand: each row below reads the results file that a
benchmark wrote (``benchmarks/run_all.py`` runs them all and then calls
:func:`update_readme`). A row whose results file is missing says so instead of a figure.
``tests/test_benchmark_figures.py`` checks that the README holds exactly this table.

    python benchmarks/figures.py            # rewrite the README's table from the results
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpt_data.docs_gen import rewrite_between_markers

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
THROUGHPUT = ROOT / "docs" / "throughput.md"
BEGIN = "<!-- figures:begin (written by benchmarks/figures.py from benchmarks/results) -->"
END = "<!-- figures:end -->"

Results = dict[str, Any]


def _load(name: str, results: Path) -> Results | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _when(r: Results) -> str:
    """The run's date, load and size, from the provenance ``run_all.py`` stamps."""
    run = r.get("run")
    if not run:
        return "run by hand (no provenance)"
    load = run.get("load_average_before", [None])[0]
    size = "quick" if run.get("quick") else "full"
    load_text = f"load {load:.1f}" if isinstance(load, int | float) else "load ?"
    return f"{run['date'][:10]}, {size}, {load_text}, `{run['commit'][:8]}`"


def _secs(s: float) -> str:
    return f"{s / 60:.0f} min {s % 60:.0f} s" if s >= 90 else f"{s:.1f} s"


# --------------------------------------------------------------------------- rows
# Each row: (what, results file, function of the results → the figure text).


def _demo(r: Results) -> str:
    steps = ", ".join(f"{k} {_secs(v)}" for k, v in r["steps_wall_s"].items())
    frames = ", ".join(f"{n} {split}" for split, n in sorted(r["frames"].items()))
    return f"{_secs(r['total_wall_s'])} ({frames} frames): {steps}"


def _detection(r: Results) -> str:
    e = r["error_px"]["all"]
    return (
        f"detected in {100 * r['detection_rate']:.0f} % of {r['frames']} frames; 2D error "
        f"median {e['median_crop1024']:.1f} px, p90 {e['p90_crop1024']:.1f} px at 1024"
    )


def _mask_iou(r: Results) -> str:
    m = r["accuracy"]["mask_iou"]
    return f"median {m['median']:.2f} (worst {m['min']:.2f}) over {r['accuracy']['frames']} frames"


def _pose2d_error(r: Results) -> str:
    a = r["accuracy"]
    e = a["joint_error_px_1024"]
    text = (
        f"detected in {100 * a['detection_rate']:.0f} % of {a['frames']} frames; 2D error "
        f"median {e['median']:.1f} px, p90 {e['p90']:.1f} px at 1024"
    )
    if "pose2d_detect" in a:  # the default takes remove-bg's landmarks; Pose again beside
        d = a["pose2d_detect"]["joint_error_px_1024"]
        text += f" (landmarks from remove-bg; Pose run again on the crops: {d['median']:.1f} px)"
    return text


def _perception_speed(r: Results) -> str:
    s = r["speed"]
    fps = " / ".join(f"{s[k]['fps']:.0f}" for k in ("sample-frames", "remove-bg", "pose2d"))
    return f"{fps} frames/s"


def _people(r: Results) -> str:
    name = r["chosen"]
    c = r["configs"][name]
    rec = c["test"]["recall"]
    cells = ", ".join(f"{k} {v:.0%}" if v is not None else f"{k} -" for k, v in rec.items())
    s = c["single"]
    return (
        f"{name}: recall at IoU 0.5 (test seeds) {cells}; one-person frames with several "
        f"found {s['frames_with_several']}/{s['frames']}; cost "
        f"{c['cost_over_remove_bg']:.0%} of remove-bg's MediaPipe calls per frame"
    )


def _tracking(r: Results) -> str:
    c, one = r["crowd"], r["single"]
    return (
        f"3 people per clip ({c['clips']} clips, {c['frames']} frames): performer kept "
        f"{c['performer_kept']:.0%}, id switches ≤ {c['switches_per_clip_max']} per clip, mask "
        f"IoU median {c['mask_iou_median']:.2f}, 2D median {c['error_px_median']:.1f} px at "
        f"1024, {c['several_people_frames']} frames flagged; one person ({one['frames']} "
        f"frames): {one['several_people_frames']} flagged; cost {r['cost_over_before']:+.0%} "
        "per frame over remove-bg's MediaPipe calls before" + _all_mode(r)
    )


def _all_mode(r: Results) -> str:
    a = r.get("all_mode")
    if a is None:
        return ""
    anyone = (
        f" ({a['found_any_part']} of {a['expected_any_part']} counting anyone showing any part)"
        if "expected_any_part" in a
        else ""
    )
    return (
        f"; `person: all`: {a['found']} of {a['expected']} people visible ≥ 1 s are clips"
        f"{anyone}, {a['extra_clips']} extra"
    )


def _body_joints(r: Results) -> str:
    return (
        f"≤ {r['joint_error_max_mm']:.2f} mm; median {r['agreement_median_mm']:.2f} mm, "
        f"max {r['agreement_max_mm']:.0f} mm with pose correctives "
        f"({r['no_correctives_agreement_median_mm']:.2f} / "
        f"{r['no_correctives_agreement_max_mm']:.0f} mm without)"
    )


def _body_volume(r: Results) -> str:
    return (
        f"{r['volume_ratio_min']:.3f}–{r['volume_ratio_max']:.3f} with pose correctives "
        f"(plain skinning {r['no_correctives_volume_ratio_min']:.3f}–"
        f"{r['no_correctives_volume_ratio_max']:.3f}, Anny's own "
        f"{r['anny_volume_ratio_min']:.3f}–{r['anny_volume_ratio_max']:.3f})"
    )


def _fit(source: str) -> Callable[[Results], str]:
    def row(r: Results) -> str:
        a = r["accuracy"][source]["full"]
        return (
            f"reprojection {a['reproj_px']['median']:.1f} px; 2D joints "
            f"{a['joints2d_px']['median']:.1f} px; PA-MPJPE {a['pa_mpjpe_mm']['median']:.1f} mm "
            f"median, {a['pa_mpjpe_mm']['p90']:.1f} p90 ({len(r['clips'])} clips × "
            f"{r['frames_per_clip']} frames, the fitter's own body model: a self-consistency "
            "check)"
        )

    return row


def _fit_anny(r: Results) -> str:
    split = "test" if "test" in r["splits"] else next(iter(r["splits"]))
    a = r["splits"][split]["all"]
    f, m = a["fit"]["pa_mm"], a["mediapipe"]["pa_mm"]
    worst = max(
        (v for v in r["splits"][split]["motion_types"].values() if v.get("frames")),
        key=lambda v: v["ratio"]["pa_mm"]["median"],
    )
    worst_name = next(k for k, v in r["splits"][split]["motion_types"].items() if v is worst)
    return (
        f"PA-MPJPE (10 shared joints) {f['median']:.1f} / {f['p90']:.1f} mm median / p90 "
        f"vs MediaPipe's world landmarks {m['median']:.1f} / {m['p90']:.1f} (ratio "
        f"{a['ratio']['pa_mm']['median']:.2f} / {a['ratio']['pa_mm']['p90']:.2f}; worst "
        f"{worst_name} {worst['ratio']['pa_mm']['median']:.2f}); limb order "
        f"{a['order']['fit']['accuracy']:.2f} vs {a['order']['mediapipe']['accuracy']:.2f} "
        f"({split} split, {a['frames']} frames, Anny's own skinning; aim ≤ 0.8)"
    )


def _fit_speed(r: Results) -> str:
    s = r["speed"]
    return f"{s['frames_per_second']:.0f} frames/s over {s['frames']} frames (aim 10)"


def _voxelize(r: Results) -> str:
    v = r["voxelize"]
    return (
        f"{v['ours_256x256x64_labels_ms_median']:.0f} ms per mesh; "
        f"{v['speedup_vs_trimesh_cubic_median']:.0f}× faster"
    )


def _voxel_exact(r: Results) -> str:
    e = r["exactness"]
    return (
        f"≥ {100 * e['contains_agreement_min']:.2f} % over {len(e['poses'])} poses; "
        f"per-part IoU {e['part_iou_256_min']:.2f}"
    )


def _render(r: Results) -> str:
    return f"{r['render_1024']['fps_two_processes']:.0f} frames/s"


def _shards(r: Results) -> str:
    f = r["field_sets"]
    b = r["bytes_per_frame"]
    return (
        f"all fields at 1024: {f['all']['shards_ring']['pairs_per_s']:.0f} vs "
        f"{f['all']['png_npz_folder']['pairs_per_s']:.0f} pairs/s "
        f"({f['all']['ratio_shards_over_folder']:.1f}×); fine stage "
        f"{f['fine']['ratio_shards_over_folder']:.1f}×; like for like "
        f"{f['all']['ratio_shards_over_folder_both_ring']:.1f}× (both RingLoader); "
        f"{b['shards'] / 1e6:.2f} vs {b['png_npz_folder'] / 1e6:.2f} MB per frame"
    )


def _executor(r: Results) -> str:
    b, ratio = r["best"], r["ratio_ray_over_local"]
    return (
        f"{b['ray']['total_wall_s']:.1f} s vs {b['local']['total_wall_s']:.1f} s "
        f"({ratio['total']:.2f}×; Ray start {b['ray']['startup_s']:.1f} s)"
    )


def _train_speed(r: Results) -> str:
    rows = {x["stage"]: x for x in r["results"] if x.get("precision") == "fp32"}
    stages = [s for s in ("coarse", "arm", "fine", "volume") if s in rows]
    figures = " / ".join(f"{rows[s]['it_per_s']:.1f}" for s in stages)
    return f"{' / '.join(stages)}: {figures} it/s ({r['config']} config)"


def _inference(r: Results) -> str:
    done = [x for x in r["results"] if x.get("status") == "measured"]
    text = "; ".join(f"{x['config']} {x['variant']} {x['ms_per_image'] / 1000:.2f} s" for x in done)
    return f"{text} per image; GPU rows not run here (command in docs/pipelines.md)"


def _learning(r: Results) -> str:
    s = r["summary"]
    return (
        f"trained pairs, end / copy-source (worst of {r['seeds']} seeds × "
        f"{len(r['threads'])} thread counts): coarse "
        f"{s['coarse']['train_over_copy_max']:.2f}, fine {s['fine']['train_over_copy_max']:.2f}; "
        f"held-out person: coarse {s['coarse']['held_out_over_copy_median']:.2f}, fine "
        f"{s['fine']['held_out_over_copy_median']:.2f} (median; > 1: worse than copying)"
    )


def _small_training(r: Results) -> str:
    seeds = r.get("seeds", 1)

    def figure(x: dict, key: str, digits: int) -> str:
        if x.get(key) is None:
            return "-"
        spread = x.get(f"{key}_seed_std") if seeds > 1 else None
        return f"{x[key]:.{digits}f}" + ("" if spread is None else f" ±{spread:.{digits}f}")

    def row(name: str, x: dict) -> str:
        keys = (("ssim", 3), ("psnr", 1), ("l1", 3), ("osa", 2))
        return f"{name} " + " / ".join(figure(x, k, d) for k, d in keys)

    rows = "; ".join(row(name, x) for name, x in r["rows"].items())
    steps = "; ".join(
        f"{name}: " + ", ".join(f"{stage} {x['steps']}" for stage, x in run["stages"].items())
        for name, run in r["runs"].items()
    )
    return (
        f"SSIM / PSNR / L1 / OSA on the person, {r['n_pairs']} held-out pairs "
        f"({r['n_test_persons']} unseen people, {r['size']} px): {rows}. Each row trained "
        + (
            f"{r['train_minutes']:g} CPU-minutes (`budget_clock=cpu`, one thread; "
            if "budget_clock=cpu" in r.get("train_set", [])
            else f"{r['train_minutes']:g} min on 2 shared CPU cores ("
        )
        + ("steps" if seeds == 1 else "seed 0's steps")
        + f": {steps}), "
        + ("1 seed" if seeds == 1 else f"mean ± std over {seeds} seeds")
        + ", random VGG-19: small scale, not the paper's"
    )


def _offset_init(r: Results) -> str:
    rows = r["rows"]

    def row(name: str) -> str:
        x = rows[name]
        return f"{name} {x['ssim']:.3f} / {x['l1']:.3f}"

    arms = [row(f"{arm}: final") for arm in r["arms"]]
    steps = ", ".join(f"{stage} {n}" for stage, n in r["steps"].items())
    return (
        f"SSIM / L1 on the person, {r['n_pairs']} held-out pairs at {r['size']} px, final image: "
        + "; ".join([row("copy the source"), *arms])
        + f" (same coarse generator; steps {steps})"
    )


def _step_costs(r: Results) -> str:
    parts = []
    for threads, stages in r["summary"].items():
        cells = []
        for stage, x in stages.items():
            text = f"{stage} {x['after_ms'] / 1000:.2f} s"
            if "speedup" in x:
                text += f" ({x['speedup']:.2f}×)"
            cells.append(text)
        parts.append(f"{threads} thread(s): " + ", ".join(cells))
    base = f"before = `{r['baseline']}`" if r.get("baseline") else "no baseline"
    low, high = r["load_average"]
    return (
        f"{r['config']} config, s per step incl. reading and inputs, fastest of "
        f"{r.get('steps', 1)} × {r.get('rounds', 1)} (speed-up over the code before, {base}): "
        + "; ".join(parts)
        + f". Load {low:.1f}–{high:.1f}: more threads than free cores make OpenMP spin, so "
        "the 2-thread figures are erratic here"
    )


def _gpu(r: Results, train: bool) -> str:
    if r.get("device") != "cuda":
        return f"not yet run on a GPU (`{r.get('command', 'python benchmarks/gpu_check.py')}`)"
    rows = [x for x in r["rows"] if x.get("status") == "measured"]
    if train:
        done = [x for x in rows if x["kind"] == "train" and x["mode"] == "bf16"]
        text = ", ".join(f"{x['stage']} {x['it_per_s']:.1f}" for x in done)
        return f"{r['device_name']}: bf16 it/s {text}"
    done = [x for x in rows if x["kind"] == "inference" and x["batch_size"] == 1]
    best = min(done, key=lambda x: x["ms_per_image"], default=None)
    if best is None:
        return f"{r['device_name']}: no inference row measured"
    return f"{r['device_name']}: {best['ms_per_image']:.1f} ms/image ({best['mode']}; aim ≤ 30)"


def _chain(r: Results) -> str:
    per = " / ".join(f"{s['ms_per_frame']:.0f}" for s in r["stages"].values())
    return (
        f"{r['chain_ms_per_frame']:.0f} ms per frame = **{r['chain_over_detector']:.1f}×** the "
        f"raw detector ({r['detector_ms_per_frame']:.0f} ms); per stage {per} ms "
        f"({' / '.join(r['stages'])}); {r['frames']} frames"
    )


def _without_mirror(r: Results) -> str:
    """`` (… with mirror_pass: false)`` where the run timed it, else nothing."""
    if "remove_bg_without_mirror_pass" not in r:
        return ""
    m = r["remove_bg_without_mirror_pass"]
    alternate = m.get("perception_over_detector_alternate")
    text = (
        f" ({m['perception_over_detector']:.2f}× with `mirror_pass: false`, one landmark run "
        f"a frame fewer"
        + (f", {alternate:.2f}× with `alternate`" if alternate is not None else "")
        + f", against {m['perception_over_detector_default']:.2f}× for the default in the "
        "same turns"
    )
    if "perception_side_by_side" in m:  # results since the detector is timed in each turn
        side = m["perception_side_by_side"]
        text += (
            f"; side by side with the detector in each turn, median of 3: default "
            f"**{side['default']:.2f}×**, `false` {side['mirror_pass_false']:.2f}×, "
            f"`alternate` {side['mirror_pass_alternate']:.2f}×"
        )
    return text + ")"


def _chain_footprint(r: Results) -> str:
    text = (
        f"perception {r['perception_over_detector']:.2f}× the detector{_without_mirror(r)}; "
        f"scratch "
        f"{r['scratch_bytes_per_frame'] / 1e6:.2f} MB per frame, shards "
        f"{r['stages']['write-shards']['bytes_per_frame'] / 1e6:.2f} MB; peak RSS "
        f"{r['peak_rss_mb'] / 1024:.1f} GB"
    )
    if "frames_from_video" in r and "png_sample_frames_bytes_per_frame" in r["frames_from_video"]:
        v = r["frames_from_video"]
        more = (r["scratch_bytes_per_frame"] + v["png_sample_frames_bytes_per_frame"]) / 1e6
        text += (
            f" (`image_format: auto` kept no frame file: every frame is kept); with "
            f"`image_format: png` scratch {more:.2f} MB per frame and "
            f"{v['saved_ms_per_frame']:.0f} ms per frame more"
        )
    return text


def _ceiling(s: Results) -> str:
    """The machine's own ceiling for that many processes beside a speedup (results since
    it is measured)."""
    if "machine_ceiling" not in s:
        return ""
    c = s["machine_ceiling"]["ceiling"]
    memory = s["machine_ceiling"].get("memory")
    bound = f", {memory['ceiling']:.2f}× for a memory-bound job" if memory else ""
    return f"; this machine's ceiling for {s['workers']} processes {c:.2f}×{bound}"


def _pool_loss(s: Results) -> str:
    """Where the pool lost against N times one worker (results since range tasks report
    their spans): the wait for the last range, and the range tasks' slow-down beside each
    other."""
    if "tail_seconds" not in s:
        return ""
    return (
        f"; the pool's loss: {s['tail_seconds']:.2f} s waiting for the last range (its "
        f"workers busy {s['busy_share']:.1%} of its wall) and range tasks "
        f"{s['task_seconds_pool_over_one']:.3f}× as long in the pool as alone"
    )


def _ranges(s: Results) -> str:
    """`` of N frames each`` where the run gave the ranges' size (results since the ranges
    share out evenly)."""
    return f" of {s['frames_per_range']} frames each" if "frames_per_range" in s else ""


def _chain_shards(r: Results) -> str:
    s = r["shards"]
    same = "byte-identical" if s["identical"] else "**not identical**"
    return (
        f"{s['speedup']:.2f}× on {s['workers']} workers ({s['speedup_with_pool_start']:.2f}× "
        f"counting the pool's start{_one_worker(s)}{_ceiling(s)}), {s['shards']} shards"
        f"{_ranges(s)}, {same}"
    )


def _deflate(r: Results) -> str:
    return "; ".join(
        f"{name}: {x['zlib_ms_per_frame']:.2f} → {x['isal_ms_per_frame']:.2f} ms "
        f"(**{x['zlib_over_isal']:.1f}×**), bytes ×{x['isal_over_zlib_bytes']:.2f}"
        for name, x in r["rows"].items()
    )


def _ray_fused(r: Results) -> str:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    parts = []
    for where, words in (("local", "local Ray"), ("two_nodes", "2-node cluster on one machine")):
        if f"{where}_fused_over_per_stage" in r:
            ms = r["ms_per_frame"]
            parts.append(
                f"{words}: fused {ms[where + '_fused']:.0f} against per stage "
                f"{ms[where + '_per_stage']:.0f} ms per frame "
                f"(fused / per stage **{r[where + '_fused_over_per_stage']:.2f}×**)"
            )
    if "cluster_error" in r:
        parts.append(f"2-node cluster did not run ({r['cluster_error'][:80]})")
    return "; ".join(parts) + f"; {r['what']}"


def _real(r: Results) -> str:
    one = r["single"]
    photos = "; ".join(
        f"{name}: {p['found']} found of {p['people_by_hand']}, performer "
        f"{'kept' if p['performer_in_kept_box'] else 'NOT kept'}"
        for name, p in r["photos"].items()
        if p["people_by_hand"] > 1
    )
    return (
        f"one person, pans over 2 photos ({one['frames']} frames): {one['several_people']} "
        f"flagged for other people, one person found in {one['one_person_found']}; {photos}"
    )


ROWS: list[tuple[str, str, Callable[[Results], str]]] = [
    ("demo build (`hpt-data build -d demo`, clips rendered afresh)", "demo_build", _demo),
    ("raw MediaPipe Pose on the decoded demo clips", "synthetic_detection", _detection),
    ("pose2d (One Euro filter) on the demo clips", "perception", _pose2d_error),
    ("remove-bg mask IoU vs ground truth", "perception", _mask_iou),
    ("sample-frames / remove-bg / pose2d, 2 workers", "perception", _perception_speed),
    ("every person in a frame (synthetic, 3 people per clip)", "people_detection", _people),
    ("remove-bg keeping the performer among several (synthetic)", "people_tracking", _tracking),
    ("remove-bg on real photos (`tests/data/real`)", "real_material", _real),
    (
        "built-in body model: joints vs Anny's bone heads; agreement with Anny posed alike",
        "body_model",
        _body_joints,
    ),
    ("built-in body model: volume posed / rest over 20 random poses", "body_model", _body_volume),
    ("fit-smpl from ground-truth 2D", "fit_smpl", _fit("gt2d")),
    ("fit-smpl from MediaPipe", "fit_smpl", _fit("mediapipe")),
    ("fit-smpl speed, one clip, one torch thread", "fit_smpl", _fit_speed),
    ("fit-smpl vs MediaPipe 3D on clips it cannot flatter", "fit_anny", _fit_anny),
    (
        "voxelize 256×256×64 with labels, one core; vs `trimesh` voxelize().fill()",
        "maps_and_volumes",
        _voxelize,
    ),
    (
        "voxel occupancy vs trimesh `contains`; S from volume vs rendered S",
        "maps_and_volumes",
        _voxel_exact,
    ),
    ("S + D + H + part maps at 1024, 2 processes", "maps_and_volumes", _render),
    (
        "training pairs/s, 2 workers: shards (RingLoader) vs a PNG/NPZ folder (DataLoader)",
        "shard_loading",
        _shards,
    ),
    ("demo build, `--executor ray` vs `local`, 2 workers", "executor_overhead", _executor),
    ("data chain, one 1024 clip, every stage in one process, one core", "chain", _chain),
    ("data chain: perception, scratch on disk, memory", "chain", _chain_footprint),
    ("write-shards, 2 workers vs 1 (warm pool)", "chain", _chain_shards),
    (
        "deflate per frame of the chain's clip: zlib level 1 → ISA-L level 1 (what the stages "
        "use), ms and bytes",
        "deflate",
        _deflate,
    ),
    (
        "Ray: a video's stages in one task (`--fuse-stages`) vs one per stage",
        "ray_fused",
        _ray_fused,
    ),
    ("training iterations/s on CPU, fp32", "train_speed", _train_speed),
    (
        "training step of each stage on CPU, before / after the step-cost work",
        "train_step_costs",
        _step_costs,
    ),
    ("inference, coarse → layers → fine, batch 1, CPU", "inference_speed", _inference),
    (
        "learning check on the tiny synthetic dataset (real data chain), L1 vs copying the source",
        "learning_check",
        _learning,
    ),
    (
        "small config: offset generators started as pix2pixHD does vs near the identity",
        "offset_init",
        _offset_init,
    ),
    (
        "small config trained by `hpt-model train-all` vs copying the source (Table IV rows)",
        "small_training",
        _small_training,
    ),
    (
        "small config, issue 22's budget: 60 CPU-minutes a row, full vs H, 3 seeds",
        "small_training_60",
        _small_training,
    ),
    (
        "small config with `colour_augment` (each pair's colour channels swapped alike): "
        "60 CPU-minutes, full vs H (one seed)",
        "small_colour_augment",
        _small_training,
    ),
    (
        "small config with `colour_augment`: the full row over 3 seeds, 60 CPU-minutes",
        "small_colour_augment_seeds",
        _small_training,
    ),
    (
        "small config, step weights: the paper's (coarse 1 : layers 2 : e2e 1) instead of the "
        "default 4 : 2 : 1, 60 CPU-minutes, full row, seed 0's step costs",
        "small_step_weights",
        _small_training,
    ),
    (
        "Table IV at small scale: the five rows, the same CPU budget each",
        "small_ablation",
        _small_training,
    ),
    (
        "Table IV at small scale, issue 22's budget: the five rows, 60 CPU-minutes each "
        "(the coarse-only rows stop at the 10-epoch cap, 2680 steps, inside 30)",
        "small_ablation_60",
        _small_training,
    ),
    ("GPU: training of every stage, paper config, batch 1", "gpu_check", lambda r: _gpu(r, True)),
    (
        "GPU: inference of the whole hierarchy at 1024, batch 1, best mode",
        "gpu_check",
        lambda r: _gpu(r, False),
    ),
]


# results files not named after their script
SCRIPT_OF = {
    "body_model": "benchmarks/body_model_figures.py",
    "small_ablation": "benchmarks/small_training.py",
    "small_training_60": "benchmarks/small_training.py",
    "small_colour_augment": "benchmarks/small_training.py",
    "small_step_weights": "benchmarks/small_training.py",
    "small_colour_augment_seeds": "benchmarks/small_training.py",
    "small_ablation_60": "benchmarks/small_training.py",
}


def render_table(results: Path = RESULTS) -> str:
    """The markdown table, one row per figure, with the script and the run it came from."""
    lines = ["| what | figure | from | run |", "| --- | --- | --- | --- |"]
    for what, name, figure in ROWS:
        r = _load(name, results)
        script = SCRIPT_OF.get(name, f"benchmarks/{name}.py")
        text, when = (figure(r), _when(r)) if r else ("**not measured yet**", "-")
        lines.append(f"| {what} | {text} | `{script}` | {when} |")
    return "\n".join(lines)


def render_chain_table(results: Path = RESULTS) -> str:
    """``docs/throughput.md``'s table: per stage of ``benchmarks/chain.py``, wall and CPU ms
    per frame, their multiples of the raw detector, bytes per frame on disk, peak RSS."""
    r = _load("chain", results)
    if r is None:
        return "**not measured yet** (`python benchmarks/chain.py`)"
    det, det_cpu = r["detector_ms_per_frame"], r["detector_cpu_ms_per_frame"]
    lines = [
        f"{r['frames']} frames; {r['what']}; {_when(r)}.",
        "",
        "| stage | ms/frame, wall | × detector | CPU ms/frame | × detector, CPU "
        "| bytes/frame on disk | peak RSS (MB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| raw MediaPipe Pose (tracking, segmentation) | {det:.0f} | 1 | {det_cpu:.0f} | 1 | | |",
    ]
    if "detector_ms_per_frame_before_after" in r:
        b, a = r["detector_ms_per_frame_before_after"]
        lines[0] += f" The detector: {b:.0f} ms a frame before the stages, {a:.0f} after."
    for name, s in r["stages"].items():
        lines.append(
            f"| {name} | {s['ms_per_frame']:.0f} | {s['ms_per_frame'] / det:.2f} "
            f"| {s['cpu_ms_per_frame']:.0f} | {s['cpu_ms_per_frame'] / det_cpu:.2f} "
            f"| {s['bytes_per_frame']:,} | {s['peak_rss_mb']:,} |"
        )
    lines.append(
        f"| **chain** | {r['chain_ms_per_frame']:.0f} | **{r['chain_over_detector']:.2f}** "
        f"| {r['chain_cpu_ms_per_frame']:.0f} | **{r['chain_over_detector_cpu']:.2f}** "
        f"| {r['scratch_bytes_per_frame']:,} (scratch, before the shards) | |"
    )
    s = r["shards"]
    lines += [
        "",
        f"Perception (remove-bg + pose2d): {r['perception_over_detector']:.2f}× the detector "
        f"wall, {r['perception_over_detector_cpu']:.2f}× CPU{_without_mirror(r)}. "
        f"write-shards over "
        f"{s['copies']} copies of the clip ({s['shards']} shards{_ranges(s)}): "
        f"{s['workers']} workers "
        f"{s['speedup']:.2f}× one (warm pool; {s['speedup_with_pool_start']:.2f}× counting "
        f"the pool's start{_one_worker(s)}{_ceiling(s)}{_pool_loss(s)}), byte-identical: "
        f"{'yes' if s['identical'] else '**no**'}. The "
        f"synthetic clip rendered at {r['render_ms_per_frame']:.0f} ms a frame. Load "
        f"average before / after: {r['load_average_before'][0]} / "
        f"{r['load_average_after'][0]} on {r['cpu_count']} cores.",
    ]
    if "frames_from_video" in r:
        lines += ["", _frames_from_video(r)]
    return "\n".join(lines)


def _one_worker(s: Results) -> str:
    """How the one worker ran (results since both sides get the same threads)."""
    if "turns" not in s:
        return ""
    return (
        f"; {s['threads_per_worker']} thread(s) a worker on both sides, median of "
        f"{s['turns']} turns; {s['speedup_over_opencv_threads_free']:.2f}× one worker whose "
        "OpenCV spreads over every core, as `--workers 1` runs"
    )


def _frames_from_video(r: Results) -> str:
    """The sentence on sample-frames ``image_format: video`` against PNG frames."""
    v = r["frames_from_video"]
    per = ", ".join(f"{k} {x['png']:.0f} → {x['video']:.0f}" for k, x in v["ms_per_frame"].items())
    same = v["remove_bg_identical"] and v["shards_identical"]
    png_bytes = v.get("png_sample_frames_bytes_per_frame")
    if png_bytes is None:  # results from before auto: the main run kept PNG frames
        png_bytes = r["stages"]["sample-frames"]["bytes_per_frame"]
    return (
        f"Frames from the source (`image_format: video`, what the default `auto` chose here: "
        f"no frame files, decoded from the source again) against PNG frames, alternately in "
        f"the same run, ms per frame png → video: {per}; {v['saved_ms_per_frame']:.0f} ms "
        f"and {png_bytes:,} bytes of scratch saved per frame; remove-bg's files and the "
        f"shards {'byte-identical' if same else '**not identical**'}."
    )


IMAGE_IO_BEGIN = (
    "<!-- image-io:begin (written by benchmarks/figures.py from benchmarks/results) -->"
)


def render_image_io_table(results: Path = RESULTS) -> str:
    """``docs/throughput.md``'s image I/O tables, from ``benchmarks/image_io.py``: each way
    of storing the frames and crops (ms per image, bytes, error), the chain's image I/O per
    frame for each combination, and the shards' Blosc settings."""
    r = _load("image_io", results)
    if r is None:
        return "**not measured yet** (`python benchmarks/image_io.py`)"
    lines = [
        f"{r['frames']} frames, {r['crops']} crops; {r['what']}; {_when(r)}.",
        "",
        "| stored as | frame: encode ms | decode ms | bytes | crop: encode ms | decode ms "
        "| bytes | error (largest; PSNR dB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in r["crop"].items():
        f = r["frame"].get(name)
        err = "lossless" if c["lossless"] else f"{c['max_error']}"
        if c["psnr_db"] is not None:
            err += f"; {c['psnr_db']:.1f} (crop), {f['psnr_db']:.1f} (frame)" if f else ""
        frame = f"{f['encode_ms']:.1f} | {f['decode_ms']:.1f} | {f['bytes']:,}" if f else "| |"
        lines.append(
            f"| {name} | {frame} | {c['encode_ms']:.1f} | {c['decode_ms']:.1f} "
            f"| {c['bytes']:,} | {err} |"
        )
    lines += [
        "",
        "| frames, crops | image I/O ms per frame | scratch bytes per frame (frame + crop) |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {c['combination']} | {c['io_ms_per_frame']:.1f} | {c['scratch_bytes_per_frame']:,} |"
        for c in r["chain"]
    ]
    lines += [
        "",
        "| shard array fields, Blosc | write ms per frame | read ms per frame | bytes per frame |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {name} | {a['write_ms_per_frame']:.1f} | {a['read_ms_per_frame']:.1f} "
        f"| {a['bytes_per_frame']:,} |"
        for name, a in r["shard_arrays"].items()
    ]
    return "\n".join(lines)


def update_readme(readme: Path = README, results: Path = RESULTS) -> bool:
    """Replace the table between the markers (and ``docs/throughput.md``'s); True when the
    README changed."""
    from scale_out_figures import SCALE_OUT, render_scale_out_table

    rewrite_between_markers(THROUGHPUT, BEGIN, END, render_chain_table(results))
    rewrite_between_markers(THROUGHPUT, IMAGE_IO_BEGIN, END, render_image_io_table(results))
    rewrite_between_markers(SCALE_OUT, BEGIN, END, render_scale_out_table(results))
    return rewrite_between_markers(readme, BEGIN, END, render_table(results))


if __name__ == "__main__":
    print("README changed" if update_readme() else "README already up to date")
