"""What every source needs and no source should write again: ids, probing, atomic files.

- :func:`safe_id` turns a file name (or any text) into a video id that passes the rule of
  ``hpt_data.names`` (the id becomes the folder ``videos/<id>/``), so a plugin's scan never
  loses a video to an unsafe id.
- :func:`probe_video` asks the same reader the stages use (``hpt_data.video.VideoReader``)
  whether a file or image folder can be decoded, so the scan reports a bad file with its
  reason instead of a stage failing on it later.
- :func:`atomic_output` (from ``hpt_data.workdir``, through which every atomic write goes)
  gives a source that makes its files (``materialize``) a temporary name that is renamed
  into place only once the file is complete, so a killed worker leaves nothing
  ``is_materialized`` would trust.

All three are exported by ``hpt_data.sources``; plugins import them from there.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from hpt_data.names import ALLOWED_PUNCTUATION, MAX_BYTES, path_name_problem
from hpt_data.video import VideoError, VideoReader
from hpt_data.workdir import atomic_output

__all__ = ["atomic_output", "probe_video", "safe_id"]


def safe_id(text: str) -> str:
    """A video id made from ``text`` (a file name, a path, a title) that is a safe folder name.

    Every run of characters the id rule refuses (separators, spaces, control characters,
    other punctuation) becomes one ``-``; letters and digits (Unicode ones too) and
    ``_ - . + = @`` are kept, so an id that already passes comes back unchanged. ``.`` and
    ``..`` become ``_`` and ``__``. Text longer than the 255-byte limit is cut and ends with
    8 hex digits of its hash, so long names that share a start stay apart.

    Not one-to-one (``a b`` and ``a/b`` both give ``a-b``): a source must still check that
    its ids are unique (``hpt_data.testing.check_source`` does).

    Raises
    ------
    ValueError
        for empty text: there is nothing to make an id from.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"cannot make a video id from {text!r}: give non-empty text")
    if path_name_problem(text) is None:
        return text
    out = "".join(ch if ch.isalnum() or ch in ALLOWED_PUNCTUATION else "\0" for ch in text)
    out = re.sub("\0+", "-", out)
    if out in (".", ".."):
        out = "_" * len(out)
    if len(out.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        keep = out.encode("utf-8", "surrogatepass")[: MAX_BYTES - len(digest) - 1]
        out = keep.decode("utf-8", "ignore") + "-" + digest
    return out


def probe_video(path: str | Path) -> str | None:
    """None if ``path`` (a video file or a folder of images) decodes to a first frame, else
    the reason why not, in one line (``"empty file (0 bytes)"``, ``"truncated or
    unfinished MP4/MOV: it has no 'moov' index"``).

    Uses the reader the stages use, so what a scan accepts ``sample-frames`` can open. Decodes
    one frame only: a file cut part-way through its frames passes here and is reported by
    ``sample-frames``.
    """
    path = Path(path)
    try:
        reader = VideoReader(path)
        next(reader.frames(stop_after=0), None)
    except VideoError as exc:
        return str(exc).removeprefix(f"{path}: ")
    return None
