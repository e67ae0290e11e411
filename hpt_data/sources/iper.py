"""``iper``: the iPER dataset (impersonator, LW-GAN) as its owners distribute it.

``images_HD/<person>/<outfit>/<action>/`` frame folders (iPERDance/iPERCore
``docs/manually_download_datasets.md``; frames sorted by name), or the older release's
videos ``iPER_256_video_release/<person>_<outfit>_<action>.mp4`` (svip-lab/impersonator
``tools/unzip_iPER.py``); ``train.txt``/``val.txt`` list one video per line as
``001/9/1``; the evaluation protocol ``iPER_protocol.json`` (svip-lab/impersonator
``thirdparty/his_evaluators/data/``) gives per val video its source frames and the frame
ranges of a self-imitation and a cross-imitation target.

Video ids are the protocol's ``formated_name`` (``001_9_1``), the person is the first
number. The split is the list a video is in (``val.txt`` is the test split; a video in
neither list is ``excluded``; one in both is reported and skipped). Pairs come from the
protocol when its file is there: each source frame of ``s_n[<protocol_sources>]`` paired
with every frame of the self-imitation range (and, with ``protocol_targets``, of the
cross-imitation target's range), inclusive and cut at the video's end as
``his_evaluators/protocols/iPER.py`` slices them; a frame is its position in the sorted
folder, which is what the protocol's ``int("0253.jpg".split(".")[0])`` means.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpt_data.errors import SourceError
from hpt_data.sources.base import FramePair, SourceProblem, SourceScan, VideoRecord, VideoSource
from hpt_data.sources.helpers import probe_video
from hpt_data.video import IMAGE_SUFFIXES

VIDEO_NAME = re.compile(r"^(?P<person>\d+)_(?P<outfit>\d+)_(?P<action>\d+)$")
LIST_LINE = re.compile(r"^\d+/\d+/\d+$")


#: How to get and register the dataset; rendered into docs/datasets.md by hpt_data.docs_gen.
GUIDE = """\
**Files.** `train.txt`, `val.txt` and `images_HD.tar.gz` (shipped as
`splits/images_HD.tar.gz.aa ... .bk`, joined with `cat`), from the links in
iPERDance/iPERCore `docs/manually_download_datasets.md`; the older release
`iPER_256_video_release.zip` holds `<person>_<outfit>_<action>.mp4` videos instead
(svip-lab/impersonator `doc/train.md`, `tools/unzip_iPER.py`). The evaluation protocol
`iPER_protocol.json` is in svip-lab/impersonator `thirdparty/his_evaluators/data/`: copy it
into the root to get its pairs.

**Layout** hpt reads (the root):

```text
images_HD/001/9/1/000.jpg 001.jpg ...   (<person>/<outfit>/<action>/, frames sorted by name)
iPER_256_video_release/001_9_1.mp4      (read only when images_HD/ is absent)
train.txt  val.txt                      (one 001/9/1 per line)
iPER_protocol.json                      (optional: the evaluation pairs)
smpls/001/9/1/pose_shape.pkl            (optional: the release's per-frame SMPL fits)
```

**Videos, persons.** Video id `001_9_1` (the protocol's `formated_name`), person `001`,
action `1` or `2`, `meta` outfit and name. Frame folders are probed at scan time. Where
the release's fits are there (`smpls/<person>/<outfit>/<action>/pose_shape.pkl`: `pose`
(N, 72), `shape` (N, 10), `cams` (N, 3) HMR weak-perspective cameras, one row per sorted
frame; svip-lab/impersonator `data/imper_dataset.py`), `meta["smpl"]` names the file;
`hpt_data.sources.iper_smpls.read_pose_shape` reads it through the restricted unpickler
and checks it. `fit-smpl` does not use them yet: they are fits of the official SMPL model
(not the built-in one, whose shape space differs) on HMR's crop.

**Split and pairs.** `train.txt` is the train split, `val.txt` the test split, a video in
neither is `excluded` (`split: {by: source}`; a video in both is reported and skipped). The
pairs are the protocol's, all in the test split: for each val video, its source frames `s_n["1"]`
(`protocol_sources`) paired with every frame of its self-imitation range (inclusive; a range
past the video's end is cut there, as `his_evaluators/protocols/iPER.py` slices it); a frame
is its position in the sorted folder. Cross-imitation pairs (another person's poses, which
have no true image to compare with) come only with `protocol_targets: [self_imitation,
cross_imitation]`. A pair reaches the shards only where both its frames were kept: to score
the whole protocol, sample with `sample-frames: {mode: stride, stride: 1}` (the entry below
keeps every 10th frame, for training).

```yaml
datasets:
  iper:
    source: iper
    root: /data/iPER
    split: {by: source}
    stages:
      sample-frames: {mode: stride, stride: 10}
```
"""


@dataclass(frozen=True)
class IperOptions:
    """Keys under ``options:`` of an ``iper`` dataset in ``datasets.yaml``."""

    images: str = "images_HD"  # frame folders <person>/<outfit>/<action>/, relative to the root

    # the older release's videos <person>_<outfit>_<action>.mp4, read when images is absent
    videos: str = "iPER_256_video_release"
    train_list: str = "train.txt"  # videos of the training split, one 001/9/1 per line
    test_list: str = "val.txt"  # videos of the test split
    protocol: str = "iPER_protocol.json"  # evaluation pairs; none when the file is absent
    protocol_sources: int = 1  # which s_n entry of the protocol gives the source frames
    smpls: str = "smpls"  # the release's SMPL fits <person>/<outfit>/<action>/pose_shape.pkl

    # which target ranges of the protocol become pairs: self_imitation (the person's own
    # frames, which a result can be compared with) and, on request, cross_imitation (another
    # person's poses: no true image; the protocol scores those with identity measures)
    protocol_targets: list[Literal["self_imitation", "cross_imitation"]] = field(
        default_factory=lambda: ["self_imitation"]
    )

    def __post_init__(self) -> None:
        if self.protocol_sources < 1:
            raise ValueError(f"protocol_sources must be at least 1, got {self.protocol_sources}")


def read_video_list(path: Path) -> tuple[list[str], list[SourceProblem]]:
    """The ``001/9/1`` names of a ``train.txt``/``val.txt``; a malformed line is a problem."""
    names, problems = [], []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if LIST_LINE.match(line) is None:
            reason = f"line {no}: expected <person>/<outfit>/<action> like 001/9/1, got {line!r}"
            problems.append(SourceProblem(str(path), reason))
            continue
        names.append(line)
    return names, problems


def _frame_index(name: Any, where: str) -> int:
    """A protocol frame name (``"0253.jpg"``) as the frame's index."""
    stem = str(name).rsplit(".", 1)[0]
    if not stem.isdigit():
        raise ValueError(f"{where}: frame name {name!r} is not <number>.jpg")
    return int(stem)


def _range(value: Any, where: str) -> range:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and v >= 0 for v in value)
        or value[0] > value[1]
    ):
        raise ValueError(f"{where}: expected [first, last] frame numbers, got {value!r}")
    return range(value[0], value[1] + 1)


class IperSource(VideoSource):
    """iPER frame folders (or videos), its train/val lists and evaluation protocol."""

    name = "iper"
    Options = IperOptions

    def scan(self) -> SourceScan:
        opts: IperOptions = self.options
        scan = SourceScan()
        found = self._find()
        lists: dict[str, set[str]] = {}
        for split, rel in (("train", opts.train_list), ("test", opts.test_list)):
            path = self.root / rel
            if path.is_file():
                names, problems = read_video_list(path)
                scan.problems += problems
                lists[split] = set(names)
                for name in names:
                    if name not in found:
                        reason = f"lists {name}, which is not under {self.root}"
                        scan.problems.append(SourceProblem(str(path), reason))
        frames: dict[str, int] = {}
        for name, path in sorted(found.items()):
            reason = probe_video(path)
            if reason is not None:
                scan.problems.append(SourceProblem(str(path), reason))
                continue
            person, outfit, action = name.split("/")
            listed = [s for s, names in lists.items() if name in names]
            if len(listed) > 1:
                files = f"{opts.train_list} and {opts.test_list}"
                scan.problems.append(SourceProblem(str(path), f"listed in both {files}"))
                continue
            split = listed[0] if listed else None
            if split is None:
                split = "excluded" if lists else "unassigned"
            video_id = name.replace("/", "_")
            scan.videos.append(
                VideoRecord(
                    video_id=video_id,
                    person_id=person,
                    source=self.name,
                    path=str(path.resolve()),
                    split=split,
                    action=action,
                    meta=self._meta(name, outfit),
                )
            )
            if path.is_dir():
                images = [f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
                frames[video_id] = len(images)
        protocol = self.root / opts.protocol
        if protocol.is_file():
            self._protocol(protocol, {v.video_id for v in scan.videos}, frames, scan)
        return scan

    def _meta(self, name: str, outfit: str) -> dict[str, Any]:
        """A video's meta: outfit, name and, where the release's fits are there, ``smpl``
        (the pose_shape.pkl, read by ``hpt_data.sources.iper_smpls.read_pose_shape``)."""
        meta: dict[str, Any] = {"outfit": outfit, "name": name}
        fits = self.root / self.options.smpls / name / "pose_shape.pkl"
        if fits.is_file():
            meta["smpl"] = {"file": str(fits.resolve()), "format": "iper_pose_shape"}
        return meta

    def _find(self) -> dict[str, Path]:
        """``001/9/1`` -> its frame folder (or video file)."""
        opts: IperOptions = self.options
        images, videos = self.root / opts.images, self.root / opts.videos
        if images.is_dir():
            return {
                "/".join(d.relative_to(images).parts): d
                for d in sorted(images.glob("*/*/*"))
                if d.is_dir()
            }
        if videos.is_dir():
            out = {}
            for f in sorted(videos.glob("*.mp4")):
                m = VIDEO_NAME.match(f.stem)
                if m is not None:
                    out["/".join(m.group("person", "outfit", "action"))] = f
            return out
        raise SourceError(
            f"{self.root}: neither '{opts.images}/' (frame folders) nor '{opts.videos}/' "
            "(videos) is there"
        )

    def _protocol(
        self, path: Path, videos: set[str], frames: dict[str, int], scan: SourceScan
    ) -> None:
        """Pairs of the evaluation protocol; a bad entry is a problem naming the video."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data["val"]
            if not isinstance(entries, dict):
                raise TypeError
        except json.JSONDecodeError as exc:
            scan.problems.append(SourceProblem(str(path), f"not valid JSON: {exc}"))
            return
        except (KeyError, TypeError):
            scan.problems.append(SourceProblem(str(path), "no 'val' mapping of videos"))
            return
        for name, entry in entries.items():
            try:
                pairs = self._entry_pairs(str(name), entry, videos, frames)
            except (ValueError, KeyError, TypeError) as exc:
                reason = str(exc) if isinstance(exc, ValueError) else f"{name}: missing {exc}"
                scan.problems.append(SourceProblem(str(path), reason))
                continue
            scan.pairs += pairs

    def _entry_pairs(
        self, name: str, entry: dict[str, Any], videos: set[str], frames: dict[str, int]
    ) -> list[FramePair]:
        opts: IperOptions = self.options
        source = name.replace("/", "_")
        if source not in videos:
            raise ValueError(f"{name}: the protocol's video was not found")
        key = str(opts.protocol_sources)
        if key not in entry["s_n"]:
            raise ValueError(f"{name}: s_n has no entry {key!r} (protocol_sources)")
        sources = [_frame_index(n, f"{name} s_n {key}") for n in entry["s_n"][key]]
        count = frames.get(source)
        late = [i for i in sources if count is not None and i >= count]
        if late:
            raise ValueError(f"{name}: source frame {late[0]} is past its {count} frames")
        pairs = []
        for kind in opts.protocol_targets:
            target = str(entry[kind]["target"]).replace("/", "_")
            if target not in videos:
                raise ValueError(f"{name}: {kind} target {entry[kind]['target']} was not found")
            span = _range(entry[kind]["range"], f"{name} {kind} range")
            if target in frames:  # sliced as the protocol's reader slices: cut at the end
                span = range(span.start, min(span.stop, frames[target]))
            pairs += [FramePair("test", source, s, target, t) for s in sources for t in span]
        return pairs
