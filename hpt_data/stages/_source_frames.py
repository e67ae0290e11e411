"""Kept frames decoded again from their source video, for sample-frames
``image_format: video``, which writes no frame file.

Why: the frames are ~0.3 MB per 1024² frame of lossless PNG, most of the chain's scratch,
and encoding them and decoding them again in remove-bg and write-shards costs more than
decoding the video a second time (``benchmarks/results/chain.json``). The video is already
a compact copy of every frame; decoding is deterministic, so a later stage gets the pixels
sample-frames saw. The price: the source must stay where it was, unchanged (checked by its
signature, with a one-line error naming it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import file_signature
from hpt_data.video import FrameDecoder, VideoError, VideoReader

#: What ``frames.json`` records as a kept frame's ``file`` when there is no file.
VIDEO_FRAME = "video#"

#: Open decoders per process, by (source path, signature): write-shards' ranges and
#: remove-bg's two passes walk one video forward at a time.
_DECODERS: OrderedDict[tuple[str, str], FrameDecoder] = OrderedDict()
_KEEP = 2
#: Stages run one per process today; the lock keeps a decoder to one caller should a
#: reader ever run in threads (a decoder's position is its state).
_LOCK = threading.Lock()


def video_frame_file(index: int) -> str:
    """The ``file`` entry of kept frame ``index`` that lives only in the source."""
    return f"{VIDEO_FRAME}{index:06d}"


def video_frame_index(file: str) -> int | None:
    """The source index of a ``video#`` entry, None for a frame file."""
    return int(file[len(VIDEO_FRAME) :]) if file.startswith(VIDEO_FRAME) else None


def source_frame(path: str, signature: str, index: int, crc32: int | None = None) -> np.ndarray:
    """Frame ``index`` of the source at ``path`` ((H, W, 3) uint8 BGR), which must still
    have the ``signature`` sample-frames recorded; ``crc32``: its pixels' CRC, where
    sample-frames recorded it (a far frame is then sought: ``FrameDecoder``)."""
    with _LOCK:
        decoder = _decoder(path, signature)
        try:
            return decoder.image(index, crc32)
        except VideoError as exc:
            raise StageError(str(exc)) from None


def check_source(path: str, signature: str) -> None:
    """Raise a one-line ``StageError`` unless the source is there with ``signature``."""
    with _LOCK:
        _decoder(path, signature)


def _decoder(path: str, signature: str) -> FrameDecoder:
    """The open decoder of (``path``, ``signature``), opened (and checked) when there is
    none, the least recently used closed beyond :data:`_KEEP`. Call with ``_LOCK`` held."""
    key = (path, signature)
    decoder = _DECODERS.get(key)
    if decoder is None:
        decoder = _DECODERS[key] = _open(Path(path), signature)
        while len(_DECODERS) > _KEEP:
            _DECODERS.popitem(last=False)[1].close()
    _DECODERS.move_to_end(key)
    return decoder


def _open(path: Path, signature: str) -> FrameDecoder:
    why = "its frames are decoded from it (sample-frames image_format: video kept no file)"
    if not path.exists():
        raise StageError(f"{path}: the source is gone and {why}; restore it or run sample-frames")
    if file_signature(path) != signature:
        raise StageError(f"{path}: the source changed since sample-frames and {why}; rerun it")
    try:
        return FrameDecoder(VideoReader(path, min_side=1))
    except VideoError as exc:
        raise StageError(str(exc)) from None


def forget_decoders() -> None:
    """Close the open decoders (a benchmark timing a stage again from cold)."""
    with _LOCK:
        for decoder in _DECODERS.values():
            decoder.close()
        _DECODERS.clear()
