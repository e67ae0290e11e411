"""``remove-bg``'s ``clips.json`` with ``person: all``: which tracks became person clips.

With ``person: all`` remove-bg writes no crop set of its own: each track seen in at least
``min_track_frames`` frames (and usable in one) gets a complete one-person crop set under
``clips/<name>/`` (``frames.json``, ``people.npz``, ``alpha/``, ``mask/``: the same files,
and the same bytes, as ``person: <track id>`` writes at the top), and ``clips.json`` lists
them. Clips are named ``p1``, ``p2``, ... in order of first appearance (the source index of
the track's first frame; ties by track id). The orchestrator turns each into the person
clip ``<video id>#<name>`` (:mod:`hpt_data.person_clips`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from hpt_data.errors import StageError
from hpt_data.stages._frames_io import write_json


@dataclass(frozen=True)
class PersonClip:
    """One kept track: ``name`` (``p1``), its ``track`` id, the source index of its first
    frame, the frames it was seen in and those usable (no flag)."""

    name: str
    track: int
    first_index: int
    frames: int
    usable: int

    @property
    def folder(self) -> str:
        """The clip's crop set, relative to remove-bg's output."""
        return f"clips/{self.name}"


@dataclass
class PersonClips:
    """``clips.json``: the clips in name order, and the tracks left out with the reason."""

    FILE: ClassVar[str] = "clips.json"

    clips: list[PersonClip]
    min_track_frames: int
    left_out: dict[str, str]  # track id -> why it is no clip

    def write(self, folder: Path) -> None:
        write_json(
            Path(folder) / self.FILE,
            {
                "clips": [asdict(c) for c in self.clips],
                "min_track_frames": self.min_track_frames,
                "left_out": self.left_out,
            },
        )

    @classmethod
    def read(cls, folder: Path) -> PersonClips:
        path = Path(folder) / cls.FILE
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                [PersonClip(**c) for c in data["clips"]],
                int(data["min_track_frames"]),
                {str(k): str(v) for k, v in data["left_out"].items()},
            )
        except OSError:
            raise StageError(f"{path}: missing (remove-bg was not run with person: all)") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StageError(f"{path}: malformed remove-bg clip list ({exc})") from None

    @staticmethod
    def present(folder: Path) -> bool:
        """Whether ``folder`` (a remove-bg output) was made with ``person: all``."""
        return (Path(folder) / PersonClips.FILE).is_file()
