"""Scale and zero point of an int8 quantization, as PyTorch's observers
compute them."""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _dispatch
from ..config import kernel_threads

QMIN, QMAX = -128, 127
_EPS = np.finfo(np.float32).eps
_F32 = np.float32


@dataclass(frozen=True)
class QuantParams:
    """Scale and zero point of an int8 quantization.

    Parameters
    ----------
    scale : float > 0, finite (kept as a float32 value)
    zero_point : int in [-128, 127]
    qmin : -128 (affine) or -127 (symmetric: the range is [-127, 127])
    """

    scale: float
    zero_point: int
    qmin: int = QMIN
    # Computed once: a NumPy scalar division costs more than a small quantize.
    _inv_scale: np.float32 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float, np.floating)):
            raise TypeError(f"scale must be a number, got {type(self.scale).__name__}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be positive and finite, got {self.scale}")
        try:
            zero_point = operator.index(self.zero_point)
        except TypeError:
            raise TypeError(f"zero_point must be an int, "
                            f"got {type(self.zero_point).__name__}") from None
        if not QMIN <= zero_point <= QMAX:
            raise ValueError(f"zero_point must be in [-128, 127], got {zero_point}")
        if self.qmin not in (QMIN, -QMAX):
            raise ValueError(f"qmin must be -128 or -127, got {self.qmin}")
        object.__setattr__(self, "scale", float(_F32(self.scale)))
        object.__setattr__(self, "zero_point", int(zero_point))
        object.__setattr__(self, "_inv_scale", _F32(1.0) / _F32(self.scale))

    @classmethod
    def from_range(cls, min_val: float, max_val: float) -> QuantParams:
        """PyTorch's ``MinMaxObserver(dtype=torch.qint8)`` params for a range."""
        low, high = float(min_val), float(max_val)
        if math.isnan(low) or math.isnan(high):
            raise ValueError("min_val and max_val must not be NaN")
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"the range must be finite, got [{low}, {high}]")
        if low > high:
            raise ValueError(f"min_val ({low}) must be <= max_val ({high})")
        low32, high32 = _F32(min(low, 0.0)), _F32(max(high, 0.0))
        scale = max(_F32(high32 - low32) / _F32(QMAX - QMIN), _EPS)
        zero_point = QMIN - int(np.rint(low32 / scale))
        return cls(float(scale), min(max(zero_point, QMIN), QMAX))

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
        return cls.from_range(low, high)

    @classmethod
    def symmetric(cls, abs_max: float) -> QuantParams:
        """Zero point 0, ``scale = abs_max / 127``, values in [-127, 127].

        ONNX Runtime's convention (and the spec's).  PyTorch's symmetric
        qint8 observer uses ``abs_max / 127.5`` over [-128, 127] instead.
        """
        abs_max = float(abs_max)
        if not (math.isfinite(abs_max) and abs_max >= 0):
            raise ValueError(f"abs_max must be finite and >= 0, got {abs_max}")
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
    """:meth:`QuantParams.from_range` over arrays of ranges (float32 steps),
    for levels [qmin, qmax]; float32 scales and int32 zero points."""
    low = np.minimum(low, 0).astype(np.float32)
    high = np.maximum(high, 0).astype(np.float32)
    scales = np.maximum((high - low) / _F32(qmax - qmin), _EPS).astype(np.float32)
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
