"""Names that become folder names: dataset names and video ids.

A dataset's outputs go to ``<work_root>/<dataset>/`` and a video's to
``.../videos/<video_id>/``. Both names come from outside (``datasets.yaml``, a source
plugin, a file name), so each must be one safe path component: ``a/b`` would nest,
``..`` would climb out of the work folder, ``\\`` is a separator on Windows and NUL ends a
path in C. One rule for both, checked where the name enters (the config loader, the
scan), so a bad name is reported in one line before any folder is made.

Allowed: letters and digits (Unicode ones too: ids like ``müller_01`` are harmless),
``_ - . + = @``; not ``.`` or ``..`` and at most 255 bytes in UTF-8 (the usual file
system limit). A leading ``-`` is allowed: ``video_folder`` makes such ids from file
names and they worked before this check.
"""

from __future__ import annotations

from hpt_data.errors import HptError

ALLOWED_PUNCTUATION = "_-.+=@"
MAX_BYTES = 255
ADVICE = "use letters, digits, - _ ."

_CHAR_NAMES = {
    "/": "a path separator",
    "\\": "a path separator on Windows",
    "\0": "NUL",
    " ": "a space",
    "\t": "a tab",
    "\n": "a line break",
    "\r": "a line break",
}


def path_name_problem(name: str) -> str | None:
    """Why ``name`` is not a safe single path component (``"has '/' ..."``), or None."""
    if not isinstance(name, str) or name == "":
        return "is empty" if name == "" else f"is a {type(name).__name__}, not text"
    if name in (".", ".."):
        return f"is {name!r} ({'this' if name == '.' else 'the parent'} folder)"
    if ".." in name.replace("\\", "/").split("/"):
        return "has '..' (a way out to the parent folder)"
    for ch in name:
        if not (ch.isalnum() or ch in ALLOWED_PUNCTUATION):
            what = _CHAR_NAMES.get(ch, "not allowed in a folder name here")
            return f"has {ch!r} ({what})"
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return f"is {size} bytes long (at most {MAX_BYTES})"
    return None


def check_path_name(kind: str, name: str, where: str = "", error: type[HptError] = HptError) -> str:
    """``name`` if it is a safe single path component, else ``error`` with one line.

    ``kind`` says what the name is ("dataset name", "video id"); ``where`` (a file and
    line, or "synthetic source") starts the message.
    """
    problem = path_name_problem(name)
    if problem is None:
        return name
    prefix = f"{where}: " if where else ""
    raise error(f"{prefix}{kind} {name!r} {problem}; {ADVICE}")
