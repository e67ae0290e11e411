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
names and they worked before this check. ``#`` is reserved: the orchestrator joins a
video id and a person clip's name with it (``walk01#p2``, remove-bg's ``person: all``), so
a source's id may not hold it and a clip id never collides with a video's.
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


def check_path_name(
    kind: str,
    name: str,
    where: str = "",
    error: type[HptError] = HptError,
    clips: bool = False,
) -> str:
    """``name`` if it is a safe single path component, else ``error`` with one line.

    ``kind`` says what the name is ("dataset name", "video id"); ``where`` (a file and
    line, or "synthetic source") starts the message; ``clips``: a person clip's id
    (``<video id>#p1``) is accepted too.
    """
    problem = work_name_problem(name) if clips else path_name_problem(name)
    if problem is None:
        return name
    prefix = f"{where}: " if where else ""
    raise error(f"{prefix}{kind} {name!r} {problem}; {ADVICE}")


#: Separates a video's id from a person clip's name (``person: all``): ``walk01#p2``. A
#: source's ids may not hold it (``path_name_problem``), so a clip id never collides with
#: a video's.
CLIP_SEP = "#"


def clip_id(video_id: str, clip: str) -> str:
    """The id of the person clip ``clip`` (``p1``, ``p2``, ...) of ``video_id``."""
    return f"{video_id}{CLIP_SEP}{clip}"


def clip_parts(video_id: str) -> tuple[str, str] | None:
    """(video id, clip name) of a person clip's id, or None for a video's own id."""
    parent, sep, clip = video_id.partition(CLIP_SEP)
    if not sep or not clip.startswith("p") or not clip[1:].isdigit() or clip[1] == "0":
        return None
    return parent, clip


def work_name_problem(name: str) -> str | None:
    """Like :func:`path_name_problem`, but a person clip's id (``<video id>#p<k>``) is
    allowed too: ``#`` is harmless in a folder name, only reserved."""
    parts = clip_parts(name) if isinstance(name, str) else None
    return path_name_problem(parts[0] if parts else name)
