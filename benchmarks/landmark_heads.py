"""The Pose landmark model whole against the same model without its person-mask head
(``TfliteModel.without``, what remove-bg's mask-free looks run: the mirror look, the crop
pass's plain look, peel's first look).

The input: the real astronaut photo of the tests on a white canvas, the 256² region the
person detector and the landmark model find on it (the content does not change a
convolution's cost, but it is a real look). Both models run alternately in ``--turns``
turns of ``--looks`` invokes each, one interpreter thread (as the stages run them);
reported: ms per look each way (medians over the turns), the ratio, the operators of each
graph, and whether every kept output is the whole model's to the bit.

    python benchmarks/landmark_heads.py [--turns 7] [--looks 40]

Prints a table and writes ``benchmarks/results/landmark_heads.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "landmark_heads.json"
PHOTO = ROOT / "tests" / "data" / "real" / "astronaut.jpg"


def region_tensor() -> np.ndarray:
    """(1, 256, 256, 3) float32: the landmark model's input on the photo's person."""
    import cv2

    from hpt_data.perception import people

    photo = cv2.imread(str(PHOTO))
    if photo is None:
        raise SystemExit(f"{PHOTO}: cannot read the photo")
    image = cv2.copyMakeBorder(photo, 200, 200, 200, 200, cv2.BORDER_CONSTANT, value=(255,) * 3)
    found = people.find_people(image, people.PeopleOptions(bgr=True))
    if not found:
        raise SystemExit(f"{PHOTO}: no person found")
    return people._crop(image, found[0].roi, True)


def operator_count(content: bytes) -> int:
    from ai_edge_litert import schema_py_generated as schema

    return schema.Model.GetRootAsModel(content, 0).Subgraphs(0).OperatorsLength()


def ms_per_look(model: Any, x: np.ndarray, looks: int) -> float:
    start = time.perf_counter()
    for _ in range(looks):
        model.run(x)
    return 1000 * (time.perf_counter() - start) / looks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=7)
    parser.add_argument("--looks", type=int, default=40, help="invokes a way per turn")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from hpt_data.perception.people import MASK_OUTPUT, landmark_model
    from hpt_data.perception.tflite_prune import without_outputs

    whole = landmark_model()
    pruned = whole.without(MASK_OUTPUT)
    x = region_tensor()
    same = all(np.array_equal(v, whole.run_named(x)[k]) for k, v in pruned.run_named(x).items())
    for model in (whole, pruned):  # warm
        ms_per_look(model, x, 3)
    times: dict[str, list[float]] = {"whole": [], "without_mask": []}
    load_before = round(os.getloadavg()[0], 2)
    for turn in range(args.turns):
        ways = [("whole", whole), ("without_mask", pruned)]
        for key, model in ways if turn % 2 == 0 else ways[::-1]:
            times[key].append(ms_per_look(model, x, args.looks))
    med = {k: statistics.median(v) for k, v in times.items()}
    raw = whole.path.read_bytes()
    result = {
        "benchmark": "landmark_heads",
        "model": whole.path.name,
        "outputs_dropped": [MASK_OUTPUT],
        "ms_per_look": {k: round(v, 2) for k, v in med.items()},
        "ms_per_look_each_turn": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "without_mask_over_whole": round(med["without_mask"] / med["whole"], 3),
        "operators": {
            "whole": operator_count(raw),
            "without_mask": operator_count(without_outputs(raw, [MASK_OUTPUT])),
        },
        "kept_outputs_identical": bool(same),
        "turns": args.turns,
        "looks_per_turn": args.looks,
        "load_average_before": load_before,
        "load_average_after": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    print("| model | operators | ms per look (median of turns) |")
    print("| --- | --- | --- |")
    for key in times:
        print(f"| {key} | {result['operators'][key]} | {result['ms_per_look'][key]} |")
    print(f"without the mask head / whole: {result['without_mask_over_whole']}; kept outputs")
    print(f"identical: {same}; load {load_before} -> {result['load_average_after']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
