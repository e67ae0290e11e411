"""Keep MediaPipe's native (C++) log lines off the terminal.

MediaPipe's calculators log through absl and TFLite straight to file descriptor 2, not
through Python's ``sys.stderr``: ``W0000 ... inference_feedback_manager.cc:114] Feedback
manager requires a model with a single signature ...`` once per model every time a graph
starts (construction and every ``reset()``), and once per process absl's "All log messages
before absl::InitializeLog()" and TFLite's "Created TensorFlow Lite XNNPACK delegate". A
dataset build printed hundreds of them between its progress bars. ``GLOG_minloglevel``
and ``TF_CPP_MIN_LOG_LEVEL`` do not reach this absl build (checked with mediapipe
0.10.21), and the wheel exposes no logging set-up, so :func:`quiet_native_logs` points
fd 2 at a temporary file around each call into a graph (``hpt_data.stages.mediapipe_models``):
some lines come only at the first ``process()`` that takes a given path.

When the block ends, what was captured goes back to the real stderr except the native
INFO and WARNING lines, so anything else written meanwhile (an error line, a Python
warning, a progress-bar refresh from another thread) still reaches the terminal, only
later; when the block raises, all of it goes back. ``HPT_VERBOSE=1`` (the CLIs'
``--verbose``) turns the redirect off; spawned workers inherit it, and the Ray executor
forwards it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

#: Set (to anything but "" or "0") to let the native log lines through.
VERBOSE_ENV = "HPT_VERBOSE"

#: absl/glog INFO and WARNING lines (``W0000 00:00:1796459518.148526    4447 file.cc:114] ...``)
#: and the ``INFO: ``/``WARNING: `` lines TFLite and absl print before absl is set up.
#: Also Warp's note, on a machine without a GPU, that it found no CUDA driver (expected here).
NATIVE_NOISE = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ [^\]\s]+\] |(?:INFO|WARNING): "
    rb"|Warp CUDA warning: Could not find or load the NVIDIA CUDA driver)"
)

# fd 2 is one per process: two threads redirecting it at once would leave it pointing at a
# closed window's file. Reentrant, so a quiet block may call another.
_LOCK = threading.RLock()


def enable_verbose() -> None:
    """Let the native log lines through from now on, here and in every worker started
    later (spawned processes inherit the environment; the Ray executor forwards it)."""
    os.environ[VERBOSE_ENV] = "1"


def verbose() -> bool:
    """Whether the user asked to see the native log lines (``--verbose``)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def _flush_python_stderr() -> None:
    """Python's own buffered stderr text must land on the side of the redirect it was
    written on."""
    with contextlib.suppress(Exception):
        if sys.stderr is not None:
            sys.stderr.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _redirect() -> tuple[int, IO[bytes]] | None:
    """Point fd 2 at a fresh temporary file; the saved fd 2 and the file, or None where
    either cannot be had (no fd 2, a full disk): the block then runs unquieted."""
    try:
        capture = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it)
    except OSError:
        return None
    try:
        saved = os.dup(2)
    except OSError:
        capture.close()
        return None
    os.dup2(capture.fileno(), 2)
    return saved, capture


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Drop the native INFO/WARNING log lines written to fd 2 inside the block (see the
    module doc); a no-op with ``HPT_VERBOSE`` set. Keep the block to the calls that log:
    if the process dies inside it, what it wrote there is lost."""
    if verbose():
        yield
        return
    with _LOCK:
        _flush_python_stderr()
        redirect = _redirect()
        if redirect is None:
            yield
            return
        saved, capture = redirect
        failed = True
        try:
            yield
            failed = False
        finally:
            _flush_python_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            with capture:
                capture.seek(0)
                lines = capture.read().splitlines(keepends=True)
            kept = lines if failed else [ln for ln in lines if not NATIVE_NOISE.match(ln)]
            with contextlib.suppress(OSError):
                _write_all(2, b"".join(kept))


def init_warp_quietly() -> None:
    """Initialise NVIDIA Warp (Anny poses with it) without its banner and, on a machine
    without a GPU, its native "could not find the CUDA driver" warning; both are printed at
    the first kernel otherwise, between the progress bars. ``--verbose`` shows them."""
    import warp  # warp.init() is a no-op after the first call

    if not verbose():
        warp.config.log_level = warp.LOG_WARNING
    with quiet_native_logs():
        warp.init()
