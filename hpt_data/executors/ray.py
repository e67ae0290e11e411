"""The Ray executor: the same per-video tasks, on a Ray cluster or a local Ray instance.

Why Ray: a corpus of millions of frames needs many machines, and Ray schedules Python
functions over a cluster with resource accounting and retries of tasks whose worker died.
The orchestrator and the stages do not change: every (stage, video) task is one Ray task
that runs ``execute_stage_task`` on a worker, which reads and writes the video's folder
directly. So the work root must be a path that every node sees (a shared filesystem or a
mounted bucket); only small task descriptions and outcomes travel through Ray.

- Resources: each step asks for what it uses (``STEP_RESOURCES``); ``fit-smpl`` also asks
  for a share of a GPU when the cluster has GPUs (its fitter then runs on CUDA).
- In flight: at most ``max_in_flight`` tasks are submitted at once (default twice the
  cluster's CPUs), so a huge corpus does not flood the scheduler and the object store.
- Retries: a task whose worker process died (killed, out of memory, node lost) is rerun
  by Ray up to ``retries`` times; after that it is reported as ``WorkerLost`` and the
  orchestrator records the error in the video's status. Errors inside a stage are values
  (a ``failed`` outcome), not exceptions, so Ray never retries those.
- Workers are reused across tasks, like the local pool's: the per-process caches of
  MediaPipe models, the fitter and the EGL renderers (``hpt_data.render.scene``) are made
  once per worker process, never recreated. GPU tasks get a fresh process each (Ray's
  default ``max_calls=1`` for them), so a CUDA context never outlives its GPU assignment.

``ray`` is imported only when the executor connects, so ``hpt-data`` works without the
``hpt[ray]`` extra and says what to install when asked for this executor.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from hpt_data.errors import HptError
from hpt_data.executors.base import Executor, WorkerLost, limit_threads

T = TypeVar("T")
R = TypeVar("R")

#: Ray resources per orchestrator step (``source`` renders or checks the video itself).
#: Every step is one busy CPU: decoding, segmentation and detection run single-stream
#: per video, fitting pins torch to one thread, rendering is software EGL.
STEP_RESOURCES: dict[str, dict[str, float]] = {
    "source": {"num_cpus": 1},
    "sample-frames": {"num_cpus": 1},
    "remove-bg": {"num_cpus": 1},
    "pose2d": {"num_cpus": 1},
    "fit-smpl": {"num_cpus": 1},
    "render-maps": {"num_cpus": 1},
    "voxelize": {"num_cpus": 1},
}
#: Steps that take a GPU share when the cluster has GPUs, and how large a share.
GPU_STEPS: dict[str, float] = {"fit-smpl": 0.25}
#: Environment variables handed from the driver to every worker when they are set.
FORWARDED_ENV = (
    "PYOPENGL_PLATFORM",
    "EGL_DEVICE_ID",
    "HPT_CACHE_DIR",
    "ANNY_CACHE_DIR",
    "HPT_VERBOSE",  # --verbose: hpt_data.native_logs
)
#: How long to wait for a TCP answer from the address before handing it to Ray (whose own
#: timeouts are 30 s for ``ray://`` and minutes for a GCS address).
PROBE_TIMEOUT_S = 5.0

_ADDRESS = re.compile(r"^(?:ray://)?(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
INSTALL_HINT = "the ray executor needs Ray: pip install 'hpt[ray]'"


def ray_available() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["ray"] is None (blocked)
        return False


def import_ray() -> Any:
    """Import ray, or raise a one-line ``HptError`` saying how to install it."""
    if not ray_available():
        raise HptError(INSTALL_HINT)
    import ray

    return ray


def check_address(address: str | None) -> tuple[str, int] | None:
    """Validate ``--ray-address``: None (a local instance), ``auto``, ``ray://host:port``
    (Ray Client) or ``host:port`` (the head's GCS, from a node of the cluster).

    Returns the host and port to probe, None for a local instance or ``auto``.
    """
    if address is None or address == "auto":
        return None
    match = _ADDRESS.match(address)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise HptError(f"--ray-address '{address}' is not 'auto', 'ray://HOST:PORT' or 'HOST:PORT'")
    return match["host"].strip("[]"), int(match["port"])


def probe(host: str, port: int, address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail in seconds, in one line, when nothing listens at the address."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise HptError(
            f"cannot reach the Ray cluster at {address}: {reason} (is `ray start --head` "
            "running there, and the port open from here?)"
        ) from None


def _driver_paths() -> list[str]:
    """Entries of this process's ``sys.path`` that a fresh interpreter of the same venv
    would not have (a source checkout, a test folder): a spawned worker inherits them,
    and so must a Ray worker of a local instance."""
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    out = []
    for entry in sys.path:
        path = Path(entry or os.getcwd()).resolve()
        if path.is_dir() and not any(path.is_relative_to(p) for p in prefixes):
            out.append(str(path))
    return list(dict.fromkeys(out))


def _call(fn: Callable[[T], R], task: T, cpus: int = 1) -> R:
    """What a Ray worker runs: the orchestrator's task function on one task, its native
    threads held to the ``cpus`` the task asked for (OpenCV's pool too: Ray caps only
    OpenMP's)."""
    limit_threads(cpus)
    return fn(task)


class RayExecutor(Executor):
    """Run tasks as Ray tasks.

    ``address`` None starts a local Ray instance with ``workers`` CPUs (stopped again by
    ``close``); ``auto`` joins the cluster this machine is a node of; ``ray://host:port``
    connects through Ray Client. If this process is already connected to Ray (a notebook,
    a test), that connection is used as it is and left open.
    """

    name = "ray"

    def __init__(
        self,
        workers: int = 1,
        retries: int = 2,
        address: str | None = None,
        max_in_flight: int | None = None,
        gpu_steps: dict[str, float] | None = None,
    ) -> None:
        super().__init__(workers, retries)
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if not ray_available():
            raise HptError(INSTALL_HINT)
        self._probe = check_address(address)
        self.address = address
        self.max_in_flight = max_in_flight
        self.gpu_steps = dict(GPU_STEPS if gpu_steps is None else gpu_steps)
        self._owned = False
        self._remotes: dict[bool, Any] = {}

    # ------------------------------------------------------------------ connection

    def _runtime_env(self) -> dict[str, Any]:
        env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
        if self.address is None:  # same machine: workers see the driver's code paths
            paths = _driver_paths()
            if paths:
                env["PYTHONPATH"] = os.pathsep.join(paths)
        return {"env_vars": env} if env else {}

    def connect(self) -> Any:
        """Connect (or start a local instance) once; returns the ``ray`` module."""
        ray = import_ray()
        if self._probe is not None:
            probe(*self._probe, self.address or "")
        if ray.is_initialized():
            return ray
        options: dict[str, Any] = {
            "log_to_driver": False,
            "logging_level": logging.WARNING,
            "runtime_env": self._runtime_env(),
        }
        try:
            if self.address is None:
                # "local": a new instance even when `ray start` runs on this machine
                ray.init(address="local", num_cpus=self.workers, include_dashboard=False, **options)
            else:
                ray.init(address=self.address, **options)
        except (ConnectionError, TimeoutError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HptError(f"cannot connect to Ray at {self.address}: {first}") from None
        self._owned = True
        return ray

    def __enter__(self) -> RayExecutor:
        self.connect()  # a bad address or a missing cluster is reported before any work
        return self

    def close(self) -> None:
        """Disconnect, and stop the local instance if this executor started it."""
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False
            self._remotes = {}

    # ------------------------------------------------------------------ running

    def in_flight_limit(self, ray: Any) -> int:
        if self.max_in_flight is not None:
            return self.max_in_flight
        cpus = int(ray.cluster_resources().get("CPU", self.workers))
        return max(2 * cpus, 2)

    def _remote(self, ray: Any, gpu: bool) -> Any:
        if gpu not in self._remotes:
            # max_calls: Ray's default for GPU tasks (1, a fresh process per task), stated
            # here because the GPU share is given per call through .options()
            self._remotes[gpu] = ray.remote(max_calls=1 if gpu else 0)(_call)
        return self._remotes[gpu]

    def task_options(self, ray: Any, step: str) -> dict[str, Any]:
        """Ray options for one step's tasks: its resources, a GPU share where the cluster
        has GPUs, and ``max_retries`` for worker deaths only."""
        opts: dict[str, Any] = dict(STEP_RESOURCES.get(step, {"num_cpus": 1}))
        if step in self.gpu_steps and ray.cluster_resources().get("GPU", 0) > 0:
            opts["num_gpus"] = self.gpu_steps[step]
        opts["max_retries"] = self.retries
        opts["retry_exceptions"] = False
        return opts

    def imap_unordered(
        self, fn: Callable[[T], R], tasks: Sequence[T], step: str = ""
    ) -> Iterator[tuple[T, R | WorkerLost]]:
        if not tasks:
            return
        ray = self.connect()
        opts = self.task_options(ray, step)
        remote = self._remote(ray, "num_gpus" in opts).options(**opts)
        limit = self.in_flight_limit(ray)
        cpus = max(1, int(opts.get("num_cpus", 1)))
        pending: dict[Any, int] = {}
        submitted = 0
        try:
            while submitted < len(tasks) or pending:
                while submitted < len(tasks) and len(pending) < limit:
                    pending[remote.remote(fn, tasks[submitted], cpus)] = submitted
                    submitted += 1
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    i = pending.pop(ref)
                    yield tasks[i], self._result(ray, ref)
        finally:
            for ref in pending:  # interrupted: do not leave work running on the cluster
                ray.cancel(ref)

    def _result(self, ray: Any, ref: Any) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # raised outside the task's own handling
            cause = getattr(exc, "cause", None) or exc
            return WorkerLost(
                f"task failed outside its error handling: {type(cause).__name__}: "
                f"{_first_line(cause)}"
            )
        except ray.exceptions.RayError as exc:  # the worker (or its node) died every time
            return WorkerLost(
                f"worker process died {self.retries + 1} time(s) while this task ran "
                f"(killed, or out of memory): {type(exc).__name__}: {_first_line(exc)}"
            )


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
