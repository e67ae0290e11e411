"""``hpt``: pose transfer of one photo, motion videos and evaluation (Typer).

``hpt transfer`` generates the person of a photo in one target pose; ``hpt motion`` in a
sequence of poses, as an mp4 (``docs/pipelines.md``); ``hpt eval`` scores checkpoints on a
shard split (``docs/evaluation.md``). Commands parse options and call
:mod:`pipelines.transfer` / :mod:`pipelines.motion` / :mod:`pipelines.evaluate`. A
user-facing problem (an unreadable photo, no person, a bad pose file, a missing checkpoint:
an :class:`~hpt_data.errors.HptError`) ends with one line, ``error: ...``, and exit status
2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from hpt_data.cli_options import option_group
from hpt_data.errors import HptError
from hpt_model.renamed_flags import Renamed, renaming_command

app = typer.Typer(
    name="hpt",
    help="Pose transfer of one photo (hpt transfer), motion videos (hpt motion) and "
    "evaluation with SSIM, LPIPS and occlusion state accuracy (hpt eval).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _app_options(
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Let MediaPipe's native (C++) log lines through.")
    ] = False,
) -> None:
    """Options of every command; ``--verbose`` reaches the perception code (and any worker
    process) through the environment."""
    if verbose:
        from hpt_data.native_logs import enable_verbose

        enable_verbose()


def _fail(exc: HptError) -> typer.Exit:
    """``error: <the message's first line>`` on stderr; exit status 2."""
    lines = str(exc).strip().splitlines()
    typer.echo(f"error: {lines[0] if lines else type(exc).__name__}", err=True)
    return typer.Exit(2)


Source = Annotated[Path, typer.Option("--source", help="Photo of one person.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes.")]


@dataclass(frozen=True)
class ModelOptions:
    """Which generators ``hpt transfer`` and ``hpt motion`` run, and where: trained weights
    (a checkpoint), or random ones for trying the pipeline (tests)."""

    checkpoint: Path | None = None
    volume_checkpoint: Path | None = None
    allow_random_model: bool = False
    model_config: str = "paper"
    volume: bool = False
    device: str = "auto"
    precision: str = "fp32"
    seed: int = 0

    def load(self) -> Any:  # -> hpt_model.checkpoints.Generators
        """The generators, on ``device`` (auto: CUDA where there is one)."""
        return _generators(
            self.checkpoint,
            self.volume_checkpoint,
            self.allow_random_model,
            self.model_config,
            self.volume,
            self.device,
            self.precision,
            self.seed,
        )


VolumeCheckpoint = Annotated[
    Path | None,
    typer.Option(help="Volume network (--volume): default RUN/volume/final.pt."),
]
AllowRandom = Annotated[
    bool,
    typer.Option("--allow-random-model", help="Random weights (noise images): tests only."),
]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
Precision = Annotated[str, typer.Option(help="fp32 | bf16 (autocast)")]

#: The Typer parameter of each ModelOptions field (``hpt eval`` shares those it takes).
MODEL_PARAMETERS: dict[str, Any] = {
    "checkpoint": Annotated[
        Path | None,
        typer.Option(
            help="Generators: a fine/e2e final.pt, or the run folder holding e2e/, fine/."
        ),
    ],
    "volume_checkpoint": VolumeCheckpoint,
    "allow_random_model": AllowRandom,
    "model_config": Annotated[
        str,
        typer.Option(
            "--model-config", "-m", help="Random weights: paper | tiny[:VARIANT] | config JSON."
        ),
    ],
    "volume": Annotated[
        bool, typer.Option("--volume", help="Ours-V: S and D from the volume network, not SMPL.")
    ],
    "device": Device,
    "precision": Precision,
    "seed": Annotated[int, typer.Option(help="Seed of random weights.")],
}
model_options = option_group(ModelOptions, MODEL_PARAMETERS)

#: Old spellings (accepted until the next release, with a warning): -s is --stage
#: elsewhere, --config a datasets.yaml in hpt-data, --workers processes in hpt-data.
_MODEL_CONFIG_RENAMED = (Renamed("--config", "--model-config"), Renamed("-c", "--model-config"))
RUN_RENAMED = renaming_command(Renamed("-s", "--source"), *_MODEL_CONFIG_RENAMED)
EVAL_RENAMED = renaming_command(Renamed("--workers", "--loader-workers"), *_MODEL_CONFIG_RENAMED)


def _generators(
    checkpoint: Path | None,
    volume_checkpoint: Path | None,
    allow_random: bool,
    config: str,
    volume: bool,
    device: str,
    precision: str,
    seed: int,
) -> Any:
    import torch

    from hpt_model.checkpoints import load_generators
    from hpt_model.config import load_config

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return load_generators(
        checkpoint,
        load_config(config) if checkpoint is None else None,
        volume=volume,
        volume_checkpoint=volume_checkpoint,
        allow_random=allow_random,
        device=device,
        precision=precision,
        seed=seed,
    )


def _one_of(**options: Any) -> str:
    given = [name for name, value in options.items() if value is not None]
    flags = ", ".join("--" + n.replace("_", "-") for n in options)
    if len(given) != 1:
        raise HptError(f"give exactly one target of {flags} (got {len(given)})")
    return given[0]


@app.command(cls=RUN_RENAMED)
@model_options
def transfer(
    source: Source,
    target_pose: Annotated[
        Path | None, typer.Option(help="SMPL pose .npz (body_pose, global_orient).")
    ] = None,
    pose_index: Annotated[int, typer.Option(help="Which pose of a sequence file.")] = 0,
    target_frame: Annotated[
        str | None,
        typer.Option(help="VIDEO_WORKDIR:FRAME, a frame of a video processed by hpt-data."),
    ] = None,
    target_named: Annotated[
        str | None, typer.Option(help="A built-in pose or motion (its last pose).")
    ] = None,
    intermediates: Annotated[
        bool, typer.Option("--intermediates", help="Also save every intermediate + a sheet.")
    ] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("transfer"),
    person: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Which person of a photo with several, counted from the left (1 = leftmost); "
            "default: the main one (largest and most central), with a note.",
        ),
    ] = None,
    quiet: Quiet = False,
    *,
    opts: ModelOptions,
) -> None:
    """Generate the person of --source in one target pose: OUT/result.png (+ intermediates)."""
    from pipelines.perceive import perceive
    from pipelines.targets import load_pose_file, load_video_poses, named_target, parse_frame_spec
    from pipelines.transfer import save_transfer, transfer_poses

    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING, format="%(message)s")
    try:
        kind = _one_of(
            target_pose=target_pose, target_frame=target_frame, target_named=target_named
        )
        if kind == "target_pose":
            poses = load_pose_file(target_pose).pick(pose_index)  # type: ignore[arg-type]
        elif kind == "target_frame":
            folder, frame = parse_frame_spec(target_frame)  # type: ignore[arg-type]
            poses = load_video_poses(folder, frame)
        else:
            poses = named_target(target_named)  # type: ignore[arg-type]
        gens = opts.load()
        seen = perceive(source, person=person)
        result = next(transfer_poses(seen, poses, gens, volume=opts.volume, progress=not quiet))
        written = save_transfer(result, seen, out, intermediates)
    except HptError as exc:
        raise _fail(exc) from exc
    if not quiet:
        for flag in seen.flags:
            typer.echo(f"note: {source}: {flag}", err=True)
    typer.echo(f"{result.label}: wrote {written[0]} ({len(written)} files in {out})")


@app.command(cls=RUN_RENAMED)
@model_options
def motion(
    source: Source,
    poses: Annotated[Path | None, typer.Option(help="SMPL pose sequence .npz.")] = None,
    video: Annotated[
        Path | None, typer.Option(help="A video's work folder (hpt-data, after fit-smpl).")
    ] = None,
    named: Annotated[str | None, typer.Option(help="A built-in motion (walk, wave, ...).")] = None,
    frames: Annotated[int, typer.Option(min=1, help="Frames of a --named motion.")] = 50,
    fps: Annotated[
        float | None, typer.Option(help="Video rate; default: the poses' own (25 for files).")
    ] = None,
    smooth: Annotated[bool, typer.Option(help="Smooth the poses over time.")] = True,
    frame: Annotated[
        str, typer.Option(help="source: the photo's resolution | crop: the fine-size crop.")
    ] = "source",
    batch_size: Annotated[int, typer.Option(min=1, help="Poses per model call.")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="The mp4 to write.")] = Path(
        "motion.mp4"
    ),
    quiet: Quiet = False,
    *,
    opts: ModelOptions,
) -> None:
    """Generate the person of --source in every pose of a sequence: an mp4, one frame each."""
    from pipelines.motion import write_motion
    from pipelines.perceive import perceive
    from pipelines.targets import load_pose_file, load_video_poses, named_sequence

    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING, format="%(message)s")
    try:
        kind = _one_of(poses=poses, video=video, named=named)
        if kind == "poses":
            sequence = load_pose_file(poses, fps)  # type: ignore[arg-type]
        elif kind == "video":
            sequence = load_video_poses(video, None, fps)  # type: ignore[arg-type]
        else:
            sequence = named_sequence(named, frames, fps or 25.0)  # type: ignore[arg-type]
        gens = opts.load()
        person = perceive(source)
        summary = write_motion(
            person,
            sequence,
            gens,
            out,
            volume=opts.volume,
            frame=frame,
            smooth=smooth,
            fps=fps,
            batch_size=batch_size,
            progress=not quiet,
        )
    except HptError as exc:
        raise _fail(exc) from exc
    typer.echo(
        f"wrote {summary.path}: {summary.frames} frames, {summary.width}x{summary.height}, "
        f"{summary.fps:g} fps"
    )


@app.command("eval", cls=EVAL_RENAMED)
def evaluate_command(
    data: Annotated[Path, typer.Option("--data", help="Shard folder (hpt-data's shards).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="A run folder or fine/e2e/coarse final.pt; repeat for more rows."),
    ] = None,
    split: Annotated[str, typer.Option(help="Shard split to evaluate on.")] = "test",
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the first N pairs.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the pairs (and of random weights).")] = 0,
    pairs: Annotated[
        str,
        typer.Option(
            help="auto | stored | sampled: the split's stored pair list (auto: where the "
            "shards have one) or every frame a target, its source drawn with --seed."
        ),
    ] = "auto",
    lpips_net: Annotated[str, typer.Option(help="LPIPS backbone: alex | vgg.")] = "alex",
    lpips_weights: Annotated[
        Path | None, typer.Option(help="The backbone's torchvision ImageNet weights file.")
    ] = None,
    allow_random_lpips: Annotated[
        bool,
        typer.Option("--allow-random-lpips", help="Random LPIPS backbone: tests only."),
    ] = False,
    osa: Annotated[bool, typer.Option(help="Compute OSA (fits every result).")] = True,
    oracle: Annotated[
        bool, typer.Option("--oracle", help="Add a row scoring the ground truth itself.")
    ] = False,
    allow_random_model: AllowRandom = False,
    model_config: Annotated[
        list[str] | None,
        typer.Option(
            "--model-config",
            "-m",
            help="Random weights (--allow-random-model): paper|small|tiny[:VARIANT] (repeatable).",
        ),
    ] = None,
    volume: Annotated[
        bool,
        typer.Option("--volume", help="Also an Ours-V row per model (S, D from the volume net)."),
    ] = False,
    volume_checkpoint: VolumeCheckpoint = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Pairs per model call.")] = 1,
    loader_workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 0,
    grid_rows: Annotated[int, typer.Option(min=0, help="Pairs shown in grid.png.")] = 8,
    body_model: Annotated[
        str, typer.Option(help="SMPL files of the shards' fits ('' = built-in), for OSA.")
    ] = "",
    device: Device = "auto",
    precision: Precision = "fp32",
    quiet: Quiet = False,
) -> None:
    """Score checkpoints on a test split: SSIM, LPIPS, OSA → metrics.json, table.md, grid.png."""
    from hpt_model.checkpoints import load_generators
    from pipelines.evaluate import EvalSettings, evaluate, load_metric_lpips, name_models

    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING, format="%(message)s")
    try:
        if lpips_net not in ("alex", "vgg"):
            raise HptError(f"--lpips-net must be alex or vgg, got {lpips_net!r}")
        if pairs not in ("auto", "stored", "sampled"):
            raise HptError(f"--pairs must be auto, stored or sampled, got {pairs!r}")
        if model_config and not allow_random_model:
            raise HptError("--model-config gives a model random weights: add --allow-random-model")
        if not (checkpoint or model_config or oracle):
            raise HptError(
                "nothing to evaluate: pass --checkpoint RUN_DIR (repeatable), --oracle, or "
                "--allow-random-model --model-config CONFIG"
            )
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        lpips = load_metric_lpips(lpips_net, lpips_weights, allow_random_lpips)
        models: list[tuple[Any, str, bool]] = []
        for path in checkpoint or []:
            gens = load_generators(
                path,
                volume=volume,
                volume_checkpoint=volume_checkpoint,
                device=device,
                precision=precision,
            )
            models += [(gens, str(path), False)] + ([(gens, str(path), True)] if volume else [])
        for spec in model_config or []:
            gens = _generators(None, None, True, spec, volume, device, precision, seed)
            origin = f"random:{spec}"
            models += [(gens, origin, False)] + ([(gens, origin, True)] if volume else [])
        if oracle:
            models.append((None, "oracle", False))
        if not lpips.trusted:
            typer.echo(
                f"warning: LPIPS {lpips_net} backbone weights not found: RANDOM backbone, the "
                "LPIPS column is untrustworthy (marked * in table.md)",
                err=True,
            )
        settings = EvalSettings(
            split=split,
            limit=limit,
            seed=seed,
            pairs=pairs,
            batch_size=batch_size,
            workers=loader_workers,
            osa=osa,
            grid_rows=grid_rows,
            progress=not quiet,
        )
        fit_settings = model_of_fits = None
        if body_model and osa:
            from hpt_data.body import load_body_model
            from hpt_data.stages.fit_smpl import FitSMPLSettings

            fit_settings = FitSMPLSettings(body_model=body_model)
            model_of_fits = load_body_model(body_model)
        result = evaluate(
            data,
            name_models(models),
            out,
            lpips,
            settings,
            body_model=model_of_fits,
            fit_settings=fit_settings,
            device=device,
        )
    except HptError as exc:
        raise _fail(exc) from exc
    from pipelines.evaluate.report import describe_pairs

    typer.echo(f"pairs: {describe_pairs(result.settings)}")
    for row in result.models:
        s = row.summary
        osa_text = "" if s.get("osa") is None else f", OSA {s['osa']:.3f}"
        typer.echo(
            f"{row.spec.name}: SSIM {s['ssim']:.4f}, LPIPS {s['lpips']:.4f}{osa_text} "
            f"({s['n_images']} pairs)"
        )
    typer.echo(f"wrote {', '.join(str(f) for f in result.files)}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
