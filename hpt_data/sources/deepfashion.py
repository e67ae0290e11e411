"""``deepfashion``: DeepFashion In-shop photos as the pose-transfer papers distribute them.

The layout of PATN (tengteng95/Pose-Transfer) and GFLA (RenYurui/Global-Flow-Local-Attention)
after their ``generate_fashion_datasets.py``: one flat folder per split (``train/``,
``test/``) of photos whose name flattens the In-shop path
``img/WOMEN/Dresses/id_00005732/04_4_full.jpg`` into
``fashionWOMENDressesid0000573204_4full.jpg``, the lists ``train.lst``/``test.lst``, and per
split a pairs CSV (``from,to``) and an annotation CSV (``name:keypoints_y:keypoints_x``, 18
OpenPose COCO-18 points, ``-1`` where missing), named ``fasion-resize-*`` (PATN; the
misspelling is theirs), ``fasion-*`` (GFLA's code), ``fashion-*`` (GFLA's docs) or
``fashion-resize-*`` (CFLD).

Every photo is a one-frame video (``hpt_data.video`` reads an image file as one); the person
is the clothing item (``id_00005732``), as the papers take it: their pairs join photos of
one item. The split is the folder a photo is in (the list files must agree), the pairs are
the official pairs CSV's (``FramePair`` with frame 0 on both sides), and the annotation's
keypoints ride along in each record's ``meta["openpose18"]`` as a prior that ``pose2d``
uses (``hpt_data.stages.pose_prior``).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpt_data.errors import SourceError
from hpt_data.sources.base import FramePair, SourceProblem, SourceScan, VideoRecord, VideoSource
from hpt_data.sources.helpers import safe_id

#: the naming families of the CSVs, tried in this order by ``naming: auto``
FAMILIES = ("fasion-resize", "fashion-resize", "fasion", "fashion")
#: OpenPose COCO-18 order of the annotation CSV's points
COCO18 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
ANNOTATION_SIZE = (176, 256)  # (width, height) of the crops the annotations were made on
NAME = re.compile(
    r"^fashion(?P<gender>MEN|WOMEN)(?P<category>[A-Za-z_]+?)id(?P<item>\d{8})"
    r"(?P<photo>\d{2})_(?P<view>\d[a-z]+)$"
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


#: How to get and register the dataset; rendered into docs/datasets.md by hpt_data.docs_gen.
GUIDE = """\
**Files.** The photos are DeepFashion's In-shop Clothes Retrieval Benchmark
(`img_highres.zip` or `img.zip`, password from the maintainers:
mmlab.ie.cuhk.edu.hk/projects/DeepFashion/InShopRetrieval.html). The split lists and CSVs
are the pose-transfer papers': PATN's `fasion-resize-pairs-{train,test}.csv`,
`fasion-resize-annotation-{train,test}.csv`, `train.lst`, `test.lst` (links in
tengteng95/Pose-Transfer `README.md`), or GFLA's `fashion-*`/`fasion-*` set
(RenYurui/Global-Flow-Local-Attention `PERSON_IMAGE_GENERATION.md`; its
`data/fashion_dataset.py` reads `fasion-pairs-*.csv`). Their `generate_fashion_datasets.py`
(Pose-Transfer `tool/`, GFLA `script/`) copies the photos into `train/` and `test/` under
flattened names: `img/WOMEN/Dresses/id_00005732/04_4_full.jpg` becomes
`fashionWOMENDressesid0000573204_4full.jpg`.

**Layout** hpt reads (the root):

```text
train/  fashionWOMENDressesid0000573204_4full.jpg ...   (PATN: 176x256 crops; GFLA: full size)
test/   ...
train.lst  test.lst                                     (one photo name per line)
fasion-resize-pairs-train.csv  fasion-resize-pairs-test.csv            (from,to)
fasion-resize-annotation-train.csv  fasion-resize-annotation-test.csv
                                (name:keypoints_y:keypoints_x)
```

**Videos, persons.** Each photo is a one-frame video (id: the file name without `.jpg`);
the person is the clothing item (`id_00005732`), the identity the papers mean (their
pair rule, Pose-Transfer `tool/create_pairs_dataset.py`, groups names by the text before the
first `_`: item and photo number, or only `fashionWOMENBlouses` for a category with an
underscore, so an official pair may join two items); `action` is the view (`1front`,
`2side`, `3back`, `4full`, `6flat`, `7additional`). `meta` holds gender, category, item,
photo and view, and `openpose18`: the annotation CSV's 18 points (OpenPose COCO-18 order:
nose, neck, right shoulder/elbow/wrist, left shoulder/elbow/wrist, right hip/knee/ankle,
left hip/knee/ankle, right/left eye, right/left ear) as `[x, y]` pixels of the 176x256
image they were measured on, `[-1, -1]` where missing. `pose2d` uses them as a prior
(`stages: pose2d: {keypoint_prior: true}`, the default): where MediaPipe finds nobody in
the crop, or someone whose points lie farther than `prior_max_error` (10 % of the crop side,
median) from the annotation's, the annotation's points are the frame's landmarks; where it
agrees, the points it sees stay its own and those it misses (visibility < 0.5) take the
annotation's. The stage's metrics count each case (`prior_from_prior`, `prior_replaced`,
`prior_filled`, `prior_kept`). A photo remove-bg finds nobody in has no crop, and the
prior cannot save it.
(PATN's `LABELS` list names points 14-17 Leye, Reye, Lear, Rear, but the OpenPose model that
made them, and PATN's own limb table `LIMB_SEQ` in `tool/pose_utils.py`, have right before
left: the order above is the data's.)

**Split and pairs.** The split is the folder (`train/`, `test/`; a photo listed in the other
split's `.lst` is reported and skipped), kept by `split: {by: source}`: PATN's lists, said
to follow the split of Siarohin et al.'s deformable GANs that the paper uses (Table III; not
checkable: DSC drew its test items at random, unseeded). The pairs are the
official `*-pairs-test.csv` rows (`pair_splits` adds train's ~100k), frame 0 to frame 0.

```yaml
datasets:
  deepfashion:
    source: deepfashion
    root: /data/fashion_data
    split: {by: source}
    stages:
      pose2d: {keypoint_prior: true}   # the default: the annotation checks MediaPipe
      fit-smpl: {min_frames: 1, temporal: false}   # one photo per video
```
"""


@dataclass(frozen=True)
class DeepFashionOptions:
    """Keys under ``options:`` of a ``deepfashion`` dataset in ``datasets.yaml``."""

    # which CSV names to read: auto takes the first family whose files are there
    naming: Literal["auto", "fasion-resize", "fashion-resize", "fasion", "fashion"] = "auto"
    train_dir: str = "train"  # folder of the training photos, relative to the root
    test_dir: str = "test"  # folder of the test photos, relative to the root

    # splits whose official pairs CSV becomes the dataset's pairs (train's has ~100k rows)
    pair_splits: list[Literal["train", "test"]] = field(default_factory=lambda: ["test"])
    keypoints: bool = True  # carry the annotation CSV's points in each record's meta


def _parse_name(stem: str) -> dict[str, str] | None:
    """The parts of a flattened In-shop name, or None when it is not one."""
    m = NAME.match(stem)
    if m is None:
        return None
    parts = m.groupdict()
    parts["item"] = f"id_{parts['item']}"
    return parts


def read_list(path: Path) -> set[str]:
    """The image names of ``train.lst``/``test.lst`` (one per line; blank lines skipped)."""
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def parse_points(text: str, where: str) -> list[int]:
    """One bracketed list of 18 coordinates (``[28, 54, -1, ...]``) of an annotation row."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError:
        shown = text.strip()[:40]
        raise ValueError(f"{where}: not a bracketed list of numbers: {shown!r}") from None
    if not isinstance(values, list) or len(values) != len(COCO18):
        n = len(values) if isinstance(values, list) else "no"
        raise ValueError(f"{where}: expected {len(COCO18)} coordinates, got {n}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{where}: coordinates must be numbers")
    return [round(v) for v in values]


def read_annotation(path: Path) -> tuple[dict[str, list[list[int]]], list[SourceProblem]]:
    """Image name -> 18 ``[x, y]`` points (``[-1, -1]`` missing) of an annotation CSV.

    Format (PATN ``tool/compute_coordinates.py``): a ``name:keypoints_y:keypoints_x`` header,
    then one ``name: [y, ...]: [x, ...]`` line per image. A bad line is a problem naming the
    file and line; the others are kept.
    """
    out: dict[str, list[list[int]]] = {}
    problems: list[SourceProblem] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [h.strip() for h in lines[0].split(":")] if lines else []
    if header != ["name", "keypoints_y", "keypoints_x"]:
        reason = f"line 1: expected the header name:keypoints_y:keypoints_x, got {lines[:1]}"
        return out, [SourceProblem(str(path), reason)]
    for no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(":")
        try:
            if len(cells) != 3:
                raise ValueError(f"line {no}: expected 3 ':'-separated columns, got {len(cells)}")
            ys = parse_points(cells[1], f"line {no} keypoints_y")
            xs = parse_points(cells[2], f"line {no} keypoints_x")
        except ValueError as exc:
            problems.append(SourceProblem(str(path), str(exc)))
            continue
        out[cells[0].strip()] = [
            [-1, -1] if x == -1 or y == -1 else [x, y] for x, y in zip(xs, ys, strict=True)
        ]
    return out, problems


def read_pairs(path: Path) -> tuple[list[tuple[str, str]], list[SourceProblem]]:
    """``(from, to)`` image names of a pairs CSV (a ``from,to`` header; an index column, as
    pandas writes one, is ignored)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"from", "to"} <= set(reader.fieldnames):
            reason = f"line 1: expected a header with columns from,to, got {reader.fieldnames}"
            return [], [SourceProblem(str(path), reason)]
        pairs, problems = [], []
        for no, row in enumerate(reader, start=2):
            a, b = (row.get("from") or "").strip(), (row.get("to") or "").strip()
            if not a or not b:
                problems.append(SourceProblem(str(path), f"line {no}: empty 'from' or 'to'"))
                continue
            pairs.append((a, b))
    return pairs, problems


class DeepFashionSource(VideoSource):
    """DeepFashion In-shop photos (PATN/GFLA layout): one-frame videos, person = item."""

    name = "deepfashion"
    Options = DeepFashionOptions

    def scan(self) -> SourceScan:
        opts: DeepFashionOptions = self.options
        dirs = {"train": self.root / opts.train_dir, "test": self.root / opts.test_dir}
        if not any(d.is_dir() for d in dirs.values()):
            raise SourceError(
                f"{self.root}: no '{opts.train_dir}/' or '{opts.test_dir}/' photo folder "
                "(the layout of PATN/GFLA generate_fashion_datasets.py)"
            )
        family = self._family()
        scan = SourceScan()
        points: dict[str, list[list[int]]] = {}
        if opts.keypoints and family is not None:
            for split in dirs:
                path = self.root / f"{family}-annotation-{split}.csv"
                if path.is_file():
                    found, problems = read_annotation(path)
                    points.update(found)
                    scan.problems += problems
        listed = {s: self.root / f"{s}.lst" for s in dirs}
        lists = {s: read_list(p) for s, p in listed.items() if p.is_file()}
        by_name: dict[str, str] = {}
        for split, folder in dirs.items():
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                record = self._record(path, split, lists, points, family, scan.problems)
                if record is not None:
                    scan.videos.append(record)
                    by_name[path.name] = record.video_id
        if family is not None:
            for split in opts.pair_splits:
                path = self.root / f"{family}-pairs-{split}.csv"
                if path.is_file():
                    self._pairs(path, split, by_name, scan)
        return scan

    def _family(self) -> str | None:
        """The CSV naming family in use: the option, or the first whose files exist."""
        opts: DeepFashionOptions = self.options
        if opts.naming != "auto":
            return opts.naming
        for family in FAMILIES:
            if any(self.root.glob(f"{family}-*-*.csv")):
                return family
        return None

    def _record(
        self,
        path: Path,
        split: str,
        lists: dict[str, set[str]],
        points: dict[str, list[list[int]]],
        family: str | None,
        problems: list[SourceProblem],
    ) -> VideoRecord | None:
        parts = _parse_name(path.stem)
        if parts is None:
            reason = (
                "file name is not a flattened In-shop name "
                "(fashion<MEN|WOMEN><Category>id<8 digits><2 digits>_<view>.jpg)"
            )
            problems.append(SourceProblem(str(path), reason))
            return None
        if path.stat().st_size == 0:
            problems.append(SourceProblem(str(path), "empty file (0 bytes)"))
            return None
        other = "test" if split == "train" else "train"
        if path.name in lists.get(other, set()) and path.name not in lists.get(split, set()):
            reason = f"in the {split} folder but listed in {other}.lst"
            problems.append(SourceProblem(str(path), reason))
            return None
        meta: dict[str, Any] = dict(parts)
        if path.name in points:
            meta["openpose18"] = {
                "xy": points[path.name],
                "image_size": list(ANNOTATION_SIZE),
                "file": f"{family}-annotation-{split}.csv",
            }
        return VideoRecord(
            video_id=safe_id(path.stem),
            person_id=parts["item"],
            source=self.name,
            path=str(path.resolve()),
            split=split,
            action=parts["view"],
            meta=meta,
        )

    def _pairs(self, path: Path, split: str, by_name: dict[str, str], scan: SourceScan) -> None:
        """The pairs of one CSV whose two photos were both found; one problem for the rest."""
        pairs, problems = read_pairs(path)
        scan.problems += problems
        missing = []
        for a, b in pairs:
            if a in by_name and b in by_name:
                scan.pairs.append(FramePair(split, by_name[a], 0, by_name[b], 0))
            else:
                missing.append(a if a not in by_name else b)
        if missing:
            reason = (
                f"{len(missing)} of {len(pairs)} pairs name a photo that was not found or "
                f"not usable (first: {missing[0]})"
            )
            scan.problems.append(SourceProblem(str(path), reason))
