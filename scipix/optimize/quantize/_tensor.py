"""Per-tensor and per-channel int8 quantization, calibration and metrics."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .. import _dispatch
from .._validate import integer, output_array, real_number, shape_tuple, unaliased
from ..config import kernel_threads
if TYPE_CHECKING:
    from ..memory import MmapModel
from ._params import QMAX, QMIN, QuantParams, _as_float32, _check_params, _row_params


def _flat(array: NDArray[Any]) -> tuple[NDArray[Any], Literal["C", "F"]]:
    """(1-D view, order) of a C- or F-contiguous array; a C copy otherwise."""
    if array.flags.c_contiguous:
        return array.reshape(-1), "C"
    if array.flags.f_contiguous:
        return array.reshape(-1, order="F"), "F"
    return np.ascontiguousarray(array).reshape(-1), "C"


def _check_out(out: NDArray[Any], shape: tuple[int, ...], dtype: DTypeLike,
               order: str) -> NDArray[Any]:
    output_array(out, shape, dtype)
    contiguous = out.flags.c_contiguous if order == "C" else out.flags.f_contiguous
    if not contiguous:
        raise ValueError(f"out must be {order}-contiguous like the input")
    return out


def _flat_pair(source: NDArray[Any], out: NDArray[Any] | None,
               dtype: DTypeLike) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """``(flat source, flat out, out)``: ``out`` made (or checked) with the
    shape and memory order of ``source``, both as 1-D views; the source is
    copied when it overlaps ``out`` (the kernels read and write in parallel
    spans, so a shared byte could be written before it is read)."""
    flat, order = _flat(source)
    if out is None:
        out = np.empty(source.shape, dtype, order=order)
    else:
        out = _check_out(out, source.shape, dtype, order)
    flat_out = out.reshape(-1) if order == "C" else out.reshape(-1, order="F")
    return unaliased(flat, flat_out), flat_out, out



def quantize_with_params(data: ArrayLike, params: QuantParams, *,
                         out: NDArray[np.int8] | None = None) -> NDArray[np.int8]:
    """Quantize ``data`` (any shape; float32, other floats are converted)
    with ``params``; int8 of the same shape and memory order."""
    _check_params(params)
    flat, flat_out, out = _flat_pair(_as_float32(data, "data"), out, np.int8)
    kernels = _dispatch.current_kernels().quantize
    kernels.quantize(flat, flat_out, params.inv_scale, params.zero_point, params.qmin, QMAX,
                     kernel_threads())
    return out


def quantize_weights(weights: ArrayLike) -> tuple[NDArray[np.int8], QuantParams]:
    """``(q, params)``: int8 weights and their :meth:`QuantParams.from_data`."""
    params = QuantParams.from_data(weights)
    return quantize_with_params(weights, params), params


def quantize_value(value: float, params: QuantParams) -> int:
    """One value, as :func:`quantize_with_params`; an int."""
    return int(quantize_with_params(np.array([value], np.float32), params)[0])


def dequantize(quantized: ArrayLike, params: QuantParams, *,
               out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
    """``(float(q) - zero_point) * scale`` as float32, same shape and order."""
    _check_params(params)
    q = np.asarray(quantized)
    if q.dtype != np.int8:
        raise TypeError(f"quantized must have dtype int8, got {q.dtype}")
    flat, flat_out, out = _flat_pair(q, out, np.float32)
    kernels = _dispatch.current_kernels().quantize
    kernels.dequantize(flat, flat_out, params.scale, params.zero_point, kernel_threads())
    return out


def dequantize_value(quantized: int, params: QuantParams) -> float:
    """One int8 value back to a float."""
    return float(dequantize(np.array([quantized], np.int8), params)[0])


def _shaped(data: ArrayLike, shape: Sequence[int]) -> NDArray[np.float32]:
    values = _as_float32(data, "data")
    shape = shape_tuple(shape)
    if math.prod(shape) != values.size:
        raise ValueError(f"shape {shape} holds {math.prod(shape)} values, data has {values.size}")
    if values.size == 0:
        raise ValueError("data is empty: a zero-size tensor has nothing to quantize")
    return values.reshape(shape)


class QuantizedTensor:
    """An int8 tensor with its :class:`QuantParams`.

    Attributes
    ----------
    data : int8 ndarray of ``shape``
    shape : tuple
    params : QuantParams
    """

    def __init__(self, data: NDArray[np.int8], params: QuantParams,
                 model: MmapModel | None = None) -> None:
        self.data = data
        self.shape = data.shape
        self.params = params
        self._model = model  # the MmapModel a loaded tensor lives in
        self._mapped_data = data if model is not None else None

    @classmethod
    def from_f32(cls, data: ArrayLike, shape: Sequence[int]) -> QuantizedTensor:
        """Quantize ``data`` (reshaped to ``shape``) with min-max params."""
        values = _shaped(data, shape)
        params = QuantParams.from_data(values)
        return cls(quantize_with_params(values, params), params)

    @classmethod
    def from_f32_symmetric(cls, data: ArrayLike, shape: Sequence[int]) -> QuantizedTensor:
        """Quantize with :meth:`QuantParams.symmetric` of the data's abs max."""
        values = _shaped(data, shape)
        if np.isnan(values).any():
            raise ValueError("data contains NaN")
        params = QuantParams.symmetric(float(np.abs(values).max()))
        return cls(quantize_with_params(values, params), params)

    def to_f32(self) -> NDArray[np.float32]:
        """Dequantized float32 array of ``shape``."""
        return dequantize(self.data, self.params)

    def size_bytes(self) -> int:
        """Bytes of int8 data (the params are 8 bytes more)."""
        return int(self.data.nbytes)

    def compression_ratio(self) -> float:
        """float32 bytes over int8 bytes: 4."""
        return 4 * self.data.size / self.size_bytes()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a safetensors file: ``data`` (I8), ``scale`` (F32), ``zero_point`` (I32).

        Written under a temporary name in the same folder, then moved over
        ``path``: tensors loaded from a file already there keep reading its
        old contents.
        """
        from ..memory._safetensors import write
        write(path, {"data": self.data,
                     "scale": np.array([self.params.scale], np.float32),
                     "zero_point": np.array([self.params.zero_point], np.int32)},
              metadata={"format": "scipix.QuantizedTensor", "qmin": str(self.params.qmin)})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QuantizedTensor:
        """Map a file written by :meth:`save`; ``data`` is a read-only
        zero-copy view of the file (kept mapped while the tensor lives).

        Such a tensor pickles by path, as :class:`~scipix.optimize.memory.MmapModel`:
        unpickling maps the file again.
        """
        from ..memory import MmapModel
        return cls._of_model(MmapModel.from_file(path))

    @classmethod
    def _of_model(cls, model: MmapModel) -> QuantizedTensor:
        """The tensor a :meth:`save` file holds; any format error is a
        ValueError naming the file."""
        try:
            data, scale, zero_point = (model.tensor(name)
                                       for name in ("data", "scale", "zero_point"))
        except KeyError as exc:
            raise ValueError(f"{model.path}: not a QuantizedTensor file ({exc})") from None
        if data.dtype != np.int8:
            raise ValueError(f"{model.path}: data must be I8, got {data.dtype}")
        for name, values in (("scale", scale), ("zero_point", zero_point)):
            if values.size != 1 or values.dtype.kind not in "iuf":
                raise ValueError(f"{model.path}: {name} must be one number, got "
                                 f"{values.dtype} of shape {values.shape}")
        try:
            params = QuantParams(float(scale.flat[0]), int(zero_point.flat[0]),
                                 int(model.metadata.get("qmin", QMIN)))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{model.path}: not a valid QuantizedTensor file: {exc}") from None
        return cls(data, params, model)

    def __reduce__(self) -> tuple[Any, ...]:
        # A tensor still holding the data it was loaded with travels as its
        # file; anything else as its values.
        model = self._model
        if model is not None and not model.closed and self.data is self._mapped_data:
            return QuantizedTensor._of_model, (model,)
        return QuantizedTensor, (self.data, self.params)

    def __repr__(self) -> str:
        return f"QuantizedTensor(shape={self.shape}, {self.params})"


class PerChannelQuant:
    """One scale / zero point per slice along ``axis``, as
    ``torch.quantize_per_channel`` with the same params.

    Attributes
    ----------
    data : int8 ndarray of ``shape``
    scales : float32 ndarray, (shape[axis],)
    zero_points : int32 ndarray, (shape[axis],)
    axis : int
    """

    def __init__(self, data: NDArray[np.int8], scales: NDArray[np.float32],
                 zero_points: NDArray[np.int32], axis: int) -> None:
        self.data, self.scales, self.zero_points, self.axis = data, scales, zero_points, axis
        self.shape = data.shape

    @classmethod
    def from_f32(cls, weights: ArrayLike, shape: Sequence[int], axis: int = 0) -> PerChannelQuant:
        values = _shaped(weights, shape)
        axis = integer(axis, "axis")
        if not -values.ndim <= axis < values.ndim:
            raise ValueError(f"axis {axis} is out of range for {values.ndim}-D shape {shape}")
        axis %= values.ndim
        rows = np.ascontiguousarray(np.moveaxis(values, axis, 0)).reshape(values.shape[axis], -1)
        scales, zero_points = _row_params(rows, "weights")
        q = np.empty(rows.shape, np.int8)
        kernels = _dispatch.current_kernels().quantize
        kernels.quantize_rows(rows, q, np.float32(1) / scales, zero_points, QMIN, QMAX,
                              kernel_threads())
        moved_shape = (values.shape[axis],) + tuple(np.delete(values.shape, axis))
        data = np.ascontiguousarray(np.moveaxis(q.reshape(moved_shape), 0, axis))
        return cls(data, scales, zero_points, axis)

    def params(self, channel: int) -> QuantParams:
        """The :class:`QuantParams` of one channel."""
        return QuantParams(float(self.scales[channel]), int(self.zero_points[channel]))

    def to_f32(self) -> NDArray[np.float32]:
        """Dequantized float32 array of ``shape``: per channel
        ``(float(q) - zero_point) * scale`` in float32, as :func:`dequantize`."""
        along = [1] * self.data.ndim
        along[self.axis] = -1
        zero_points = self.zero_points.astype(np.float32).reshape(along)
        return (self.data.astype(np.float32) - zero_points) * self.scales.reshape(along)

    def size_bytes(self) -> int:
        return int(self.data.nbytes + self.scales.nbytes + self.zero_points.nbytes)


class DynamicQuantizer:
    """Min-max quantization on a percentile range, clipping outliers.

    The range is ``[p_low, p_high]`` with ``p_high`` the ``percentile``-th
    percentile of the values and ``p_low`` the ``100 - percentile``-th (99.99
    clips the top and the bottom 0.01 %), found by selection
    (``numpy.partition``, linear time) rather than a full sort.  ONNX
    Runtime's percentile calibrator takes the percentile of ``|x|`` over a
    histogram and sets a symmetric range; this keeps both tails apart.

    Parameters
    ----------
    percentile : float in (50, 100]
    """

    def __init__(self, percentile: float) -> None:
        percentile = real_number(percentile, "percentile")
        if not 50 < percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile

    def range_of(self, data: ArrayLike) -> tuple[float, float]:
        """``(low, high)`` calibrated from ``data``."""
        values = _as_float32(data, "data").reshape(-1)
        if values.size == 0:
            raise ValueError("data is empty")
        if np.isnan(values).any():
            raise ValueError("data contains NaN")
        tail = int(round((100.0 - self.percentile) / 100.0 * (values.size - 1)))
        low_rank, high_rank = tail, values.size - 1 - tail
        picked = np.partition(values, (low_rank, high_rank))
        return float(picked[low_rank]), float(picked[high_rank])

    def quantize(self, data: ArrayLike) -> tuple[NDArray[np.int8], QuantParams]:
        """``(q, params)`` with values outside the range saturated."""
        params = QuantParams.from_range(*self.range_of(data))
        return quantize_with_params(data, params), params


def _error_terms(original: ArrayLike, quantized: ArrayLike,
                 params: QuantParams) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    signal = _as_float32(original, "original").astype(np.float64)
    restored = dequantize(quantized, params).astype(np.float64)
    if signal.shape != restored.shape:
        raise ValueError(f"original {signal.shape} and quantized {restored.shape} differ in shape")
    return signal, restored - signal


def quantization_error(original: ArrayLike, quantized: ArrayLike, params: QuantParams) -> float:
    """Mean squared error of the dequantized values, in float64."""
    _, noise = _error_terms(original, quantized, params)
    return float(np.mean(noise * noise)) if noise.size else 0.0


def sqnr(original: ArrayLike, quantized: ArrayLike, params: QuantParams) -> float:
    """Signal-to-quantization-noise ratio in dB (float64); ``inf`` when the
    noise is 0."""
    signal, noise = _error_terms(original, quantized, params)
    noise_power = float(np.sum(noise * noise))
    if noise_power == 0:
        return math.inf
    return 10.0 * math.log10(float(np.sum(signal * signal)) / noise_power)
