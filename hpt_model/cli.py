"""``hpt-model``: the model package's command line (Typer).

``hpt-model train --stage coarse|face|arm|leg|fine|e2e|volume`` trains one stage (see
``docs/training.md`` for the order and the commands). Running the trained model (pose
transfer of one image, a motion video, evaluation) is the ``hpt`` command's
(``pipelines/cli.py``: ``hpt transfer``, ``hpt motion``, ``hpt eval``), since it needs both
packages. Commands parse options and call library functions. A user-facing problem
(a missing earlier checkpoint, missing VGG-19 weights, a bad config file: an
:class:`~hpt_data.errors.HptError`) ends with one line, ``error: ...``, and exit status 2;
anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from hpt_data.errors import HptError
from hpt_data.shards.schema import HEATMAP_SIGMA_1024

app = typer.Typer(
    name="hpt-model",
    help="Train the hierarchical pose-transfer generator (run it with the hpt command).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Train the hierarchical pose-transfer generator (run it with the hpt command)."""


def _fail(exc: HptError) -> typer.Exit:
    """``error: <the message's first line>`` on stderr; exit status 2."""
    lines = str(exc).strip().splitlines()
    typer.echo(f"error: {lines[0] if lines else type(exc).__name__}", err=True)
    return typer.Exit(2)


PathOpt = Annotated[Path | None, typer.Option(dir_okay=False)]


@app.command()
def train(
    stage: Annotated[
        str, typer.Option("--stage", "-s", help="coarse | face | arm | leg | fine | e2e | volume")
    ],
    data: Annotated[
        Path | None, typer.Option("--data", "-d", file_okay=False, help="Shard folder.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: last.pt, final.pt, tb/.")
    ] = Path("runs/hpt"),
    config: Annotated[
        str,
        typer.Option(
            "--config",
            "-c",
            help="paper | tiny [:VARIANT, a Table IV row, e.g. paper:H+S] | a config JSON file.",
        ),
    ] = "paper",
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Default: the paper's for the stage.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Default: 1 (§IV-B).")] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=0, help="Loader workers (default: min(4, CPUs - 1))."),
    ] = None,
    seed: int = 0,
    split: str = "train",
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Steps between checkpoints.")] = 1000,
    log_every: Annotated[int, typer.Option(min=1, help="Steps between logged losses.")] = 50,
    image_every: Annotated[int, typer.Option(min=1, help="Steps between image grids.")] = 500,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop (with a checkpoint) after this many steps.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    init: Annotated[
        Path | None, typer.Option(help="Start from this checkpoint's weights (e2e: fine's).")
    ] = None,
    coarse_checkpoint: PathOpt = None,
    face_checkpoint: PathOpt = None,
    arm_checkpoint: PathOpt = None,
    leg_checkpoint: PathOpt = None,
    allow_random_vgg: Annotated[
        bool,
        typer.Option("--allow-random-vgg", help="Train with a random VGG-19 if none is found."),
    ] = False,
    vgg_weights: Annotated[
        Path | None, typer.Option(help="torchvision's vgg19-dcbb9e9d.pth (default: its cache).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on GPU) | fp32 | bf16")] = "auto",
    channels_last: Annotated[str, typer.Option(help="auto (on for CUDA) | on | off")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the networks.")] = False,
    tensorboard: Annotated[bool, typer.Option(help="Write TensorBoard logs to OUT/tb.")] = True,
    heatmap_sigma: Annotated[
        float, typer.Option(help="σ of the pose heatmaps H, in 1024-frame pixels.")
    ] = HEATMAP_SIGMA_1024,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train one stage. Order: coarse → face, arm, leg → fine → e2e (volume: any time)."""
    from hpt_model.config import load_config
    from hpt_model.training import TrainSettings
    from hpt_model.training import train as run_training
    from hpt_model.training.settings import default_loader_workers

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    try:
        model_config = load_config(config)
        model_config.loss.allow_random_vgg = allow_random_vgg
        if vgg_weights is not None:
            model_config.loss.vgg_weights_path = str(vgg_weights)
        settings = TrainSettings(
            stage=stage,
            data=data,
            out=out,
            split=split,
            epochs=epochs,
            batch_size=batch_size,
            num_workers=default_loader_workers() if workers is None else workers,
            seed=seed,
            checkpoint_every=checkpoint_every,
            log_every=log_every,
            image_every=image_every,
            stop_after=max_steps,
            resume=resume,
            init=init,
            coarse_checkpoint=coarse_checkpoint,
            face_checkpoint=face_checkpoint,
            arm_checkpoint=arm_checkpoint,
            leg_checkpoint=leg_checkpoint,
            device=device,
            precision=precision,
            channels_last=channels_last,
            compile=compile,
            tensorboard=tensorboard,
            progress=not quiet,
            heatmap_sigma=heatmap_sigma,
        )
        result = run_training(settings, model_config)
    except HptError as exc:
        raise _fail(exc) from exc
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks and saves
        typer.echo(
            f"{stage}: step {result.step}/{result.total_steps}, checkpoint {result.checkpoint}"
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
