"""Option groups for the Typer CLIs: one dataclass of options, one set of parameters.

Typer has no option groups, so :func:`option_group` adds a dataclass's options to a
command's signature (after its own parameters) and hands the command one instance of the
dataclass instead. The options are declared once (here :class:`RunOptions`, the run
options of ``hpt-data``; ``pipelines/cli.py`` uses it for the model options of ``hpt``), so
every command that takes them spells, documents and checks them the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

T = TypeVar("T")

DEFAULT_WORKERS = max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class RunOptions:
    """What every ``hpt-data`` command that runs stages is told: which dataset, where its
    work folder is, and how to run the per-video tasks."""

    dataset: str = "demo"
    config: Path | None = None
    work_root: Path | None = None
    workers: int = DEFAULT_WORKERS
    limit: int | None = None
    executor: str = "local"
    ray_address: str | None = None
    retries: int = 2
    force: bool = False
    quiet: bool = False
    keep_intermediates: bool = False
    fuse_stages: bool = False

    def open(self) -> Any:  # -> hpt_data.orchestrator.Dataset (imported when used)
        """The dataset, opened from datasets.yaml (``--config``) under its work root."""
        from hpt_data.config import find_config, load_datasets
        from hpt_data.orchestrator import Dataset

        datasets = load_datasets(find_config(self.config), self.work_root)
        config = datasets.dataset(self.dataset)
        if self.keep_intermediates:
            config = dataclasses.replace(config, keep="all")
        return Dataset.open(config, datasets.work_root)


#: The Typer parameter of each RunOptions field: the one place its flags and help live.
RUN_PARAMETERS: dict[str, Any] = {
    "dataset": Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset name in datasets.yaml.")
    ],
    "config": Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="datasets.yaml to read (default: $HPT_DATASETS, ./datasets.yaml).",
        ),
    ],
    "work_root": Annotated[
        Path | None,
        typer.Option("--work-root", help="Where outputs go (default: work_root in datasets.yaml)."),
    ],
    "workers": Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Worker processes (1: run in this process); with ray, a local instance's CPUs.",
        ),
    ],
    "limit": Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the first N videos (by id).")
    ],
    "executor": Annotated[
        str,
        typer.Option(
            "--executor", help="local (a process pool) or ray (the ray extra; docs/scale_out.md)."
        ),
    ],
    "ray_address": Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="With --executor ray: auto, ray://HOST:PORT or HOST:PORT "
            "(default: a local Ray instance with --workers CPUs).",
        ),
    ],
    "retries": Annotated[
        int, typer.Option("--retries", min=0, help="Resubmissions of a task whose worker died.")
    ],
    "force": Annotated[bool, typer.Option("--force", help="Redo outputs that are up to date.")],
    "quiet": Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")],
    "keep_intermediates": Annotated[
        bool,
        typer.Option(
            "--keep-intermediates",
            help="Keep every file a stage can write, also those no later stage reads "
            "(as keep: all in datasets.yaml; docs/throughput.md).",
        ),
    ],
    "fuse_stages": Annotated[
        bool,
        typer.Option(
            "--fuse-stages",
            help="Run a video's stages as one task, in order, instead of one task per "
            "stage and video (docs/scale_out.md).",
        ),
    ],
}

#: The dataset a command reads, without running anything.
DATASET_FIELDS = ("dataset", "config", "work_root")


def option_group(
    cls: type[T],
    parameters: Mapping[str, Any],
    fields: tuple[str, ...] | None = None,
    *,
    name: str = "opts",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command ``fn(..., opts: cls)`` so that Typer sees ``fields`` of ``cls``
    (default: all) as options, with the flags and help of ``parameters[field]`` and the
    dataclass's defaults; ``fn`` gets them as one ``cls`` instance (fields not taken keep
    their defaults)."""
    defaults = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    chosen = tuple(defaults) if fields is None else fields
    for field in chosen:
        if field not in defaults or field not in parameters:
            raise ValueError(f"{cls.__name__} has no option {field!r}")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(fn).parameters.values() if p.name != name]
        hints = get_type_hints(fn, include_extras=True)
        added = []
        for field in chosen:
            spec = defaults[field]
            default = (
                spec.default_factory()  # type: ignore[misc]
                if spec.default_factory is not dataclasses.MISSING
                else spec.default
            )
            added.append(
                inspect.Parameter(
                    field,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=parameters[field],
                )
            )

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            group = cls(**{f: kwargs.pop(f) for f in chosen})
            return fn(*args, **{name: group}, **kwargs)

        own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in own]
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [*own, *added], return_annotation=inspect.Signature.empty
        )
        command.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
        return command

    return decorate
