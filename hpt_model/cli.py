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
from typing import Annotated, Any

import typer

from hpt_data.errors import HptError
from hpt_model.errors import TrainingError
from hpt_model.renamed_flags import Renamed, renaming_command, setting, switch

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


def _trained(stage: str) -> Any:
    """The option of an earlier stage's checkpoint that a later stage starts from."""
    return Annotated[
        Path | None,
        typer.Option(dir_okay=False, help=f"The {stage} stage's final.pt (docs/training.md)."),
    ]


CoarseCheckpoint = _trained("coarse")
FaceCheckpoint = _trained("face")
ArmCheckpoint = _trained("arm")
LegCheckpoint = _trained("leg")
AllowRandomVgg = Annotated[
    bool, typer.Option("--allow-random-vgg", help="Train with a random VGG-19 if none is found.")
]
VggWeights = Annotated[
    Path | None, typer.Option(help="torchvision's vgg19-dcbb9e9d.pth (default: its cache).")
]
ModelConfigOpt = Annotated[
    str,
    typer.Option(
        "--model-config",
        "-m",
        help="paper | small | tiny [:VARIANT, a Table IV row, e.g. small:H] | a config JSON file.",
    ),
]

#: Old spellings, accepted until the next release with a warning: flags that meant another
#: thing in hpt-data or hpt, and options that mirrored one TrainSettings field each.
TRAIN_RENAMED = renaming_command(
    Renamed("--config", "--model-config"),
    Renamed("-c", "--model-config"),
    Renamed("-d", "--data"),
    Renamed("--workers", "--loader-workers"),
    Renamed("-w", "--loader-workers"),
    setting("seed"),
    setting("split"),
    setting("checkpoint-every"),
    setting("log-every"),
    setting("image-every"),
    setting("precision"),
    setting("channels-last"),
    setting("heatmap-sigma"),
    switch("compile"),
    switch("tensorboard"),
)


@app.command(cls=TRAIN_RENAMED)
def train(
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage", "-s", help="coarse | face | arm | leg | fine | e2e | volume (or in FILE)."
        ),
    ] = None,
    settings_file: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            dir_okay=False,
            help="JSON or YAML of TrainSettings fields (docs/training.md); options override it.",
        ),
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Any TrainSettings field, e.g. --set log_every=10 (repeatable).",
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", file_okay=False, help="Shard folder.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run folder: last.pt, final.pt, tb/ (default runs/hpt)."),
    ] = None,
    model_config: ModelConfigOpt = "paper",
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Default: the paper's for the stage.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop (with a checkpoint) after this many steps.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Default: 1 (§IV-B).")] = None,
    loader_workers: Annotated[
        int | None,
        typer.Option(min=0, help="DataLoader worker processes (default: min(4, CPUs - 1))."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    init: Annotated[
        Path | None, typer.Option(help="Start from this checkpoint's weights (e2e: a fine run's).")
    ] = None,
    coarse_checkpoint: CoarseCheckpoint = None,
    face_checkpoint: FaceCheckpoint = None,
    arm_checkpoint: ArmCheckpoint = None,
    leg_checkpoint: LegCheckpoint = None,
    allow_random_vgg: AllowRandomVgg = False,
    vgg_weights: VggWeights = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda (default auto)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train one stage. Order: coarse → face, arm, leg → e2e (volume: any time; fine: option).

    The settings are TrainSettings: those of --settings FILE, then the options, then --set."""
    from hpt_model.config import load_config
    from hpt_model.overrides import merge_settings, parse_assignments, read_settings_file
    from hpt_model.training import TrainSettings
    from hpt_model.training import train as run_training

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    try:
        given = {
            "stage": ("--stage", stage),
            "data": ("--data", data),
            "out": ("--out", out),
            "epochs": ("--epochs", epochs),
            "stop_after": ("--max-steps", max_steps),
            "batch_size": ("--batch-size", batch_size),
            "num_workers": ("--loader-workers", loader_workers),
            "resume": ("--resume", resume or None),
            "init": ("--init", init),
            "coarse_checkpoint": ("--coarse-checkpoint", coarse_checkpoint),
            "face_checkpoint": ("--face-checkpoint", face_checkpoint),
            "arm_checkpoint": ("--arm-checkpoint", arm_checkpoint),
            "leg_checkpoint": ("--leg-checkpoint", leg_checkpoint),
            "device": ("--device", device),
            "progress": ("--quiet", False if quiet else None),
        }
        fields = merge_settings(
            read_settings_file(settings_file, TrainSettings) if settings_file else {},
            given,
            parse_assignments(assignments or [], TrainSettings),
        )
        if fields.get("stage") is None:
            raise TrainingError("no stage: pass --stage, or give stage in --settings FILE")
        settings = TrainSettings(**fields)
        model = load_config(model_config)
        model.loss.allow_random_vgg = allow_random_vgg
        if vgg_weights is not None:
            model.loss.vgg_weights_path = str(vgg_weights)
        result = run_training(settings, model)
    except HptError as exc:
        raise _fail(exc) from exc
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks and saves
        typer.echo(
            f"{settings.stage}: step {result.step}/{result.total_steps}, "
            f"checkpoint {result.checkpoint}"
        )


@app.command("train-all")
def train_all_command(
    data: Annotated[Path, typer.Option("--data", file_okay=False, help="Shard folder.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: one sub-folder per stage.")
    ] = Path("runs/small"),
    model_config: ModelConfigOpt = "small",
    minutes: Annotated[
        float, typer.Option(min=0.01, help="Wall-clock budget of all the stages together.")
    ] = 45.0,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="A TrainSettings field for every stage."),
    ] = None,
    allow_random_vgg: AllowRandomVgg = False,
    vgg_weights: VggWeights = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    split_from: Annotated[
        Path | None,
        typer.Option(
            "--split-from",
            metavar="RUN",
            file_okay=False,
            help="Split the budget by RUN's measured step costs (another seed of this row).",
        ),
    ] = None,
    step_weights: Annotated[
        str,
        typer.Option(
            "--step-weights",
            metavar="NAME",
            help="The stages' steps relative to one another: 'short' (coarse 4, each layer 2, "
            "e2e 1) or 'paper' (§IV-B's epochs: 1, 2, 1).",
        ),
    ] = "short",
) -> None:
    """Train every stage of a Table IV row in the paper's order (coarse → face, arm, leg →
    e2e), each with its share of --minutes. Run it again to resume (docs/training.md)."""
    from hpt_model.config import load_config
    from hpt_model.overrides import parse_assignments
    from hpt_model.training import TrainSettings
    from hpt_model.training.all_stages import train_all
    from hpt_model.training.settings import INIT_FLAGS

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    try:
        common = parse_assignments(assignments or [], TrainSettings)
        for key in ("stage", "data", "out", "resume", "time_budget_s", "init", *INIT_FLAGS):
            if key in common:
                raise TrainingError(f"--set {key}: train-all sets it for each stage")
        if quiet:
            common["progress"] = False
        model = load_config(model_config)
        model.loss.allow_random_vgg = allow_random_vgg
        if vgg_weights is not None:
            model.loss.vgg_weights_path = str(vgg_weights)
        results = train_all(data, out, model, minutes, common, split_from, step_weights)
    except HptError as exc:
        raise _fail(exc) from exc
    for stage, result in results.items():
        if result is None:
            typer.echo(f"{stage}: done before, {out / stage / 'final.pt'}")
        else:
            typer.echo(
                f"{stage}: step {result.step}/{result.total_steps}, checkpoint {result.checkpoint}"
            )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
