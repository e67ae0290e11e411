"""A TFLite model without the operators that only some of its outputs need.

The Pose landmark model computes a 256² person mask beside its landmarks; a look that
wants the landmarks alone (the mirror look, the crop pass's plain look) would pay for
the mask's decoder anyway: a third of the model's time on one core
(``benchmarks/landmark_heads.py``: 15.2 → 10.1 ms a look; docs/throughput.md).
Dropping the operators that feed only the unwanted outputs leaves every kept output
computed by the same operators on the same weights, so they come out the same to the bit
(``tests/test_tflite_prune.py``).

The flatbuffer is read and written with the schema LiteRT ships
(``ai_edge_litert.schema_py_generated``) and ``flatbuffers``; nothing is written to disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class PruneError(ValueError):
    """The model cannot be pruned as asked (an output it does not have, or none left)."""


def _schema() -> Any:
    """LiteRT's generated flatbuffer schema (a module)."""
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def can_prune() -> bool:
    """Whether this environment can rewrite a model (LiteRT's schema and ``flatbuffers``
    importable; both come with ``ai-edge-litert``)."""
    try:
        _schema()
        import flatbuffers  # noqa: F401
    except ImportError:
        return False
    return True


def without_outputs(model_bytes: bytes, drop: Iterable[str]) -> bytes:
    """The model (a ``.tflite`` file's bytes) whose outputs named in ``drop`` are gone,
    with every operator that only they needed.

    Only the first subgraph (the model's main graph) is pruned; tensors and weights stay
    (unused, they cost file size, not time). Raises :class:`PruneError` when a name in
    ``drop`` is not one of its outputs or no output would be left.
    """
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    graph = model.subgraphs[0]
    names = {index: graph.tensors[index].name.decode() for index in graph.outputs}
    drop = set(drop)
    unknown = drop - set(names.values())
    if unknown:
        raise PruneError(f"no output named {sorted(unknown)} (outputs: {sorted(names.values())})")
    kept = [index for index in graph.outputs if names[index] not in drop]
    if not kept:
        raise PruneError("every output would be dropped")
    graph.operators = [graph.operators[k] for k in sorted(_operators_needed(graph, kept))]
    graph.outputs = kept
    builder = flatbuffers.Builder(len(model_bytes))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _operators_needed(graph: Any, outputs: list[int]) -> set[int]:
    """The indices of the operators of ``graph`` (a ``SubGraphT``) that ``outputs`` (tensor
    indices) depend on."""
    producer = {tensor: k for k, op in enumerate(graph.operators) for tensor in op.outputs}
    needed: set[int] = set()
    stack = list(outputs)
    while stack:
        k = producer.get(stack.pop())
        if k is not None and k not in needed:
            needed.add(k)
            stack.extend(t for t in graph.operators[k].inputs if t >= 0)  # -1: optional
    return needed
