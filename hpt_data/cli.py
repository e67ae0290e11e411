"""``hpt-data``: the dataset toolkit's command line (Typer).

Commands parse options and call the orchestrator; no pipeline logic lives here. A
``HptError`` (bad input, malformed config, missing file) is printed as one line,
``error: ...``, and the command exits with status 2; a run in which some videos failed
exits with status 1 after listing them.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from hpt_data.cli_options import DATASET_FIELDS, RUN_PARAMETERS, RunOptions, option_group
from hpt_data.errors import HptError
from hpt_data.stages import STAGES

app = typer.Typer(
    name="hpt-data",
    help="Turn videos of people into pose-transfer training data, one staged command at a time.",
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
    """Options of every command. ``--verbose`` goes to the workers through the environment
    (spawned processes inherit it, the Ray executor forwards it)."""
    if verbose:
        from hpt_data.native_logs import enable_verbose

        enable_verbose()


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ``HptError`` into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HptError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted; finished outputs are kept, run the command again to resume", 130
            ) from None

    return wrapper


def dataset_options(
    fields: tuple[str, ...] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The run options (``RUN_PARAMETERS``; ``fields``: only those) as the command's
    ``opts: RunOptions``: declared once, for ``build``, every stage command and the readers."""
    return option_group(RunOptions, RUN_PARAMETERS, fields)


def _report(steps: list, problems: list, work: Path) -> int:
    for p in problems:
        typer.echo(f"skipped {p.path}: {p.reason}")
    for step in steps:
        typer.echo(step.line())
        for o in step.failures[:20]:
            typer.echo(f"  {o.state} {o.video_id}: {o.error}")
        if len(step.failures) > 20:
            typer.echo(f"  ... and {len(step.failures) - 20} more (hpt-data info)")
    typer.echo(f"work folder: {work}")
    return 1 if any(s.failures for s in steps) else 0


@app.command()
@user_errors
def sources() -> None:
    """List the registered video sources (entry-point group hpt_data.sources)."""
    import dataclasses

    from hpt_data.sources.registry import list_sources, load_source_class

    for entry in list_sources():
        try:
            cls = load_source_class(entry.name)
            fields = ", ".join(f.name for f in dataclasses.fields(cls.Options)) or "-"
        except HptError as exc:
            fields = f"(broken: {exc})"
        typer.echo(f"{entry.name:<16} {entry.target:<48} [{entry.distribution}] options: {fields}")


@app.command()
@user_errors
@dataset_options(DATASET_FIELDS)
def info(opts: RunOptions) -> None:
    """Show what a dataset's work folder holds, per stage, with the settings each stage runs
    with (those that differ from the defaults) and how the shards were made."""
    from hpt_data.output_state import dataset_info
    from hpt_data.person_clips import clips_line
    from hpt_data.provenance import dataset_provenance, describe_settings, shards_line
    from hpt_data.shard_pairs import describe_pairs
    from hpt_data.shards.writer import MANIFEST
    from hpt_data.workdir import read_json

    ds = opts.open()
    scan = read_json(ds.dirs.videos_json) or {}
    typer.echo(f"dataset {ds.config.name} ({ds.config.source}) at {ds.dirs.root}")
    typer.echo(
        f"source: {ds.config.source} at {ds.config.root}; "
        f"options: {describe_settings(ds.config.options)}; "
        f"split: {describe_settings(ds.config.split)}"
    )
    typer.echo(
        f"videos: {len(scan.get('videos', []))} listed, "
        f"{len(scan.get('problems', []))} skipped by the source"
    )
    clips = clips_line(ds)
    if clips:
        typer.echo(clips)
    for row in dataset_info(ds):
        counts = ", ".join(f"{n} {state}" for state, n in sorted(row["counts"].items())) or "-"
        typer.echo(f"{row['stage']:<14} {counts}")
        stage = ds.stage(row["stage"])
        typer.echo(f"  v{stage.version} {stage.fingerprint()}: {describe_settings(stage.settings)}")
        for vid, error in row["failures"][:10]:
            typer.echo(f"  {vid}: {error}")
    current = dataset_provenance(ds.config, ds.stages)
    manifest = read_json(ds.dirs.shards / MANIFEST)
    typer.echo(shards_line(manifest, current))
    for line in describe_pairs(scan, manifest):
        typer.echo(line)


def run_stages(opts: RunOptions, stages: list[str] | None) -> None:
    """Run ``stages`` (None: every stage, then the shards) through the orchestrator's
    ``build``: the preflight, the scan, the videos materialized, each stage over the videos
    that got through; a whole build records its per-step times in <work>/<dataset>/build.json."""
    import time

    from hpt_data.executors import make_executor
    from hpt_data.orchestrator import build as run_build
    from hpt_data.workdir import write_json_atomic

    ds = opts.open()
    start = time.perf_counter()
    with make_executor(opts.executor, opts.workers, opts.retries, opts.ray_address) as ex:
        report = run_build(
            ds,
            ex,
            stages=stages,
            limit=opts.limit,
            force=opts.force,
            progress=not opts.quiet,
            fuse_stages=opts.fuse_stages,
        )
    if stages is None:
        record = report.record(time.perf_counter() - start)
        record.update(
            workers=opts.workers, executor=opts.executor, limit=opts.limit, force=opts.force
        )
        write_json_atomic(ds.dirs.root / "build.json", record)
    code = _report(report.steps, report.problems, ds.dirs.root)
    if report.shards is not None:
        code = max(code, _shards_report(report.shards))
    raise typer.Exit(code)


@app.command()
@user_errors
@dataset_options()
def build(opts: RunOptions) -> None:
    """Run every stage for a dataset, skipping work already done; the per-step times go to
    <work>/<dataset>/build.json."""
    run_stages(opts, None)


def _stage_command(stage: type[Any]) -> None:  # stage: type[hpt_data.stages.Stage]
    """``hpt-data STAGE``: one stage over the dataset's videos (materialized first), with the
    run options of ``build``; its help is the stage class's docstring."""

    def command(opts: RunOptions) -> None:
        run_stages(opts, [stage.name])

    command.__doc__ = " ".join((inspect.getdoc(stage) or stage.name).split("\n\n")[0].split())
    command.__name__ = stage.name.replace("-", "_")
    app.command(name=stage.name)(user_errors(dataset_options()(command)))


for _stage in STAGES:
    _stage_command(_stage)


@app.command()
@user_errors
@dataset_options(DATASET_FIELDS)
def preview(
    video: Annotated[str, typer.Argument(help="Video id (as in the work folder).")],
    stage: Annotated[
        str, typer.Option("--stage", "-s", help="sample-frames, remove-bg or pose2d.")
    ] = "pose2d",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="PNG to write (default: <work>/previews/VIDEO.STAGE.png)."
        ),
    ] = None,
    max_frames: Annotated[int, typer.Option("--max-frames", min=1, help="Tiles at most.")] = 24,
    columns: Annotated[int, typer.Option("--columns", min=1, help="Tiles per row.")] = 6,
    tile: Annotated[int, typer.Option("--tile", min=64, help="Tile side in pixels.")] = 256,
    *,
    opts: RunOptions,
) -> None:
    """Write a contact sheet PNG of one video's stage output: frames with the mask outline
    and the skeleton, flagged frames marked with their reason."""
    from hpt_data.output_state import assess_output
    from hpt_data.preview import PREVIEW_STAGES, write_preview

    ds = opts.open()
    if stage not in PREVIEW_STAGES:
        raise HptError(f"no preview for stage '{stage}' (previews: {', '.join(PREVIEW_STAGES)})")
    if video not in ds.dirs.video_ids():
        known = ", ".join(ds.dirs.video_ids()[:8]) or "none yet"
        raise HptError(f"no video '{video}' in {ds.dirs.root} (videos: {known})")
    vdir = ds.dirs.video(video)
    stage_obj = ds.stage(stage)
    state, why = assess_output(vdir, stage_obj, ds.upstream_fingerprints(stage_obj))
    if state != "done":
        status = vdir.status(stage) or {}
        if status.get("state") in ("failed", "blocked"):
            raise HptError(f"{stage} {status['state']} for {video}: {status.get('error')}")
        raise HptError(f"{video} has no up-to-date {stage} output ({why}): run {stage} first")
    target = out or ds.dirs.root / "previews" / f"{video}.{stage}.png"
    typer.echo(str(write_preview(vdir.path, stage, target, max_frames, columns, tile)))


def _shards_report(summary) -> int:  # summary: hpt_data.gather.ShardsSummary
    frames = ", ".join(f"{n} {split}" for split, n in sorted(summary.frames.items())) or "none"
    typer.echo(f"write-shards   frames written: {frames}")
    if summary.dropped:
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(summary.dropped.items()))
        typer.echo(f"  frames left out, by the stage that dropped them: {dropped}")
    for split, n in sorted(summary.pairs.items()):
        dataset = summary.pairs_origin[split] == "dataset"
        origin = "the dataset's list" if dataset else "made by the rule, docs/shards.md"
        text = f"  {split} pairs stored: {n} ({origin})"
        left = summary.pairs_left_out.get(split)
        if left:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(left.items()))
            text += f"; left out {sum(left.values())}: {reasons}"
        typer.echo(text)
    for video_id, reason in summary.failed:
        typer.echo(f"  failed {video_id}: {reason}")
    typer.echo(f"shards: {summary.out_dir} (check them: hpt-data verify)")
    return 1 if summary.failed else 0


@app.command("write-shards")
@user_errors
@dataset_options(
    (*DATASET_FIELDS, "limit", "workers", "executor", "ray_address", "retries", "quiet")
)
def write_shards(opts: RunOptions) -> None:
    """Pack the stage outputs into HDF5 shards per split (a new, complete set each run).

    Each shard range is one task for the workers; the files are the same whatever the
    number of workers, and the manifest is written last."""
    from hpt_data.executors import make_executor
    from hpt_data.orchestrator import scan_videos
    from hpt_data.orchestrator import write_shards as run_write_shards
    from hpt_data.person_clips import expand_videos, person_all
    from hpt_data.preflight import preflight

    ds = opts.open()
    scan = scan_videos(ds, opts.limit, functools.partial(preflight, ds, [], shards=True))
    videos = scan.videos
    if person_all(ds):  # each video remove-bg split by person becomes its clips
        videos, outcomes = expand_videos(ds, videos)
        for o in outcomes:
            if o.error:
                typer.echo(f"  failed {o.video_id}: {o.error}")
    with make_executor(opts.executor, opts.workers, opts.retries, opts.ray_address) as ex:
        summary = run_write_shards(
            ds, videos, progress=not opts.quiet, executor=ex, pairs=scan.pairs
        )
    raise typer.Exit(_shards_report(summary))


ShardPathArg = Annotated[
    Path | None,
    typer.Argument(
        help="A shard folder (with manifest.json) to read instead of the dataset's: "
        "no datasets.yaml needed.",
        show_default=False,
    ),
]


def _shard_path(path: Path | None, opts: RunOptions, file_ok: bool) -> Path:
    """PATH if given (so shards received without datasets.yaml can be checked), else the
    dataset's shard folder. ``file_ok``: a single .h5 shard is accepted too."""
    from hpt_data.shards.reading import MANIFEST

    if path is None:
        return opts.open().dirs.shards
    if file_ok and path.is_file() and path.suffix == ".h5":
        return path
    if not path.exists():
        raise HptError(f"{path}: no such file or folder")
    if not (path / MANIFEST).is_file():
        raise HptError(
            f"{path}: no {MANIFEST}: not a shard folder (hpt-data write-shards makes one)"
        )
    return path


@app.command()
@user_errors
@dataset_options(DATASET_FIELDS)
def verify(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A shard folder (with manifest.json), or one .h5 shard, to check instead of "
            "the dataset's: no datasets.yaml needed.",
            show_default=False,
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Skip checksums, label ranges and image CRCs.")
    ] = False,
    *,
    opts: RunOptions,
) -> None:
    """Re-read every shard against the manifest and name what is wrong (exit 1 if any)."""
    from hpt_data.shards.verify import verify_shard_file, verify_shards

    target = _shard_path(path, opts, file_ok=True)
    if target.is_file():
        report = verify_shard_file(target, deep=not quick)
        whole = "a whole shard (alone: its size and SHA-256 were not compared)"
    else:
        report = verify_shards(target, deep=not quick)
        whole = "a whole shard set"
    for line in report.notes + report.leftovers:
        typer.echo(f"note: {line}")
    for line in report.problems:
        typer.echo(f"problem: {line}")
    if report.ok:
        typer.echo(f"ok: {target} is {whole}")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
@user_errors
@dataset_options(DATASET_FIELDS)
def stats(
    path: ShardPathArg = None,
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for stats.png and stats.json (default: the shard folder itself).",
        ),
    ] = None,
    opts: RunOptions,
) -> None:
    """Counts per split and person, why frames were left out, and plots (PNG)."""
    from hpt_data.shards.stats import collect_stats, plot_stats, stats_json
    from hpt_data.workdir import write_json_atomic

    shards = _shard_path(path, opts, file_ok=False)
    result = collect_stats(shards)
    for line in result.lines():
        typer.echo(line)
    folder = out if out is not None else shards
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HptError(f"{folder}: cannot create the plots folder ({exc.strerror})") from exc
    if not os.access(folder, os.W_OK):
        raise HptError(f"{folder}: not writable, so the plots cannot be saved (pass --out DIR)")
    png = plot_stats(result, folder / "stats.png")
    write_json_atomic(folder / "stats.json", stats_json(result))
    typer.echo(f"plots: {png}")


@app.command()
@user_errors
@dataset_options((*DATASET_FIELDS, "quiet"))
def export(
    out: Annotated[
        Path,
        typer.Argument(
            help="Folder to write (made whole or not at all; an earlier export there is replaced).",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="patn (PATN, GFLA: images, pairs and annotation CSVs), nted (NTED, PIDM: "
            "LMDB, pose/*.txt, *_pairs.txt) or webdataset (tar shards).",
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="A shard folder (with manifest.json) to export instead of the dataset's: "
            "no datasets.yaml needed.",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the pair rule (same person, other frame).")
    ] = 0,
    prefix: Annotated[
        str,
        typer.Option("--prefix", help="patn: the CSVs' prefix (GFLA's loader reads 'fasion')."),
    ] = "fasion-resize",
    min_visibility: Annotated[
        float,
        typer.Option(
            "--min-visibility",
            min=0.0,
            max=1.0,
            help="patn, nted: a keypoint whose MediaPipe visibility is below it is -1.",
        ),
    ] = 0.5,
    samples_per_tar: Annotated[
        int, typer.Option("--samples-per-tar", min=1, help="webdataset: samples per tar shard.")
    ] = 1000,
    *,
    opts: RunOptions,
) -> None:
    """Write a dataset's shards in a layout another trainer reads (docs/exports.md), and
    say what of each frame that layout has no slot for."""
    from hpt_data.export import ExportOptions
    from hpt_data.export import export as run_export

    source = _shard_path(data, opts, file_ok=False)
    options = ExportOptions(fmt, seed, prefix, min_visibility, samples_per_tar)
    result = run_export(source, out, options, progress=not opts.quiet)
    counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in result.counts.items())
    typer.echo(f"wrote {result.out} ({fmt}): {counts}")
    typer.echo(f"dropped (no slot in {fmt}): {'; '.join(result.dropped)}")


@app.command("convert-smpl")
@user_errors
def convert_smpl(
    src: Annotated[Path, typer.Argument(help="An SMPL .pkl (or .npz) to convert.")],
    dst: Annotated[Path, typer.Argument(help="The plain .npz to write.")],
) -> None:
    """Convert an SMPL model file to a plain .npz (numpy arrays only, no pickles).

    The input is read through the restricted unpickler (old chumpy arrays included), so a
    file is vetted once and later loads need no unpickling at all."""
    from hpt_data.body.smpl_files import convert_smpl_file

    out, data, left_out = convert_smpl_file(src, dst)
    n_verts, n_betas = data["v_template"].shape[0], data["shapedirs"].shape[-1]
    skipped = f"; left out (not plain arrays): {', '.join(left_out)}" if left_out else ""
    typer.echo(f"wrote {out}: {n_verts} vertices, {n_betas} shape directions{skipped}")


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `hpt-data info | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
