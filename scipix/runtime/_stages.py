"""Models run one after another, the stages overlapped, no item lost to an error."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, List, Optional

from ..optimize.parallel import Pipeline

__all__ = ["StagePipeline", "StageResult"]


@dataclass
class StageResult:
    """One input's way through a :class:`StagePipeline`.

    Attributes
    ----------
    index : int
        The input's position.
    value : any
        The last stage's result; the input itself, or the last good
        stage's result, when ``error`` is set.
    error : BaseException or None
        What a stage raised for this input; the later stages skipped it.
    stage : int or None
        1-based number of the stage that raised.
    """

    index: int
    value: Any
    error: Optional[BaseException] = None
    stage: Optional[int] = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Guarded:
    """A stage that records an item's exception instead of stopping the pipeline."""

    def __init__(self, number: int, fn: Callable[[Any], Any]) -> None:
        self.number = number
        self.fn = fn

    def __call__(self, result: StageResult) -> StageResult:
        if result.error is None:
            try:
                result.value = self.fn(result.value)
            except Exception as exc:
                result.error, result.stage = exc, self.number
        return result


class StagePipeline:
    """Stages (e.g. detector, crops, recognizer) applied to a stream of
    inputs, each stage on its own thread, bounded queues between them.

    Stage k works on input i while stage k - 1 works on input i + 1, so
    stages that release the GIL (ONNX Runtime, scipix kernels) keep the
    cores busy together.  An ``Exception`` a stage raises ends that input's
    way only: its :class:`StageResult` carries the error and every other
    input goes on (a ``KeyboardInterrupt`` still stops the pipeline).

    Parameters
    ----------
    *stages : callable
        Each takes the previous stage's result (the first: an input).
    queue_size : int >= 1
        Results waiting between two stages; at most
        ``len(stages) * (queue_size + 1)`` inputs are in flight.
    """

    def __init__(self, *stages: Callable[[Any], Any], queue_size: int = 1) -> None:
        if not stages:
            raise ValueError("a StagePipeline needs at least one stage")
        for number, stage in enumerate(stages, 1):
            if not callable(stage):
                raise TypeError(f"stage {number} must be callable, got {type(stage).__name__}")
        guarded: List[Callable[[Any], Any]] = [_Guarded(n, s) for n, s in enumerate(stages, 1)]
        self._pipeline = Pipeline(*guarded, queue_size=queue_size)

    def stream(self, inputs: Iterable[Any]) -> Iterator[StageResult]:
        """One :class:`StageResult` per input, in input order, as they finish."""
        return self._pipeline.stream(StageResult(i, value) for i, value in enumerate(inputs))

    def run(self, inputs: Iterable[Any]) -> List[StageResult]:
        """:meth:`stream`, collected."""
        return list(self.stream(inputs))
