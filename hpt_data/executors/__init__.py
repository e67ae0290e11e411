"""Executors run per-video tasks: ``local`` (a process pool) and ``ray`` (a Ray cluster)."""

from __future__ import annotations

from hpt_data.errors import HptError
from hpt_data.executors.base import Executor, WorkerLost
from hpt_data.executors.local import LocalExecutor
from hpt_data.executors.ray import RayExecutor

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(
    name: str, workers: int, retries: int = 2, ray_address: str | None = None
) -> Executor:
    """The executor the command line asked for; ``ray_address`` only goes with ``ray``."""
    if name not in EXECUTORS:
        raise HptError(f"unknown executor '{name}' (available: {', '.join(EXECUTORS)})")
    if name == "ray":
        return RayExecutor(workers=workers, retries=retries, address=ray_address)
    if ray_address is not None:
        raise HptError("--ray-address goes with --executor ray")
    return EXECUTORS[name](workers=workers, retries=retries)


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "WorkerLost", "make_executor"]
