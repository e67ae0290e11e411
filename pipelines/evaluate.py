"""Evaluation of trained generators on a test split (§IV-C, Tables II and IV): SSIM, LPIPS
and Occlusion State Accuracy per image, a Table II-like table and a grid of results.

For every test pair of the shards (:class:`~hpt_model.data.PairDataset` on the split, pairs
seeded, the first ``limit`` of them) each evaluated model generates the target from the
source (:func:`hpt_model.inference.run_transfer`, as far as its Table IV variant goes), and
the result is compared with the target frame, both at the model's output resolution (the
config's fine size; the 1024 ground truth is area-averaged down to it, as the training's
inputs are):

- SSIM (:func:`hpt_model.metrics.ssim.ssim`) and LPIPS (:mod:`hpt_model.metrics.lpips`) on
  the result clamped to [-1, 1];
- OSA (:func:`image_osa`): the result as uint8 goes through the project's single-image
  perception and fit (:func:`pipelines.perceive.perceive` with ``crop=False``: the result
  *is* the target crop, so its fit lives in the target frame's normalised coordinates) and
  :mod:`pipelines.occlusion` compares its occlusion states with those of the target frame's
  own fit (the shard's ``body_pose``, ``global_orient``, ``betas``, ``camera``). A result in
  which no person (or too few landmarks) is found scores 0 and counts as not detected.

The oracle (``ModelSpec`` with no generators) feeds the ground truth itself as the result:
SSIM 1 and LPIPS 0 by construction, and its OSA is the ceiling the fitter allows.

:func:`evaluate` writes ``metrics.json`` (settings, a summary and every image's scores per
model), ``table.md`` (one row per model) and ``grid.png`` (source, target pose, each model,
ground truth for the first pairs). ``docs/evaluation.md`` ("The ``eval`` command") is the
user's view. This lives in ``pipelines`` rather than ``hpt_model`` because OSA needs
``hpt_data``'s fitter, detector and renderer (DESIGN.md's import rule).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from hpt_data.shards.schema import CROP, HEATMAP_SIGMA_1024
from pipelines.occlusion import (
    APART,
    JUNCTION_RADIUS,
    OSA_SIZE,
    BodyParams,
    OcclusionStates,
    min_overlap_pixels,
    occlusion_state_accuracy,
    occlusion_states_smpl,
)

ORACLE = "ground truth (oracle)"
#: Height of the caption strip above the grid's tiles, pixels.
GRID_HEADER = 28


# --------------------------------------------------------------------------- OSA of an image


@dataclass
class ImageOSA:
    """OSA of one generated image against its target frame's fit.

    ``osa``: the fraction of agreeing part pairs among those overlapping in either body; 0
    when no person was found (``detected`` False, ``note`` says why); NaN when a person was
    found but no pair overlaps in either body (nothing to judge). ``agree`` / ``counted``:
    the pairs behind it (for an undetected image, ``counted`` is the target's overlapping
    pairs, none agreeing).
    """

    osa: float
    detected: bool
    agree: int
    counted: int
    note: str = ""


def target_params(batch: dict[str, Any], i: int) -> BodyParams:
    """The target frame's fit (item ``i`` of a PairDataset batch) as OSA's BodyParams."""

    def arr(key: str) -> np.ndarray:
        value = batch[key][i]
        value = value.detach().cpu().numpy() if isinstance(value, Tensor) else value
        return np.asarray(value, np.float64)

    # a perspective fit's distance, where the shards carry it (0 = weak perspective)
    extra = {}
    if "target_camera_distance" in batch:
        extra["camera_distance"] = float(arr("target_camera_distance"))
    return BodyParams(
        global_orient=arr("target_global_orient"),
        body_pose=arr("target_body_pose").reshape(-1),
        camera=arr("target_camera"),
        betas=arr("target_betas"),
        **extra,
    )


def image_osa(
    generated: np.ndarray,
    target: BodyParams,
    body_model: Any,
    *,
    target_states: OcclusionStates | None = None,
    fit_settings: Any = None,
) -> ImageOSA:
    """OSA of a generated image (the docstring of ``pipelines/occlusion.py`` leaves this
    signature).

    Parameters
    ----------
    generated : (H, W, 3) uint8 BGR, square: the generated target crop (any size; the
        perception works at 1024).
    target : the target frame's fit.
    body_model : ``hpt_data.body.BodyModel`` that posed both fits.
    target_states : the target's states when already computed (they do not depend on
        the generated image).
    fit_settings : ``FitSMPLSettings`` of the fit; the stage's defaults when None.
    """
    from pipelines.perceive import PerceptionError, perceive

    gt = target_states if target_states is not None else occlusion_states_smpl(body_model, target)
    try:
        fit = BodyParams.from_fit(perceive(generated, crop=False, fit=fit_settings))
    except PerceptionError as exc:
        counted = int((gt.states != APART).sum())
        return ImageOSA(0.0, False, 0, counted, str(exc).splitlines()[0])
    pred = occlusion_states_smpl(body_model, fit)
    counted_mask = (pred.states != APART) | (gt.states != APART)
    agree = int((pred.states[counted_mask] == gt.states[counted_mask]).sum())
    return ImageOSA(occlusion_state_accuracy(pred, gt), True, agree, int(counted_mask.sum()), "")


# --------------------------------------------------------------------------- models and LPIPS


@dataclass
class ModelSpec:
    """One row of the table: generators (None: the oracle), where they came from, and
    whether S and D come from the volume network (Ours-V)."""

    name: str
    gens: Any  # hpt_model.inference.Generators | None
    origin: str
    volume: bool = False

    @property
    def oracle(self) -> bool:
        return self.gens is None


#: A Table IV row's stage folders (docs/training.md's layout), in the order they are tried.
LAYER_STAGES: tuple[str, ...] = ("face", "arm", "leg")


def load_row(
    path: str | Path,
    *,
    volume: bool = False,
    volume_checkpoint: str | Path | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
) -> Any:
    """The generators of one table row, from a checkpoint file or a row's run folder.

    A folder is read as ``docs/training.md`` lays out the Table IV runs: ``e2e/`` or
    ``fine/`` (the full method; :func:`hpt_model.inference.find_checkpoint`); else
    ``face/``, ``arm/``, ``leg/`` (a part-layer row, PL or PL⁻: each stage's checkpoint
    holds the coarse generator it was trained on and its own part generator, so the three
    are put together; the coarse comes from ``face``); else ``coarse/`` (rows H, H+S,
    H+S+D). Raises TrainingError naming the file when a piece is missing or does not fit.
    """
    from hpt_model.config import HPTConfig
    from hpt_model.inference import GENERATOR_RUNS, find_checkpoint, load_generators
    from hpt_model.training.checkpoint import FINAL, LAST, TrainingError, load_checkpoint

    path = Path(path)

    def load(where: Path) -> Any:
        return load_generators(
            where,
            volume=volume,
            volume_checkpoint=volume_checkpoint,
            device=device,
            precision=precision,
        )

    def has(folder: Path) -> bool:
        return (folder / FINAL).is_file() or (folder / LAST).is_file()

    if path.is_file() or not path.is_dir():
        return load(path)
    if any(has(path / run) for run in GENERATOR_RUNS) or has(path):
        return load(path)
    if all(has(path / stage) for stage in LAYER_STAGES):
        files = {stage: find_checkpoint(path / stage, ()) for stage in LAYER_STAGES}
        gens = load(files["face"])
        variant = gens.config.variant.name
        for stage in LAYER_STAGES[1:]:
            state = load_checkpoint(files[stage])
            models = state.get("models", {})
            if state.get("stage") != stage or "layers" not in models:
                raise TrainingError(
                    f"{files[stage]}: a '{state.get('stage')}' checkpoint, not the {stage} "
                    "stage's part layers"
                )
            theirs = HPTConfig.from_dict(state["config"]).variant.name
            if theirs != variant:
                raise TrainingError(
                    f"{files[stage]}: trained as variant {theirs}, but {files['face']} is {variant}"
                )
            prefix = f"generators.{stage}."
            weights = {
                k[len(prefix) :]: v for k, v in models["layers"].items() if k.startswith(prefix)
            }
            try:
                gens.nets["layers"].generators[stage].load_state_dict(weights, strict=True)
            except RuntimeError as exc:
                raise TrainingError(f"{files[stage]}: its {stage} generator does not fit") from exc
        gens.origin["layers"] = ", ".join(str(f) for f in files.values())
        return gens
    if has(path / "coarse"):
        return load(find_checkpoint(path / "coarse", ()))
    return load(path)  # find_checkpoint's error names what it looked for


def name_models(models: Sequence[tuple[Any, str, bool]]) -> list[ModelSpec]:
    """Row names for ``(generators or None, origin, volume)``: the config's Table IV variant
    (``-V`` appended for Ours-V, `` (random)`` for random weights), the oracle's
    :data:`ORACLE`; names that would repeat get their origin appended."""
    names = []
    for gens, _, volume in models:
        if gens is None:
            names.append(ORACLE)
            continue
        name = gens.config.variant.name + ("-V" if volume else "")
        names.append(name + (" (random)" if gens.random else ""))
    specs = []
    for (gens, origin, volume), name in zip(models, names, strict=True):
        if names.count(name) > 1:
            name = f"{name} [{origin}]"
        specs.append(ModelSpec(name, gens, origin, volume))
    return specs


@dataclass
class LpipsMetric:
    """The LPIPS network and what the table says of it."""

    model: Any  # hpt_model.metrics.lpips.LPIPS
    net: str
    backbone: str  # the weights file, or "random"

    @property
    def trusted(self) -> bool:
        return self.backbone != "random"


def load_metric_lpips(
    net: str = "alex", weights: str | os.PathLike[str] | None = None, allow_random: bool = False
) -> LpipsMetric:
    """LPIPS with its backbone weights from ``weights`` or torch hub's cache.

    Raises ``MissingWeightsError`` (one line naming the files looked for) when there are
    none, unless ``allow_random``: then random backbone weights, with a warning, and the
    metric is marked untrusted.
    """
    from hpt_model.metrics.lpips import MissingWeightsError, default_backbone_paths, load_lpips

    try:
        model = load_lpips(net, backbone_path=weights)
    except MissingWeightsError:
        if not allow_random or weights is not None:
            raise
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # said once, by the caller
            return LpipsMetric(load_lpips(net, allow_random=True), net, "random")
    if weights is not None:
        used = str(Path(weights).expanduser())
    else:
        used = str(next(p for p in default_backbone_paths(net) if p.is_file()))
    return LpipsMetric(model, net, used)


# --------------------------------------------------------------------------- settings, summary


@dataclass(frozen=True)
class EvalSettings:
    """What to evaluate on and what to compute."""

    split: str = "test"
    limit: int | None = None  # the first N pairs; None: all
    seed: int = 0  # the pairs' seed (PairDataset)
    batch_size: int = 1
    workers: int = 0  # DataLoader workers
    osa: bool = True
    grid_rows: int = 8  # pairs shown in grid.png
    grid_tile: int = 192  # side of one grid tile, pixels
    progress: bool = True

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        if self.batch_size < 1 or self.workers < 0:
            raise ValueError("batch_size must be at least 1 and workers at least 0")
        if self.grid_rows < 0 or self.grid_tile < 32:
            raise ValueError("grid_rows must be >= 0 and grid_tile at least 32 pixels")


def _mean(values: Sequence[float]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(kept)) if kept else None


def summarize(images: Sequence[dict[str, Any]], with_osa: bool) -> dict[str, Any]:
    """Summary of per-image scores (dicts with ``ssim``, ``lpips`` and, with OSA, ``osa``,
    ``detected``, ``osa_agree``, ``osa_counted``).

    ``osa`` is the mean over the images that have one: detected images with at least one
    overlapping pair, and undetected images at 0 (NaN, i.e. None, images are left out and
    counted in ``n_without_overlap``); ``osa_detected`` the mean over detected images only;
    ``osa_pooled`` agreeing pairs over counted pairs, all images together;
    ``detection_rate`` the fraction of images in which a person was found and fitted.
    """
    out: dict[str, Any] = {
        "n_images": len(images),
        "ssim": _mean([im["ssim"] for im in images]),
        "lpips": _mean([im["lpips"] for im in images]),
    }
    if not with_osa:
        return out
    osa = [im["osa"] for im in images]
    detected = [im for im in images if im["detected"]]
    counted = sum(im["osa_counted"] for im in images)
    out.update(
        osa=_mean(osa),
        osa_detected=_mean([im["osa"] for im in detected]),
        osa_pooled=sum(im["osa_agree"] for im in images) / counted if counted else None,
        detection_rate=len(detected) / len(images) if images else None,
        n_detected=len(detected),
        n_without_overlap=sum(1 for v in osa if v is None or math.isnan(v)),
    )
    return out


# --------------------------------------------------------------------------- the loop


@dataclass
class ModelResult:
    """One model's rows: its scores per image and their summary."""

    spec: ModelSpec
    resolution: int
    images: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    grid: list[np.ndarray] = field(default_factory=list)  # (T, T, 3) uint8 RGB tiles


@dataclass
class EvalResult:
    """What :func:`evaluate` computed and wrote."""

    models: list[ModelResult]
    settings: dict[str, Any]
    files: list[Path]


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    from torch.utils.data import default_collate

    return default_collate(items)


def _tile(image: np.ndarray, tile: int) -> np.ndarray:
    """(H, W, 3) uint8 → (tile, tile, 3): area average when shrinking, linear otherwise."""
    import cv2

    mode = cv2.INTER_AREA if image.shape[0] > tile else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (tile, tile), interpolation=mode)


def pose_tile(parsing: np.ndarray, joints2d: np.ndarray, tile: int, sigma: float) -> np.ndarray:
    """The target pose as the grid shows it: S in the parts' colours with the joints' heatmaps
    H in white over it. parsing (1024, 1024) labels; joints2d (24, 2) pixels at 1024; sigma in
    1024-frame pixels; → (tile, tile, 3) uint8 RGB."""
    import cv2

    from hpt_data.render.preview_maps import colour_labels
    from hpt_model.training.inputs import render_heatmaps

    labels = cv2.resize(np.asarray(parsing, np.uint8), (tile, tile), cv2.INTER_NEAREST)
    base = colour_labels(labels)[..., ::-1].astype(np.float32)  # BGR palette → RGB
    joints = torch.as_tensor(np.asarray(joints2d, np.float32))[None]
    heat = render_heatmaps(joints, tile, sigma)[0].amax(dim=0).numpy()[..., None]
    return (base * (1 - heat) + 255 * heat).round().astype(np.uint8)


def _rgb(image: Tensor) -> np.ndarray:
    """(3, H, W) uint8 → (H, W, 3) uint8 RGB."""
    return image.permute(1, 2, 0).cpu().numpy()


def _fixed_tiles(batch: dict[str, Any], b: int, tile: int, sigma: float) -> list[np.ndarray]:
    """The grid tiles of pair ``b`` of a batch that no model changes: source, target pose,
    ground truth."""
    pose = pose_tile(
        batch["target_parsing"][b].numpy(), batch["target_joints2d"][b].numpy(), tile, sigma
    )
    source, truth = _rgb(batch["source_image"][b]), _rgb(batch["target_image"][b])
    return [_tile(source, tile), pose, _tile(truth, tile)]


def evaluate(
    shards: str | Path,
    models: Sequence[ModelSpec],
    out: str | Path,
    lpips: LpipsMetric,
    settings: EvalSettings | None = None,
    *,
    body_model: Any = None,
    fit_settings: Any = None,
    device: str | torch.device = "cpu",
) -> EvalResult:
    """Evaluate each model on the shards' test pairs and write ``metrics.json``,
    ``table.md`` and ``grid.png`` to ``out``.

    Parameters
    ----------
    shards : the shard folder (``hpt-data``'s ``write-shards`` output).
    models : the rows (see :func:`name_models`); an oracle row feeds the ground truth at the
        first model's resolution (1024 when it is alone).
    lpips : from :func:`load_metric_lpips`.
    body_model : the body model of the shards' fits, for OSA; the built-in one when None.
    fit_settings : ``FitSMPLSettings`` of the OSA fit; the stage's defaults when None.
    """
    from hpt_model.data import PairDataset, decode_pair_batch
    from hpt_model.inference import run_transfer, to_uint8
    from hpt_model.metrics.ssim import ssim
    from hpt_model.training.inputs import resize

    settings = settings or EvalSettings()
    if not models:
        raise ValueError("nothing to evaluate: give at least one checkpoint or the oracle")
    device = torch.device(device)
    out = Path(out)
    volume = any(m.volume for m in models)
    dataset = PairDataset(shards, settings.split, seed=settings.seed, with_volume=volume)
    n = len(dataset) if settings.limit is None else min(settings.limit, len(dataset))
    keys = dataset.frames.frame_keys
    if settings.osa and body_model is None:
        from hpt_data.body import load_body_model

        body_model = load_body_model()
    lpips_net = lpips.model.to(device)
    sizes = [m.gens.config.inputs.fine_size for m in models if not m.oracle]
    sigmas = [m.gens.heatmap_sigma for m in models if not m.oracle]
    sigma = sigmas[0] if sigmas else HEATMAP_SIGMA_1024  # of the grid's target pose
    oracle_size = sizes[0] if sizes else CROP
    gt_states: dict[int, OcclusionStates] = {}
    fixed: list[list[np.ndarray]] = []  # per grid row: source, target pose, ground truth
    results = []
    for spec in models:
        size = oracle_size if spec.oracle else spec.gens.config.inputs.fine_size
        result = ModelResult(spec, size)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, range(n)),
            batch_size=settings.batch_size,
            num_workers=settings.workers,
            collate_fn=_collate,
        )
        bar = tqdm(loader, desc=spec.name, unit="batch", disable=not settings.progress)
        for batch in bar:
            target = decode_pair_batch({"target_image": batch["target_image"].to(device)})
            truth = resize(target["target_image"], size)
            if spec.oracle:
                pred = truth
            else:
                pred = run_transfer(spec.gens, batch, volume=spec.volume).final.to(device)
                pred = pred.clamp(-1, 1)
            with torch.no_grad():
                s = ssim(pred, truth).cpu().tolist()
                d = lpips_net(pred, truth).cpu().tolist()
            pred_u8 = to_uint8(pred).numpy()  # (B, size, size, 3) RGB
            for b, index in enumerate(batch["index"].tolist()):
                record: dict[str, Any] = {
                    "index": index,
                    "target": keys[index],
                    "source": keys[int(dataset.sources[index])],
                    "ssim": float(s[b]),
                    "lpips": float(d[b]),
                }
                if settings.osa:
                    if index not in gt_states:
                        gt_states[index] = occlusion_states_smpl(
                            body_model, target_params(batch, b)
                        )
                    scored = image_osa(
                        np.ascontiguousarray(pred_u8[b][..., ::-1]),
                        target_params(batch, b),
                        body_model,
                        target_states=gt_states[index],
                        fit_settings=fit_settings,
                    )
                    record.update(
                        osa=None if math.isnan(scored.osa) else scored.osa,
                        detected=scored.detected,
                        osa_agree=scored.agree,
                        osa_counted=scored.counted,
                        osa_note=scored.note,
                    )
                result.images.append(record)
                if index < settings.grid_rows:
                    result.grid.append(_tile(pred_u8[b], settings.grid_tile))
                    if len(fixed) <= index:
                        fixed.append(_fixed_tiles(batch, b, settings.grid_tile, sigma))
        result.summary = summarize(result.images, settings.osa)
        results.append(result)
    meta = {
        "shards": str(shards),
        "split": settings.split,
        "pairs_seed": settings.seed,
        "limit": settings.limit,
        "n_pairs": n,
        "lpips_net": lpips.net,
        "lpips_backbone": lpips.backbone,
        "osa": settings.osa,
        "osa_settings": {
            "size": OSA_SIZE,
            "min_overlap_px": min_overlap_pixels(OSA_SIZE),
            "junction_radius_m": JUNCTION_RADIUS,
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    files = [
        _write_text(out / "metrics.json", json.dumps(_metrics_json(results, meta), indent=1)),
        _write_text(out / "table.md", render_table(results, meta, lpips.trusted)),
    ]
    if settings.grid_rows and fixed:
        files.append(_write_grid(out / "grid.png", results, fixed, settings.grid_tile))
    return EvalResult(results, meta, files)


# --------------------------------------------------------------------------- outputs


def _write_text(path: Path, text: str) -> Path:
    """Write to a temporary name, then rename: no half-written file under the real name."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _metrics_json(results: Sequence[ModelResult], meta: dict[str, Any]) -> dict[str, Any]:
    models = []
    for r in results:
        gens = r.spec.gens
        models.append(
            {
                "name": r.spec.name,
                "origin": r.spec.origin,
                "variant": "ground truth" if gens is None else gens.config.variant.name,
                "volume": r.spec.volume,
                "random_weights": bool(gens is not None and gens.random),
                "resolution": r.resolution,
                "summary": r.summary,
                "images": r.images,
            }
        )
    return {"settings": meta, "models": models}


def _fmt(value: float | None, digits: int, mark: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{mark}"


def render_table(results: Sequence[ModelResult], meta: dict[str, Any], lpips_trusted: bool) -> str:
    """``table.md``: Table II's columns (SSIM ↑, LPIPS ↓, OSA ↑) plus the detection rate,
    one row per model, and notes on how the numbers were made."""
    mark = "" if lpips_trusted else "*"
    lines = [
        f"# Evaluation on {meta['shards']} ({meta['split']} split, {meta['n_pairs']} pairs, "
        f"pair seed {meta['pairs_seed']})",
        "",
        "| method | resolution | SSIM ↑ | LPIPS ↓ | OSA ↑ | detected | pairs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        s = r.summary
        rate = s.get("detection_rate")
        lines.append(
            f"| {r.spec.name} | {r.resolution} | {_fmt(s['ssim'], 4)} | "
            f"{_fmt(s['lpips'], 4, mark)} | {_fmt(s.get('osa'), 3)} | "
            f"{'—' if rate is None else f'{100 * rate:.1f} %'} | {s['n_images']} |"
        )
    lines += ["", "- Metrics at each model's output resolution (the config's fine size)."]
    if lpips_trusted:
        lines.append(f"- LPIPS v0.1, {meta['lpips_net']} backbone `{meta['lpips_backbone']}`.")
    else:
        lines.append(
            f"- \\* LPIPS UNTRUSTWORTHY: random {meta['lpips_net']} backbone weights "
            "(--allow-random-lpips); for testing the pipeline only."
        )
    if meta["osa"]:
        lines.append(
            "- OSA: mean over pairs judged (a result where no person is found scores 0; "
            "pairs with no overlapping parts in either body are left out); detected: "
            "results in which the fitter found and fitted a person. See docs/evaluation.md."
        )
    else:
        lines.append("- OSA not computed (--no-osa).")
    if any(r.spec.gens is not None and r.spec.gens.random for r in results):
        lines.append("- (random): RANDOM generator weights (--allow-random-model): noise.")
    return "\n".join(lines) + "\n"


def _write_grid(
    path: Path, results: Sequence[ModelResult], fixed: list[list[np.ndarray]], tile: int
) -> Path:
    """``grid.png``: a caption strip, then one row per pair: source, target pose, each
    model's result (not the oracle's, which is the ground truth), ground truth."""
    import cv2

    shown = [r for r in results if not r.spec.oracle]  # the oracle's column is the truth
    captions = ["source", "target pose", *(r.spec.name for r in shown), "ground truth"]
    rows = []
    for i, (source, pose, truth) in enumerate(fixed):
        rows.append(np.concatenate([source, pose, *(r.grid[i] for r in shown), truth], 1))
    body = np.concatenate(rows, axis=0)
    header = np.full((GRID_HEADER, body.shape[1], 3), 255, np.uint8)
    for c, text in enumerate(captions):
        cv2.putText(
            header, text[: tile // 8], (c * tile + 4, GRID_HEADER - 9),
            cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA,
        )  # fmt: skip
    image = np.concatenate([header, body], axis=0)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"{path}: cannot write the grid image")
    os.replace(tmp, path)
    return path
