"""Executors run per-video tasks: ``local`` (a process pool) now, distributed ones later."""

from __future__ import annotations

from hpt_data.errors import HptError
from hpt_data.executors.base import Executor, WorkerLost
from hpt_data.executors.local import LocalExecutor

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor}


def make_executor(name: str, workers: int, retries: int = 2) -> Executor:
    if name not in EXECUTORS:
        raise HptError(f"unknown executor '{name}' (available: {', '.join(EXECUTORS)})")
    return EXECUTORS[name](workers=workers, retries=retries)


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "WorkerLost", "make_executor"]
