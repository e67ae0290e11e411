"""The TFLite side of :mod:`hpt_data.perception.people`: a model file of the mediapipe
wheel run by LiteRT (``ai-edge-litert``; ``tflite-runtime`` where that is installed), and
the error naming a missing or unusable file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from hpt_data.errors import HptError


class PerceptionModelError(HptError):
    """A model file is missing, unreadable or not the model expected."""


def mediapipe_model_path(relative: str) -> Path:
    """A model file shipped inside the installed ``mediapipe`` wheel (not imported: its
    package would load the whole framework)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise PerceptionModelError(
            f"mediapipe is not installed: {relative} ships in its wheel (pip install 'hpt[data]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise PerceptionModelError(
                "no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime)"
            ) from None
    return Interpreter


class TfliteModel:
    """One ``.tflite`` file behind an interpreter: ``run(x)`` gives its outputs by name order.

    Raises :class:`PerceptionModelError` naming the file when it is missing, is not a
    TFLite model, or does not take ``input_shape``.
    """

    def __init__(
        self,
        path: Path,
        input_shape: tuple[int, ...],
        threads: int = 1,
        content: bytes | None = None,
    ) -> None:
        """``content``: the model's bytes as they are to run (:meth:`without`'s pruned
        graph); ``path`` is then the file they came from, named in errors."""
        from hpt_data.native_logs import quiet_native_logs

        self.path = Path(path)
        self.input_shape = input_shape
        self.threads = threads
        if content is None and not self.path.is_file():
            raise PerceptionModelError(f"{self.path}: model file not found")
        interpreter = _interpreter_class()
        source = {"model_path": str(self.path)} if content is None else {"model_content": content}
        try:
            with quiet_native_logs():
                self._it = interpreter(**source, num_threads=threads)
                self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"{self.path}: not a usable TFLite model ({first})"
            raise PerceptionModelError(msg) from None
        inp = self._it.get_input_details()
        if len(inp) != 1 or tuple(inp[0]["shape"]) != input_shape:
            got = [tuple(d["shape"]) for d in inp]
            raise PerceptionModelError(f"{self.path}: expected input {input_shape}, got {got}")
        self._input = inp[0]["index"]
        outs = sorted(self._it.get_output_details(), key=lambda d: d["name"])
        self._outputs = [d["index"] for d in outs]
        self.output_names: tuple[str, ...] = tuple(d["name"] for d in outs)
        self._pruned: dict[frozenset[str], TfliteModel] = {}

    def without(self, *names: str) -> TfliteModel:
        """The same model without the outputs ``names`` and the operators only they need
        (:mod:`~hpt_data.perception.tflite_prune`): the kept outputs to the bit, sooner.
        Built once per model and set of names. Where LiteRT's schema is missing
        (``tflite-runtime``) it is this model itself, whose outputs include those."""
        from hpt_data.perception.tflite_prune import PruneError, can_prune, without_outputs

        key = frozenset(names)
        if key not in self._pruned:
            if not can_prune():
                self._pruned[key] = self
            else:
                try:
                    content = without_outputs(self.path.read_bytes(), key)
                except PruneError as exc:
                    raise PerceptionModelError(f"{self.path}: {exc}") from None
                self._pruned[key] = TfliteModel(self.path, self.input_shape, self.threads, content)
        return self._pruned[key]

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """The outputs in name order (``Identity``, ``Identity_1``, ...)."""
        self._it.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()
        return [self._it.get_tensor(i) for i in self._outputs]

    def run_named(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every output by its name (a pruned model's indices are not the whole one's)."""
        return dict(zip(self.output_names, self.run(x), strict=True))
