"""The executor interface: run picklable per-video tasks, yield results as they finish.

Task functions catch their own errors and return them as values (one bad video does not
sink the run); an executor only reports what a task could not: its worker process died
(``kill -9``, out of memory). Every executor shares this signature, so the orchestrator
and the stages never know which one runs them.
"""

from __future__ import annotations

import os
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


def limit_threads(threads: int) -> None:
    """Cap this process's native thread pools at ``threads``: OpenMP/MKL through the
    environment (read when torch or numpy's BLAS first starts them: call it before), and
    OpenCV's pool directly."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import cv2
    except ImportError:  # not every task needs OpenCV
        return
    cv2.setNumThreads(threads)
