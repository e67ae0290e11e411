"""The executor interface: run picklable per-video tasks, yield results as they finish.

Task functions catch their own errors and return them as values (one bad video does not
sink the run); an executor only reports what a task could not: its worker process died
(``kill -9``, out of memory). Every executor shares this signature, so the orchestrator
and the stages never know which one runs them.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class WorkerLost:
    """The task's worker process died, on every attempt the executor allowed."""

    message: str


class Executor(ABC):
    name: ClassVar[str]

    def __init__(self, workers: int = 1, retries: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.workers = workers
        self.retries = retries

    @abstractmethod
    def imap_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T], step: str = ""
    ) -> Iterator[tuple[T, R | WorkerLost]]:
        """Run ``fn`` on every task; yield ``(task, result)`` in completion order.

        ``step`` names what the tasks do (a stage name, or ``source``), so that an
        executor can give them the resources they need; one that cannot, ignores it.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers; the executor may be used again afterwards."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's share),
    else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


#: The thread-count variables of the native pools: OpenMP (torch), MKL, OpenBLAS (numpy),
#: OpenCV (read when its pool first starts).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENCV_FOR_THREADS_NUM",
)


def limit_threads(threads: int) -> None:
    """Cap this process's native thread pools at ``threads`` (a user's lower setting
    stays). Through the environment for the pools not yet started, and at run time for
    those already loaded: OpenCV's and torch's. numpy's BLAS, if numpy was imported
    first, keeps its own (a spawned worker imports the driver's ``__main__`` first; this
    project's stages do their heavy numerics in OpenCV, torch and numba)."""
    for var in THREAD_VARIABLES:
        own = os.environ.get(var, "")
        lower = int(own) if own.isdigit() and int(own) > 0 else threads
        os.environ[var] = str(min(threads, lower))
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(int(os.environ["OPENCV_FOR_THREADS_NUM"]))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
