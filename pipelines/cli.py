"""``hpt``: pose transfer of one photo and motion videos (Typer).

``hpt transfer`` generates the person of a photo in one target pose; ``hpt motion`` in a
sequence of poses, as an mp4 (``docs/pipelines.md``). Commands parse options and call
:mod:`pipelines.transfer` / :mod:`pipelines.motion`. A user-facing problem (an unreadable
photo, no person, a bad pose file, a missing checkpoint) ends with one line, ``error:
...``, and exit status 2.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="hpt",
    help="Pose transfer of one photo (hpt transfer) and motion videos (hpt motion).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


Source = Annotated[Path, typer.Option("--source", "-s", help="Photo of one person.")]
Checkpoint = Annotated[
    Path | None,
    typer.Option(help="Generators: a fine/e2e final.pt, or the run folder holding e2e/, fine/."),
]
VolumeCheckpoint = Annotated[
    Path | None, typer.Option(help="Volume network (--volume): default RUN/volume/final.pt.")
]
AllowRandom = Annotated[
    bool,
    typer.Option("--allow-random-model", help="Random weights (noise images): tests only."),
]
ConfigOpt = Annotated[
    str,
    typer.Option("--config", "-c", help="Random weights: paper | tiny[:VARIANT] | config JSON."),
]
Volume = Annotated[
    bool, typer.Option("--volume", help="Ours-V: S and D from the volume network, not SMPL.")
]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
Precision = Annotated[str, typer.Option(help="fp32 | bf16 (autocast)")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes.")]


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

    from hpt_model.cli import load_config
    from hpt_model.inference import load_generators

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


def _errors() -> tuple[type[Exception], ...]:
    from hpt_data.errors import HptError
    from hpt_model.training.checkpoint import TrainingError

    return (HptError, TrainingError, ValueError)


def _one_of(**options: Any) -> str:
    given = [name for name, value in options.items() if value is not None]
    flags = ", ".join("--" + n.replace("_", "-") for n in options)
    if len(given) != 1:
        raise ValueError(f"give exactly one target of {flags} (got {len(given)})")
    return given[0]


@app.command()
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
    checkpoint: Checkpoint = None,
    volume_checkpoint: VolumeCheckpoint = None,
    allow_random_model: AllowRandom = False,
    config: ConfigOpt = "paper",
    volume: Volume = False,
    intermediates: Annotated[
        bool, typer.Option("--intermediates", help="Also save every intermediate + a sheet.")
    ] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("transfer"),
    device: Device = "auto",
    precision: Precision = "fp32",
    seed: int = 0,
    quiet: Quiet = False,
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
        gens = _generators(
            checkpoint,
            volume_checkpoint,
            allow_random_model,
            config,
            volume,
            device,
            precision,
            seed,
        )
        person = perceive(source)
        result = next(transfer_poses(person, poses, gens, volume=volume, progress=not quiet))
        written = save_transfer(result, person, out, intermediates)
    except _errors() as exc:
        raise _fail(str(exc).splitlines()[0]) from exc
    if not quiet:
        for flag in person.flags:
            typer.echo(f"note: {source}: {flag}", err=True)
    typer.echo(f"{result.label}: wrote {written[0]} ({len(written)} files in {out})")


@app.command()
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
    checkpoint: Checkpoint = None,
    volume_checkpoint: VolumeCheckpoint = None,
    allow_random_model: AllowRandom = False,
    config: ConfigOpt = "paper",
    volume: Volume = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Poses per model call.")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="The mp4 to write.")] = Path(
        "motion.mp4"
    ),
    device: Device = "auto",
    precision: Precision = "fp32",
    seed: int = 0,
    quiet: Quiet = False,
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
        gens = _generators(
            checkpoint,
            volume_checkpoint,
            allow_random_model,
            config,
            volume,
            device,
            precision,
            seed,
        )
        person = perceive(source)
        summary = write_motion(
            person,
            sequence,
            gens,
            out,
            volume=volume,
            frame=frame,
            smooth=smooth,
            fps=fps,
            batch_size=batch_size,
            progress=not quiet,
        )
    except _errors() as exc:
        raise _fail(str(exc).splitlines()[0]) from exc
    typer.echo(
        f"wrote {summary.path}: {summary.frames} frames, {summary.width}x{summary.height}, "
        f"{summary.fps:g} fps"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
