"""Old spellings of renamed command-line flags, accepted for one release with a warning.

Issue 21 gave each flag one meaning across ``hpt-data``, ``hpt-model`` and ``hpt``: a
flag whose name or short form meant something else elsewhere was renamed, and a training
option that mirrored a :class:`~hpt_model.training.TrainSettings` field became
``--set FIELD=VALUE``. A command made with :func:`renaming_command` rewrites each old
spelling in its arguments to the new one before Click parses them, and says so on stderr,
so scripts keep working for a release while telling their owners what to change. The old
spellings are not Click options: ``--help`` and the README's tables show only the new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand

#: The release in which the old spellings stop working.
GOES_IN = "the next release"


@dataclass(frozen=True)
class Renamed:
    """``old`` (``--config``, ``-s``) is now ``new`` (``--model-config``, ``--source``); or,
    with ``field``, now ``--set FIELD=VALUE``, where ``value`` is what a switch without a
    value (``--compile``, ``--no-tensorboard``) sets."""

    old: str
    new: str = "--set"
    field: str | None = None
    value: str | None = None

    @property
    def spelling(self) -> str:
        """The new spelling, as the warning and the README show it."""
        if self.field is None:
            return self.new
        return f"--set {self.field}={self.value or 'VALUE'}"

    def warning(self) -> str:
        return f"warning: {self.old} is renamed {self.spelling}; the old name goes in {GOES_IN}"


def switch(name: str, field: str | None = None) -> tuple[Renamed, Renamed]:
    """``--NAME`` and ``--no-NAME`` of a boolean setting, both now ``--set FIELD=...``."""
    field = field or name.replace("-", "_")
    return (
        Renamed(f"--{name}", field=field, value="true"),
        Renamed(f"--no-{name}", field=field, value="false"),
    )


def setting(name: str, field: str | None = None) -> Renamed:
    """``--NAME VALUE``, now ``--set FIELD=VALUE``."""
    return Renamed(f"--{name}", field=field or name.replace("-", "_"))


def rewrite(args: Sequence[str], renamed: Iterable[Renamed]) -> list[str]:
    """``args`` with every old spelling replaced by its new one (a warning on stderr for
    each); ``--old=VALUE`` too. Nothing after ``--`` is touched."""
    table = {r.old: r for r in renamed}
    out: list[str] = []
    rest = iter(args)
    for token in rest:
        if token == "--":
            out += [token, *rest]
            break
        name, eq, attached = token.partition("=") if token.startswith("--") else (token, "", "")
        old = table.get(name)
        if old is None:
            out.append(token)
            continue
        typer.echo(old.warning(), err=True)
        if old.field is None:
            out.append(old.new + eq + attached)
        elif old.value is not None:
            out += [old.new, f"{old.field}={old.value}"]
        else:
            value = attached if eq else next(rest, None)
            if value is None:
                raise typer.BadParameter(f"{old.old} needs a value ({old.spelling})")
            out += [old.new, f"{old.field}={value}"]
    return out


class RenamingCommand(TyperCommand):
    """A Typer command that reads the old spellings in :attr:`renamed` as their new ones."""

    renamed: ClassVar[tuple[Renamed, ...]] = ()

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rewrite(args, self.renamed))


def renaming_command(*renamed: Renamed | Iterable[Renamed]) -> type[RenamingCommand]:
    """The command class (``app.command(cls=...)``) accepting these old spellings."""
    flat: list[Renamed] = []
    for item in renamed:
        flat += [item] if isinstance(item, Renamed) else list(item)
    olds = [r.old for r in flat]
    if len(set(olds)) != len(olds):
        raise ValueError(f"an old spelling is listed twice: {olds}")
    attrs: dict[str, Any] = {"renamed": tuple(flat)}
    return type("RenamingCommand", (RenamingCommand,), attrs)
