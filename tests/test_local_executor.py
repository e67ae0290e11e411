"""The local executor's workers share the cores out: each caps its native thread pools
(OpenCV's, OpenMP's) at ``cores // workers``, so N workers on N cores do not run 2N threads
against each other (docs/throughput.md, write-shards in parallel)."""

from __future__ import annotations

import os

import pytest

from hpt_data.executors import LocalExecutor
from hpt_data.executors.base import limit_threads
from hpt_data.executors.local import threads_per_worker

cv2 = pytest.importorskip("cv2")


def threads_seen(_: int) -> tuple[int, str | None]:
    """What a task sees: OpenCV's threads and OpenMP's setting (test_ray_executor too)."""
    import cv2

    return cv2.getNumThreads(), os.environ.get("OMP_NUM_THREADS")


@pytest.mark.parametrize(("cores", "workers", "threads"), [(2, 2, 1), (16, 4, 4), (2, 3, 1)])
def test_threads_per_worker_shares_the_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, threads: int
) -> None:
    monkeypatch.setattr("hpt_data.executors.local.usable_cores", lambda: cores)
    assert threads_per_worker(workers) == threads


def test_pool_workers_run_with_their_share_of_the_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # spawned workers inherit this
    share = threads_per_worker(2)
    with LocalExecutor(workers=2) as ex:
        seen = [result for _, result in ex.imap_unordered(threads_seen, [0, 1, 2, 3])]
    assert seen == [(share, str(share))] * 4


def test_a_users_lower_setting_stays_and_a_higher_one_is_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "64")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setattr(cv2, "setNumThreads", lambda n: seen.append(n))
    seen: list[int] = []
    limit_threads(4)
    assert os.environ["OMP_NUM_THREADS"] == "2"
    assert os.environ["MKL_NUM_THREADS"] == "4"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    assert seen == [int(os.environ["OPENCV_FOR_THREADS_NUM"])]
