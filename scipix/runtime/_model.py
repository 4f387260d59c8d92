"""A model on ONNX Runtime: sessions in one of two execution shapes, inputs
checked against the model, outputs written into reused buffers."""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..optimize._validate import positive_int
from ._errors import InputError, ModelError, ModelLoadError, RuntimeClosed
from ._options import default_threads, session_options

__all__ = ["Model", "TensorSpec", "EXECUTIONS"]

EXECUTIONS = ("shared", "pool")
# ONNX element types as ONNX Runtime names them -> NumPy.
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(double)": np.float64, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
           "tensor(int16)": np.int16, "tensor(uint16)": np.uint16,
           "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}
# Input shapes whose output buffers a session keeps (the oldest is dropped).
OUTPUT_SHAPES_KEPT = 32
Feeds = Union[np.ndarray, Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as the model declares it.

    Attributes
    ----------
    name : str
    shape : tuple of int or None
        None where the dimension is dynamic (symbolic or unknown).
    dtype : numpy.dtype or None
        None for an element type scipix does not map.
    """

    name: str
    shape: Tuple[Optional[int], ...]
    dtype: Optional[np.dtype]

    @classmethod
    def of(cls, node: Any) -> "TensorSpec":
        shape = tuple(d if isinstance(d, int) and d > 0 else None for d in (node.shape or ()))
        dtype = _DTYPES.get(node.type)
        return cls(node.name, shape, None if dtype is None else np.dtype(dtype))

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype} ({dims})"


class _Slot:
    """One session, its IO binding and its reused output buffers.

    Used by one thread at a time (a slot is taken from the model's free
    list for each run), so its buffers need no lock.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.binding = session.io_binding()
        # (input shapes) -> output buffers, for runs whose caller gave none.
        self.outputs: Dict[Tuple[Tuple[int, ...], ...], List[np.ndarray]] = {}
        # Buffers a batcher keeps on this slot (see BatchedModel).
        self.scratch: Dict[Any, Any] = {}


class Model:
    """An ONNX model served by ONNX Runtime on the CPU, set up right by default.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.onnx`` file.
    execution : {"pool", "shared"}
        ``"shared"``: one session on ``threads`` intra-op threads, runs
        one after another (large inputs: detectors).  ``"pool"``:
        ``threads`` single-threaded sessions, up to ``threads`` runs at
        once, each on its caller's thread (many small inputs: recognizers,
        classifiers; independent runs need no barrier between threads).
        :func:`choose_execution` measures which is faster for an input.
    threads : int >= 1, optional
        Cores the model uses; default :func:`default_threads` (scipix's
        thread count, so ONNX Runtime and scipix's kernels never together
        ask for more than it).
    optimization : str
        Graph optimization level (see :func:`session_options`).
    configure : callable, SessionOptions -> None, optional
        Changes any other session option (see :func:`session_options`).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModelLoadError
        ONNX Runtime cannot load it (not an ONNX model, unsupported operator).

    Notes
    -----
    :meth:`run` binds the input arrays themselves (no copy when they are
    C-contiguous and of the model's dtype) and writes outputs into ``out``
    when given, or else into buffers the session keeps per input shape: a
    steady stream of runs allocates no tensors.  Close the model (or use
    it as a context manager) to free its sessions.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], *, execution: str = "pool",
                 threads: Optional[int] = None, optimization: str = "all",
                 configure: Optional[Callable[[Any], None]] = None) -> None:
        import onnxruntime as ort

        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        if execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
        self.execution = execution
        self.threads = default_threads() if threads is None else positive_int(threads, "threads")
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"model {self.path!r} does not exist (or is not a file)")
        sessions = 1 if execution == "shared" else self.threads
        options = session_options(self.threads if execution == "shared" else 1,
                                  optimization=optimization, configure=configure)
        try:
            made = [ort.InferenceSession(self.path, sess_options=options,
                                         providers=["CPUExecutionProvider"])
                    for _ in range(sessions)]
        except Exception as exc:
            raise ModelLoadError(f"ONNX Runtime cannot load {self.path!r} as an ONNX model: "
                                 f"{exc}") from exc
        self.inputs = [TensorSpec.of(node) for node in made[0].get_inputs()]
        self.outputs = [TensorSpec.of(node) for node in made[0].get_outputs()]
        self.metadata: Dict[str, str] = dict(made[0].get_modelmeta().custom_metadata_map)
        self._slots = [_Slot(session) for session in made]
        self._free = list(self._slots)
        self._available = threading.Condition()
        self._closed = False

    # ------------------------------------------------------------ running

    @property
    def concurrency(self) -> int:
        """Runs the model does at once: its number of sessions."""
        return len(self._slots)

    def run(self, feeds: Feeds, *, out: Optional[Sequence[np.ndarray]] = None
            ) -> List[np.ndarray]:
        """Run the model once; thread-safe (callers wait for a free session).

        Parameters
        ----------
        feeds : ndarray or mapping of str to ndarray
            The inputs by name; a single array for a one-input model.
            Dtype and rank as the model declares, fixed dimensions equal.
        out : sequence of ndarray, optional
            One C-contiguous array per output, of the shape and dtype the
            model produces for these inputs (:meth:`output_shapes`): the
            outputs are written there and ``out`` is returned.

        Returns
        -------
        list of ndarray
            Without ``out``, new arrays (copies of the session's reused
            output buffers).

        Raises
        ------
        InputError, ModelError, RuntimeClosed
        """
        arrays = self.check_feeds(feeds)
        slot = self._acquire()
        try:
            outputs = self.run_on(slot, arrays, out)
            return list(outputs) if out is not None else [o.copy() for o in outputs]
        finally:
            self._release(slot)

    def output_shapes(self, feeds: Feeds) -> List[Tuple[int, ...]]:
        """The outputs' shapes for inputs like ``feeds`` (found by one run,
        then known for that input shape)."""
        arrays = self.check_feeds(feeds)
        slot = self._acquire()
        try:
            return [o.shape for o in self.run_on(slot, arrays, None)]
        finally:
            self._release(slot)

    def check_feeds(self, feeds: Feeds) -> List[np.ndarray]:
        """The inputs in the model's order, C-contiguous; InputError naming
        the model and input for anything the model would refuse."""
        if isinstance(feeds, np.ndarray):
            if len(self.inputs) != 1:
                raise InputError(f"model {self.name!r} has {len(self.inputs)} inputs "
                                 f"({', '.join(s.name for s in self.inputs)}): pass a mapping")
            feeds = {self.inputs[0].name: feeds}
        if not isinstance(feeds, Mapping):
            raise TypeError(f"feeds must be an ndarray or a mapping of input names to arrays, "
                            f"got {type(feeds).__name__}")
        unknown = set(feeds) - {spec.name for spec in self.inputs}
        if unknown:
            raise InputError(f"model {self.name!r} has no input {sorted(unknown)[0]!r} "
                             f"(inputs: {', '.join(s.name for s in self.inputs)})")
        arrays = []
        for spec in self.inputs:
            if spec.name not in feeds:
                raise InputError(f"model {self.name!r}: input {spec.name!r} is missing")
            arrays.append(self.check_input(spec, feeds[spec.name]))
        return arrays

    def check_input(self, spec: TensorSpec, array: Any) -> np.ndarray:
        """``array`` as input ``spec``, C-contiguous (copied only if it is not)."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"model {self.name!r}: input {spec.name!r} must be an ndarray, "
                            f"got {type(array).__name__}")
        wrong_dtype = spec.dtype is not None and array.dtype != spec.dtype
        wrong_rank = len(spec.shape) != array.ndim
        wrong_dims = not wrong_rank and any(
            d is not None and d != n for d, n in zip(spec.shape, array.shape))
        if wrong_dtype or wrong_rank or wrong_dims:
            raise InputError(f"model {self.name!r}: input {spec.name!r} must be "
                             f"{spec.describe()}, got {array.dtype} {array.shape}")
        return np.ascontiguousarray(array)

    def run_on(self, slot: _Slot, arrays: Sequence[np.ndarray],
               out: Optional[Sequence[np.ndarray]]) -> Sequence[np.ndarray]:
        """Run on ``slot`` (taken with :meth:`_acquire`) with checked inputs;
        the outputs: ``out``, or the slot's buffers for these input shapes
        (valid until the slot's next run)."""
        key = tuple(a.shape for a in arrays)
        if out is None:
            out = slot.outputs.get(key)
        elif len(out) != len(self.outputs):
            raise ValueError(f"out must hold {len(self.outputs)} arrays (model "
                             f"{self.name!r}'s outputs), got {len(out)}")
        binding = slot.binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        for spec, array in zip(self.inputs, arrays):
            binding.bind_input(spec.name, "cpu", 0, array.dtype, array.shape,
                               array.ctypes.data)
        if out is not None:
            for spec, array in zip(self.outputs, out):
                if not (isinstance(array, np.ndarray) and array.flags.c_contiguous
                        and array.flags.writeable):
                    raise ValueError(f"out[{spec.name!r}] must be a writeable C-contiguous "
                                     f"ndarray")
                binding.bind_output(spec.name, "cpu", 0, array.dtype, array.shape,
                                    array.ctypes.data)
        else:
            for spec in self.outputs:
                binding.bind_output(spec.name, "cpu")
        try:
            slot.session.run_with_iobinding(binding)
        except Exception as exc:
            shapes = ", ".join(f"{s.name} {a.dtype} {a.shape}"
                               for s, a in zip(self.inputs, arrays))
            raise ModelError(f"model {self.name!r} failed on inputs {shapes}: {exc}") from exc
        if out is None:
            # The first run of this input shape: ONNX Runtime allocated the
            # outputs; they become this shape's reused buffers.
            if len(slot.outputs) >= OUTPUT_SHAPES_KEPT:
                del slot.outputs[next(iter(slot.outputs))]
            out = slot.outputs[key] = [value.numpy() for value in binding.get_outputs()]
        return out

    # ------------------------------------------------------------ sessions

    def _acquire(self) -> _Slot:
        with self._available:
            while not self._free and not self._closed:
                self._available.wait()
            if self._closed:
                raise RuntimeClosed(f"model {self.name!r} is closed")
            return self._free.pop()

    def _release(self, slot: _Slot) -> None:
        with self._available:
            self._free.append(slot)
            self._available.notify()

    def close(self) -> None:
        """Refuse new runs, wait for the runs in progress, free the sessions."""
        with self._available:
            self._closed = True
            self._available.notify_all()
            while len(self._free) < len(self._slots):
                self._available.wait()
            self._free.clear()
            self._slots.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Model({self.path!r}, execution={self.execution!r}, threads={self.threads}"
                f"{', closed' if self._closed else ''})")
