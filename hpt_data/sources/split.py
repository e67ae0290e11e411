"""Train/test splits, assigned after a source has listed its videos.

Two rules, as the paper used them: by person (a seeded 9:1 split of person ids, so no
person is in both splits; the sport-video set) and by action lists (Human3.6M: some
actions for training, others for testing).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from hpt_data.sources.base import VideoRecord


@dataclass(frozen=True)
class SplitRule:
    """``split:`` in ``datasets.yaml``."""

    by: Literal["person", "action"] = "person"  # what keeps train and test apart
    test_fraction: float = 0.1  # share of persons in the test split (by: person)
    seed: int = 0  # which persons go to test (by: person)
    train_actions: list[str] = field(default_factory=list)  # by: action
    test_actions: list[str] = field(default_factory=list)  # by: action

    def __post_init__(self) -> None:
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.by == "action" and not self.test_actions:
            raise ValueError("by: action needs a non-empty test_actions list")
        overlap = set(self.train_actions) & set(self.test_actions)
        if overlap:
            raise ValueError(f"actions in both train and test: {sorted(overlap)}")


def _rank(person_id: str, seed: int) -> str:
    """A stable pseudo-random order of persons: independent of Python's hash seed."""
    return hashlib.sha256(f"{seed}:{person_id}".encode()).hexdigest()


def assign_splits(videos: list[VideoRecord], rule: SplitRule) -> list[VideoRecord]:
    """Return the videos with ``split`` set to ``train``, ``test`` or ``excluded``.

    By person: persons are ordered by a seeded hash and the first
    ``round(test_fraction * persons)`` (at least one when the fraction is positive and
    there are two or more persons) go to test. By action: listed test actions go to test,
    listed train actions (or, with an empty train list, every other action) to train, the
    rest is ``excluded``.
    """
    if rule.by == "person":
        persons = sorted({v.person_id for v in videos}, key=lambda p: _rank(p, rule.seed))
        n_test = round(rule.test_fraction * len(persons))
        if rule.test_fraction > 0 and n_test == 0 and len(persons) >= 2:
            n_test = 1
        test = set(persons[:n_test])
        return [
            dataclasses.replace(v, split="test" if v.person_id in test else "train") for v in videos
        ]
    out = []
    for v in videos:
        if v.action in rule.test_actions:
            split = "test"
        elif v.action in rule.train_actions or not rule.train_actions:
            split = "train"
        else:
            split = "excluded"
        out.append(dataclasses.replace(v, split=split))
    return out
