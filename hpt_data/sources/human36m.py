"""``human36m``: the Human3.6M videos in their original layout, ``S<n>/Videos/*.mp4``.

Each subject's archive unpacks to ``S<n>/Videos/<Action>[ <take>].<camera>.mp4``
(``Directions 1.54138969.mp4``; four cameras 54138969, 55011271, 58860488, 60457274). The
file names spell two actions two ways (``TakingPhoto``/``Photo``, ``WalkingDog``/``WalkDog``;
facebookresearch/VideoPose3D ``data/prepare_data_h36m.py`` folds them one way): records carry
the action under the dataset's own name (``TakingPhoto``, ``WalkingDog``), the paper's.

Splits (``protocol``): ``subjects``, the one most work uses (train S1, S5, S6, S7, S8; test
S9, S11; VideoPose3D ``common/arguments.py``), or ``paper_actions``, the paper's (§IV-A:
train Greeting, Posing, SittingDown, Walking; test Directions, TakingPhoto; other actions
excluded). Set ``split: {by: source}`` to keep it. The person is the subject. The dataset
defines no pairs. ``S11/Directions.54138969`` is left out by default: that video is corrupt
in the release (anibali/h36m-fetch ``process_all.py``; VideoPose3D drops S11 Directions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hpt_data.errors import SourceError
from hpt_data.sources.base import SourceProblem, SourceScan, VideoRecord, VideoSource
from hpt_data.sources.helpers import probe_video, safe_id

ACTIONS = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "TakingPhoto", "Waiting", "Walking", "WalkingDog",
    "WalkTogether",
)  # fmt: skip
ALIASES = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog"}  # file-name spelling -> action
FILE_NAME = re.compile(r"^(?P<action>[A-Za-z]+)(?: (?P<take>\d+))?\.(?P<camera>\d+)\.mp4$")
SUBJECT = re.compile(r"^S\d+$")


#: How to get and register the dataset; rendered into docs/datasets.md by hpt_data.docs_gen.
GUIDE = """\
**Files.** The videos of Human3.6M (vision.imar.ro/human3.6m, registration required): one
archive per subject (`Videos_S1.tgz`, ...) unpacking to `S<n>/Videos/`.

**Layout** hpt reads (the root):

```text
S1/Videos/Directions.54138969.mp4  "Directions 1.54138969.mp4"  ...
                                  (<Action>[ <take>].<camera>.mp4)
S5/Videos/ ...  S9/Videos/ ...  S11/Videos/ ...
```

Other files in `Videos/` (`_ALL*.mp4`) are reported and skipped.

**Videos, persons.** Video id `S1_Directions_1.54138969`, person the subject (`S1`), action
the dataset's name (`Photo` and `WalkDog` in file names read as `TakingPhoto` and
`WalkingDog`; facebookresearch/VideoPose3D `data/prepare_data_h36m.py` folds the same two
the other way), `meta` subject, take and camera. `S11/Directions.54138969` is left out
(`exclude`): it is corrupt in the release (anibali/h36m-fetch `process_all.py` reads
`Directions 1.54138969` in its place; VideoPose3D `data/prepare_data_h36m.py` drops S11
Directions, "Discard corrupted video").

**Split and pairs.** `protocol: subjects` (default): train S1, S5, S6, S7, S8, test S9, S11
(VideoPose3D `common/arguments.py`); `protocol: paper_actions`: the paper's (§IV-A) train
Greeting, Posing, SittingDown, Walking and test Directions, TakingPhoto, over all
subjects, other actions excluded. Keep it with `split: {by: source}`. The dataset defines no
pairs.

```yaml
datasets:
  human36m:
    source: human36m
    root: /data/human36m
    options: {protocol: paper_actions}
    split: {by: source}
    stages:
      sample-frames: {mode: fps, fps: 5}
```
"""


@dataclass(frozen=True)
class Human36mOptions:
    """Keys under ``options:`` of a ``human36m`` dataset in ``datasets.yaml``."""

    # the split set on each video: by subject (most work) or the paper's action split
    protocol: Literal["subjects", "paper_actions"] = "subjects"
    # protocol: subjects — the training subjects
    train_subjects: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8"])
    # protocol: subjects — the test subjects (others are excluded)
    test_subjects: list[str] = field(default_factory=lambda: ["S9", "S11"])
    # protocol: paper_actions — the training actions (the paper's, §IV-A)
    train_actions: list[str] = field(
        default_factory=lambda: ["Greeting", "Posing", "SittingDown", "Walking"]
    )
    # protocol: paper_actions — the test actions (others are excluded)
    test_actions: list[str] = field(default_factory=lambda: ["Directions", "TakingPhoto"])
    cameras: list[str] = field(default_factory=list)  # camera ids to read (empty: all four)

    # <subject>/<file name without .mp4> left out (corrupt in the release)
    exclude: list[str] = field(default_factory=lambda: ["S11/Directions.54138969"])

    def __post_init__(self) -> None:
        unknown = [a for a in (*self.train_actions, *self.test_actions) if a not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown actions {unknown}; Human3.6M's: {', '.join(ACTIONS)}")
        for what, a, b in (
            ("subjects", self.train_subjects, self.test_subjects),
            ("actions", self.train_actions, self.test_actions),
        ):
            if set(a) & set(b):
                raise ValueError(f"{what} in both train and test: {sorted(set(a) & set(b))}")


class Human36mSource(VideoSource):
    """Human3.6M's original videos; subject or paper-action split; person = subject."""

    name = "human36m"
    Options = Human36mOptions

    def scan(self) -> SourceScan:
        subjects = (
            sorted(
                (d for d in self.root.iterdir() if d.is_dir() and SUBJECT.match(d.name)),
                key=lambda d: int(d.name[1:]),
            )
            if self.root.is_dir()
            else []
        )
        if not subjects:
            raise SourceError(f"{self.root}: no S<n>/Videos/ folder (Human3.6M's layout)")
        scan = SourceScan()
        for subject in subjects:
            for path in sorted((subject / "Videos").glob("*.mp4")):
                record = self._record(subject.name, path, scan.problems)
                if record is not None:
                    scan.videos.append(record)
        return scan

    def _record(
        self, subject: str, path: Path, problems: list[SourceProblem]
    ) -> VideoRecord | None:
        opts: Human36mOptions = self.options
        m = FILE_NAME.match(path.name)
        if m is None:
            reason = "not an action video (<Action>[ <take>].<camera>.mp4)"
            problems.append(SourceProblem(str(path), reason))
            return None
        action = ALIASES.get(m.group("action"), m.group("action"))
        if action not in ACTIONS:
            problems.append(SourceProblem(str(path), f"unknown action {m.group('action')!r}"))
            return None
        camera = m.group("camera")
        if (opts.cameras and camera not in opts.cameras) or (
            f"{subject}/{path.name[:-4]}" in opts.exclude
        ):
            return None
        reason = probe_video(path)
        if reason is not None:
            problems.append(SourceProblem(str(path), reason))
            return None
        take = m.group("take")
        return VideoRecord(
            video_id=safe_id(f"{subject}_{path.name[:-4].replace(' ', '_')}"),
            person_id=subject,
            source=self.name,
            path=str(path.resolve()),
            split=self._split(subject, action),
            action=action,
            meta={"subject": subject, "take": int(take) if take else 0, "camera": camera},
        )

    def _split(self, subject: str, action: str) -> str:
        opts: Human36mOptions = self.options
        if opts.protocol == "subjects":
            chosen, train, test = subject, opts.train_subjects, opts.test_subjects
        else:
            chosen, train, test = action, opts.train_actions, opts.test_actions
        return "test" if chosen in test else "train" if chosen in train else "excluded"
