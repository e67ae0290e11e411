"""The README's option tables, read from the three Typer apps, so they cannot go stale.

``tests/test_cli_options.py`` fails when the table between the markers in ``README.md``
differs from :func:`render_options`; rewrite it with ``python -m pipelines.cli_docs``. It
lives in ``pipelines`` because only ``pipelines`` imports both packages' CLIs.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import typer
from typer.core import TyperGroup, TyperOption

from hpt_data.docs_gen import rewrite_between_markers
from hpt_model.renamed_flags import RenamingCommand

BEGIN = "<!-- cli-options:begin (written by python -m pipelines.cli_docs from the Typer apps) -->"
END = "<!-- cli-options:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def clis() -> dict[str, TyperGroup]:
    """Each CLI's name and its click group (the apps imported here: help stays light)."""
    from hpt_data.cli import app as data_app
    from hpt_model.cli import app as model_app
    from pipelines.cli import app as hpt_app

    apps: dict[str, typer.Typer] = {"hpt-data": data_app, "hpt-model": model_app, "hpt": hpt_app}
    groups = {}
    for name, app in apps.items():
        group = typer.main.get_command(app)
        if not isinstance(group, TyperGroup):
            raise TypeError(f"{name}: a Typer app with commands was expected")
        groups[name] = group
    return groups


@dataclass(frozen=True)
class Flag:
    """One option of one command: where it is and what it says."""

    cli: str
    command: str  # "" for an option of the CLI itself (before the command)
    option: TyperOption

    @property
    def long(self) -> str:
        return next(o for o in self.option.opts if o.startswith("--"))

    @property
    def short(self) -> str | None:
        return next((o for o in self.option.opts if not o.startswith("--")), None)

    @property
    def negative(self) -> str | None:
        """The ``--no-NAME`` of a switch that is on by default."""
        return next(iter(self.option.secondary_opts), None)

    @property
    def value(self) -> str:
        """What it takes: a switch, or a kind of value (``text``, ``integer``, ``path``)."""
        if self.option.is_flag:
            return "switch"
        if self.option.metavar:
            kind = self.option.metavar
        else:
            hint = self.option.type_descriptor.annotation
            inner = [a for a in typing.get_args(hint) if a is not type(None)]
            if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(inner) == 1:
                hint = inner[0]
            if typing.get_origin(hint) is list:
                hint = typing.get_args(hint)[0]
            kind = _KINDS.get(hint, getattr(hint, "__name__", str(hint)))
        return f"{kind}, repeatable" if self.option.multiple else kind


_KINDS: dict[object, str] = {int: "integer", float: "number", str: "text", Path: "path"}


def flags(groups: dict[str, TyperGroup] | None = None) -> Iterator[Flag]:
    """Every visible option of every command of the three CLIs (``--help`` aside)."""
    for cli, group in (groups or clis()).items():
        for param in group.params:
            if isinstance(param, TyperOption) and not param.hidden:
                yield Flag(cli, "", param)
        for name, command in group.commands.items():
            for param in command.params:
                if isinstance(param, TyperOption) and not param.hidden:
                    yield Flag(cli, name, param)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _commands(names: list[str]) -> str:
    """The commands of a row, every hpt-data stage command as one phrase."""
    from hpt_data.stages import STAGE_NAMES

    stages = [f"`{n}`" for n in STAGE_NAMES]
    if set(stages) <= set(names):
        at = names.index(stages[0])
        rest = [n for n in names if n not in stages]
        names = [*rest[:at], "every stage command", *rest[at:]]
    return ", ".join(names)


def render_options(groups: dict[str, TyperGroup] | None = None) -> str:
    """A table per CLI: each option (one row per distinct help text), what it takes, the
    commands that take it; then the old spellings still accepted."""
    groups = groups or clis()
    parts = []
    for cli, group in groups.items():
        rows: dict[tuple[str, str | None, str, str], list[str]] = {}
        for flag in flags({cli: group}):
            long = flag.long + (f" / {flag.negative}" if flag.negative else "")
            key = (long, flag.short, flag.value, _cell(flag.option.help or ""))
            where = f"`{flag.command}`" if flag.command else "any (before the command)"
            rows.setdefault(key, []).append(where)
        lines = [
            f"#### `{cli}`",
            "",
            "| option | takes | commands | what |",
            "| --- | --- | --- | --- |",
        ]
        for (long, short, value, help_text), commands in rows.items():
            names = ", ".join(f"`{n}`" for n in (long, short) if n)
            lines.append(f"| {names} | {value} | {_commands(commands)} | {help_text} |")
        parts.append("\n".join(lines))
    renamed = [
        f"| `{cli} {name}` | `{r.old}` | `{r.spelling}` |"
        for cli, group in groups.items()
        for name, command in group.commands.items()
        if isinstance(command, RenamingCommand)
        for r in command.renamed
    ]
    parts.append(
        "#### Old spellings, accepted until the next release with a warning\n\n"
        "| command | old | new |\n| --- | --- | --- |\n" + "\n".join(renamed)
    )
    return "\n\n".join(parts)


def rewrite_readme(readme: Path = README) -> bool:
    """Put the tables between the markers of ``readme``; True if it changed."""
    return rewrite_between_markers(readme, BEGIN, END, render_options())


if __name__ == "__main__":
    changed = rewrite_readme()
    sys.stdout.write(f"{README}: {'rewritten' if changed else 'up to date'}\n")
