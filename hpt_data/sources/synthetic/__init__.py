"""The ``synthetic`` video source: rendered people of the built-in body model, with truth.

Each planned clip is one person (shape, skin, hair, clothes drawn from the dataset seed and
the person's id) doing one action (walk, wave, turn, bend, cross arms, cross legs, one arm
across the body) in a procedural room, filmed by a static perspective camera. ``scan``
lists the clips from the options alone; ``materialize`` renders one clip to
``<root>/<video_id>.mp4`` with its ground truth in ``<root>/<video_id>.npz`` (see
``docs/synthetic.md``).

Modules: ``people`` (shapes and attributes), ``appearance`` (clothes by vertex colour),
``textures`` and ``room`` (the set, lights, camera), ``shadows`` (soft floor shadows),
``clip`` (rendering and writing), ``reproducible`` (seeds from ids, rounded body output),
``ground_truth`` (the reproducible ``.npz``). The actions as poses are a library shared
with the pipelines' targets: :mod:`hpt_data.body.motions`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpt_data.body.motions import ACTIONS
from hpt_data.errors import SourceError
from hpt_data.sources.base import SourceScan, VideoRecord, VideoSource
from hpt_data.sources.synthetic.crowd import MAX_PEOPLE, other_person_id

logger = logging.getLogger(__name__)

__all__ = ["ACTIONS", "SyntheticOptions", "SyntheticSource"]


@dataclass(frozen=True)
class SyntheticOptions:
    """Keys under ``options:`` of a ``synthetic`` dataset in ``datasets.yaml``."""

    persons: int = 4  # number of distinct people (p000, p001, ...)
    clips_per_person: int = 2  # clips per person, actions taken in turn from ``actions``
    seconds: float = 2.0  # length of each clip
    fps: int = 15  # frames per second of the videos
    width: int = 480  # video width in pixels
    height: int = 640  # video height in pixels
    seed: int = 0  # dataset seed: same seed, same people, clips and bytes
    actions: list[str] = field(default_factory=lambda: list(ACTIONS))  # actions to draw from
    people_per_clip: int = 1  # people in each scene: 2 adds a crosser, 3 also a bystander

    def __post_init__(self) -> None:
        if self.persons < 1 or self.clips_per_person < 1:
            raise SourceError("synthetic: persons and clips_per_person must be at least 1")
        if self.seconds <= 0 or self.fps < 1:
            raise SourceError("synthetic: seconds must be positive and fps at least 1")
        if self.width < 32 or self.height < 32 or self.width % 2 or self.height % 2:
            raise SourceError("synthetic: width and height must be even and at least 32")
        if not 1 <= self.people_per_clip <= MAX_PEOPLE:
            raise SourceError(f"synthetic: people_per_clip must be 1 to {MAX_PEOPLE}")
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown or not self.actions:
            raise SourceError(
                f"synthetic: unknown or no actions {unknown}; known: {', '.join(ACTIONS)}"
            )

    @property
    def num_frames(self) -> int:
        return max(1, round(self.seconds * self.fps))


@functools.lru_cache(maxsize=1)
def _body_model() -> Any:
    """The built-in body model, loaded once per process, in float64 (see
    ``reproducible.settle``)."""
    from hpt_data.body import load_body_model

    return load_body_model().double()


@functools.lru_cache(maxsize=64)
def _dressed_person(person_id: str, seed: int) -> tuple[Any, Any, Any]:
    """The person, their per-vertex colours (V, 3) and cloth stand-off (V,), drawn once."""
    import numpy as np
    import torch

    from hpt_data.sources.synthetic.appearance import stand_off, vertex_colors
    from hpt_data.sources.synthetic.people import sample_person
    from hpt_data.sources.synthetic.reproducible import rng_for, settle

    model = _body_model()
    rng = rng_for(seed, person_id, "person")
    person = sample_person(person_id, rng, model)
    with torch.no_grad():
        rest = model.forward(betas=torch.as_tensor(person.betas[None], dtype=model.dtype))
    ids = getattr(model, "landmark_vertex_ids", {})
    landmarks = {k: int(v) for k, v in ids.items()} if isinstance(ids, dict) else {}
    colors, region = vertex_colors(
        person.outfit,
        settle(rest.vertices[0]),
        settle(rest.joints[0, :24]),
        np.asarray(model.skinning_weights),
        landmarks,
        rng_for(seed, person_id, "fabric"),
    )
    return person, colors, stand_off(person.outfit, region)


class SyntheticSource(VideoSource):
    """Rendered clips of synthetic people with per-frame ground truth (the demo's source)."""

    name = "synthetic"
    Options = SyntheticOptions
    root_must_exist = False

    def scan(self) -> SourceScan:
        """Plan the clips from the options: ``p000-walk``, ``p000-wave``, ... (no rendering)."""
        opts: SyntheticOptions = self.options
        videos = []
        crowd = {"people": opts.people_per_clip} if opts.people_per_clip > 1 else {}
        for p in range(opts.persons):
            person_id = f"p{p:03d}"
            for c in range(opts.clips_per_person):
                action = opts.actions[(p * opts.clips_per_person + c) % len(opts.actions)]
                video_id = f"{person_id}-{action}"
                if c >= len(opts.actions):
                    video_id += f"-{c // len(opts.actions)}"
                videos.append(
                    VideoRecord(
                        video_id=video_id,
                        person_id=person_id,
                        source=self.name,
                        path=str(self.root / f"{video_id}.mp4"),
                        action=action,
                        ground_truth=str(self.root / f"{video_id}.npz"),
                        meta={
                            "frames": opts.num_frames,
                            "fps": opts.fps,
                            "width": opts.width,
                            "height": opts.height,
                            **crowd,
                        },
                    )
                )
        return SourceScan(videos=videos)

    def is_materialized(self, video: VideoRecord) -> bool:
        """Both the video and its ground truth exist under their final names."""
        gt = video.ground_truth
        return Path(video.path).exists() and gt is not None and Path(gt).exists()

    def materialize(self, video: VideoRecord) -> None:
        """Render one clip and write ``video.ground_truth`` then ``video.path`` atomically."""
        from hpt_data.sources.synthetic.clip import ClipSpec, render_clip, write_clip

        opts: SyntheticOptions = self.options
        if video.action not in ACTIONS or video.ground_truth is None:
            raise SourceError(f"synthetic: {video.video_id} is not a clip this source planned")
        spec = ClipSpec(
            video_id=video.video_id,
            person_id=video.person_id,
            action=video.action,
            num_frames=opts.num_frames,
            fps=opts.fps,
            width=opts.width,
            height=opts.height,
            seed=opts.seed,
            people=opts.people_per_clip,
        )
        person, colors, offsets = _dressed_person(video.person_id, opts.seed)
        others = [
            _dressed_person(other_person_id(video.video_id, k), opts.seed)
            for k in range(1, opts.people_per_clip)
        ]
        frames = render_clip(spec, person, _body_model(), colors, offsets, others)
        write_clip(frames, video.path, video.ground_truth, opts.fps)
        logger.info(
            "rendered %s: %d frames in %.1f s", video.video_id, spec.num_frames, frames.seconds
        )
