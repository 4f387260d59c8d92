"""Scale and zero point of an int8 quantization, as PyTorch's observers
compute them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _dispatch
from .._validate import integer, real_number
from ..config import kernel_threads

QMIN, QMAX = -128, 127
_EPS = np.finfo(np.float32).eps
_F32_MAX = float(np.finfo(np.float32).max)
_F32 = np.float32


@dataclass(frozen=True)
class QuantParams:
    """Scale and zero point of an int8 quantization.

    Parameters
    ----------
    scale : float > 0 (kept as a float32 value, which must be finite and
        positive with a finite float32 inverse: about 2.9e-39 to 3.4e38)
    zero_point : int in [-128, 127]
    qmin : -128 (affine) or -127 (symmetric: the range is [-127, 127])
    """

    scale: float
    zero_point: int
    qmin: int = QMIN
    # Computed once: a NumPy scalar division costs more than a small quantize.
    _inv_scale: np.float32 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        requested = real_number(self.scale, "scale")
        zero_point = integer(self.zero_point, "zero_point", QMIN, QMAX)
        qmin = integer(self.qmin, "qmin")
        if qmin not in (QMIN, -QMAX):
            raise ValueError(f"qmin must be -128 or -127, got {qmin}")
        # The kernels use the float32 scale and its float32 inverse: check
        # those, not the float64 given (1e-50 rounds to 0, 1e39 to inf, and
        # 1e-45 is a denormal whose inverse overflows).
        with np.errstate(over="ignore", divide="ignore"):
            scale = _F32(requested)
            inv_scale = _F32(1.0) / scale
        if not (math.isfinite(requested) and requested > 0):
            raise ValueError(f"scale must be positive and finite, got {requested}")
        if not (np.isfinite(scale) and scale > 0 and np.isfinite(inv_scale)):
            raise ValueError(f"scale must be positive and finite as a float32 with a finite "
                             f"float32 inverse (about 2.9e-39 to 3.4e38), got {requested}, "
                             f"stored as float32 {float(scale)!r} with inverse "
                             f"{float(inv_scale)!r}")
        object.__setattr__(self, "scale", float(scale))
        object.__setattr__(self, "zero_point", zero_point)
        object.__setattr__(self, "qmin", qmin)
        object.__setattr__(self, "_inv_scale", inv_scale)

    @classmethod
    def from_range(cls, min_val: float, max_val: float) -> QuantParams:
        """PyTorch's ``MinMaxObserver(dtype=torch.qint8)`` params for a range."""
        low, high = real_number(min_val, "min_val"), real_number(max_val, "max_val")
        if math.isnan(low) or math.isnan(high):
            raise ValueError("min_val and max_val must not be NaN")
        if not (abs(low) <= _F32_MAX and abs(high) <= _F32_MAX):
            raise ValueError(f"the range must be finite in float32 (|x| <= {_F32_MAX:.4g}), "
                             f"got [{low}, {high}]")
        if low > high:
            raise ValueError(f"min_val ({low}) must be <= max_val ({high})")
        scales, zero_points = _minmax_params(np.array([low]), np.array([high]))
        return cls(float(scales[0]), int(zero_points[0]))

    @classmethod
    def from_data(cls, data: ArrayLike) -> QuantParams:
        """:meth:`from_range` of the data's min and max (0, 0 when empty)."""
        values = _as_float32(data, "data")
        if values.size == 0:
            return cls.from_range(0.0, 0.0)
        # One read of the data (NumPy's min and max make two), on the kernel threads.
        low, high, has_nan = _dispatch.current_kernels().quantize.minmax(
            np.ravel(values, order="K"), kernel_threads())
        if has_nan:
            raise ValueError("data contains NaN")
        if math.isinf(low) or math.isinf(high):
            raise ValueError("data contains infinity, which has no min-max range; quantize "
                             "with explicit params (quantize_with_params saturates +-inf) "
                             "or calibrate with DynamicQuantizer")
        return cls.from_range(low, high)

    @classmethod
    def symmetric(cls, abs_max: float) -> QuantParams:
        """Zero point 0, ``scale = abs_max / 127``, values in [-127, 127].

        ONNX Runtime's convention (and the spec's).  PyTorch's symmetric
        qint8 observer uses ``abs_max / 127.5`` over [-128, 127] instead.
        """
        abs_max = real_number(abs_max, "abs_max")
        if not 0 <= abs_max <= _F32_MAX:
            raise ValueError(f"abs_max must be >= 0 and finite in float32, got {abs_max}")
        return cls(float(max(_F32(abs_max) / _F32(QMAX), _EPS)), 0, -QMAX)

    @property
    def inv_scale(self) -> np.float32:
        """The float32 ``1 / scale`` the quantizer multiplies by."""
        return self._inv_scale


def _check_params(params: object, name: str = "params") -> None:
    if not isinstance(params, QuantParams):
        raise TypeError(f"{name} must be a QuantParams, got {type(params).__name__}")


def _minmax_params(low: NDArray[Any], high: NDArray[Any], qmin: int = QMIN,
                   qmax: int = QMAX) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """:meth:`QuantParams.from_range` over arrays of finite ranges (float32
    steps), for levels [qmin, qmax]; float32 scales and int32 zero points."""
    low = np.minimum(low, 0).astype(np.float32)
    high = np.maximum(high, 0).astype(np.float32)
    with np.errstate(over="ignore"):
        span = high - low
    # A range wider than float32's (e.g. [-3e38, 3e38]) has a representable
    # scale: take its width in float64 there.  Elsewhere the float32 steps
    # stay, as PyTorch's observers take them.
    wide = np.isinf(span)
    if wide.any():
        span = np.where(wide, np.float32(0), span)
        steps = np.where(wide, (high.astype(np.float64) - low) / (qmax - qmin),
                         span / _F32(qmax - qmin)).astype(np.float32)
    else:
        steps = span / _F32(qmax - qmin)
    scales = np.maximum(steps, _EPS).astype(np.float32)
    zero_points = qmin - np.rint(low / scales).astype(np.int64)
    return scales, np.clip(zero_points, qmin, qmax).astype(np.int32)


def _row_params(rows: NDArray[np.float32], name: str, qmin: int = QMIN,
                qmax: int = QMAX) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """:func:`_minmax_params` of each row's min and max of ``rows`` (float32,
    2-D); NaN or infinity raise ValueError naming ``name``."""
    low, high = rows.min(axis=1), rows.max(axis=1)
    if np.isnan(low).any() or np.isnan(high).any():
        raise ValueError(f"NaN in {name} has no quantized value")
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(f"{name} must be finite")
    return _minmax_params(low, high, qmin, qmax)


def _as_float32(data: ArrayLike, name: str) -> NDArray[np.float32]:
    array = np.asarray(data)
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)
