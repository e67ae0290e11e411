"""Train/test splits, assigned after a source has listed its videos.

Three rules: by person (a seeded 9:1 split of person ids, so no person is in both splits;
the paper's sport-video set), by action lists (the paper's Human3.6M split: some actions for
training, others for testing), and by source (the split the dataset defines itself, as its
source read it from the dataset's own lists: DeepFashion's ``train.lst``/``test.lst``,
iPER's ``train.txt``/``val.txt``, Human3.6M's subjects).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from hpt_data.errors import HptError
from hpt_data.sources.base import VideoRecord

#: what ``by: source`` accepts on a record (``excluded``: listed by the dataset in no split)
SOURCE_SPLITS = ("train", "test", "excluded")


@dataclass(frozen=True)
class SplitRule:
    """``split:`` in ``datasets.yaml``."""

    # what keeps train and test apart (source: keep the split the dataset's own lists give,
    # for sources that read them: deepfashion, iper, human36m)
    by: Literal["person", "action", "source"] = "person"
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
    rest is ``excluded``. By source: each record keeps the split its source set.

    Raises
    ------
    HptError
        with ``by: source``, when a record carries no split the rule can keep (its source
        defines none, or left this video out of its lists).
    """
    if rule.by == "source":
        return _keep_source_splits(videos)
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


def _keep_source_splits(videos: list[VideoRecord]) -> list[VideoRecord]:
    """The records as their source split them, refused when a record has no such split."""
    bad = [v for v in videos if v.split not in SOURCE_SPLITS]
    if bad:
        sources = ", ".join(sorted({v.source for v in bad}))
        ids = ", ".join(v.video_id for v in bad[:3]) + (", ..." if len(bad) > 3 else "")
        raise HptError(
            f"split by: source, but source '{sources}' set no split on {len(bad)} of "
            f"{len(videos)} videos ({ids}); its split is 'unassigned' (use split by: person "
            "or by: action, or give the source the dataset's own lists)"
        )
    return list(videos)
