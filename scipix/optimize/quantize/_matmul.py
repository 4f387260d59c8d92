"""INT8 matrix products: int8 operands, int32 sums, float32 results.

The kernel multiplies unsigned 8-bit activations by signed 8-bit weights
(the operand order of VNNI's ``vpdpbusd`` and of ``vpmaddubsw``), sums in
int32 and applies the zero points in int64, so every sum is exact; only the
final ``float32(sum) * scale + bias`` rounds.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _dispatch
from ..config import kernel_threads
from ..cpu import get_features
from ._params import _EPS, QuantParams, _as_float32, _check_params, _row_params

MAX_INNER = 65536  # 255 * 128 * MAX_INNER < 2**31: int32 sums cannot overflow


def _int8_matrix(array: object, name: str) -> NDArray[np.int8]:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(array).__name__}")
    if array.dtype != np.int8:
        raise TypeError(f"{name} must have dtype int8, got {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    return array


def _check_inner(inner: int, name: str) -> None:
    if inner == 0:
        raise ValueError(f"{name} must be positive: there is nothing to sum")
    if inner > MAX_INNER:
        raise ValueError(f"{name} must be at most {MAX_INNER} for exact int32 sums, got {inner}")


def _row_sums(matrix: NDArray[np.int8]) -> NDArray[np.int32]:
    sums: NDArray[np.int32] = matrix.sum(axis=1, dtype=np.int64).astype(np.int32)
    return sums


def quantized_matmul(a_q: NDArray[np.int8], a_params: QuantParams, b_q: NDArray[np.int8],
                     b_params: QuantParams) -> NDArray[np.float32]:
    """``dequantize(a) @ dequantize(b)`` computed on the int8 values.

    Parameters
    ----------
    a_q : int8 ndarray, shape (m, k)
    a_params : QuantParams of ``a_q``
    b_q : int8 ndarray, shape (k, n); a transposed view of a C-contiguous
        (n, k) array is used as is, any other layout is copied once
    b_params : QuantParams of ``b_q``

    Returns
    -------
    float32 ndarray, shape (m, n):
    ``float32(sum_k (a - a_zero)(b - b_zero)) * (float32(a_scale) * float32(b_scale))``,
    the sum exact (k <= 65536).
    """
    a_q, b_q = _int8_matrix(a_q, "a_q"), _int8_matrix(b_q, "b_q")
    _check_params(a_params, "a_params")
    _check_params(b_params, "b_params")
    (m, k), n = a_q.shape, b_q.shape[1]
    if b_q.shape[0] != k:
        raise ValueError(f"inner dimensions differ: a_q is {a_q.shape}, b_q is {b_q.shape}")
    _check_inner(k, "the inner dimension")
    # a + 128 as uint8 (zero point + 128): the kernel's unsigned operand.
    a_u = np.bitwise_xor(a_q.view(np.uint8), np.uint8(0x80), order="C")
    weights = np.ascontiguousarray(b_q.T)
    out = np.empty((m, n), np.float32)
    kernels = _dispatch.current_kernels().quantize
    kernels.qgemm(a_u, weights, out, np.full(m, a_params.zero_point + 128, np.int32),
                  _row_sums(a_u), np.full(m, a_params.scale, np.float32),
                  np.full(n, b_params.zero_point, np.int32), _row_sums(weights),
                  np.full(n, b_params.scale, np.float32), None, False, kernel_threads())
    return out


class QuantizedLinear:
    """A linear layer ``y = x @ weight.T + bias`` on int8 weights.

    Weights are quantized once, per output channel and symmetric (zero point
    0, ``scale = max|w| / 127``, values in [-127, 127]).  Each call quantizes
    its input dynamically to unsigned 8 bits, one scale and zero point per
    row (per token, as torchao's int8 dynamic quantization; PyTorch's
    ``quantize_dynamic`` uses one per tensor, which loses accuracy when rows
    differ in range), with ``MinMaxObserver(quint8)``'s formulas; it then
    multiplies in int8 with exact int32 sums and rescales to float32.

    Parameters
    ----------
    weight : float32 array, shape (out_features, in_features), finite
    bias : float32 array, shape (out_features,), or None
    reduce_range : bool or None
        Quantize activations to 7 bits ([0, 127]).  On CPUs without VNNI the
        fast ``vpmaddubsw`` sums pairs into int16, exact only for 7-bit
        activations (oneDNN and ONNX Runtime make the same choice); without
        it the kernel widens to int16 and runs at about half speed.  None
        (default): True unless the CPU has AVX-512 VNNI, so results may
        differ between machines; pass a bool to pin them.

    Attributes
    ----------
    weight_q : int8 ndarray, (out_features, in_features)
    weight_scales : float32 ndarray, (out_features,)
    bias : float32 ndarray, (out_features,), or None
    """

    def __init__(self, weight: ArrayLike, bias: ArrayLike | None = None, *,
                 reduce_range: bool | None = None) -> None:
        weight = _as_float32(weight, "weight")
        if weight.ndim != 2:
            raise ValueError(f"weight must be 2-D (out_features, in_features), "
                             f"got shape {weight.shape}")
        if weight.shape[0] == 0:
            raise ValueError("weight must have at least one output feature")
        _check_inner(weight.shape[1], "in_features")
        if not np.isfinite(weight).all():
            raise ValueError("weight must be finite (no NaN or infinity)")
        weight = np.ascontiguousarray(weight)
        self.out_features, self.in_features = weight.shape
        abs_max = np.abs(weight).max(axis=1)
        self.weight_scales = np.maximum(abs_max / np.float32(127), _EPS).astype(np.float32)
        self.weight_q = np.empty(weight.shape, np.int8)
        zeros = np.zeros(self.out_features, np.int32)
        kernels = _dispatch.current_kernels().quantize
        kernels.quantize_rows(weight, self.weight_q, np.float32(1) / self.weight_scales, zeros,
                              -127, 127, kernel_threads())
        self._zero_points = zeros
        self._weight_sums = _row_sums(self.weight_q)
        if bias is not None:
            bias_values = np.ascontiguousarray(_as_float32(bias, "bias"))
            if bias_values.shape != (self.out_features,):
                raise ValueError(f"bias must have shape ({self.out_features},), "
                                 f"got {bias_values.shape}")
        self.bias = None if bias is None else bias_values
        if reduce_range is None:
            reduce_range = not get_features().avx512vnni
        self.reduce_range = bool(reduce_range)

    @property
    def _activation_max(self) -> int:
        return 127 if self.reduce_range else 255

    def activation_params(self, rows: NDArray[np.float32]
                          ) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
        """``(scales, zero_points)``, float32 and int32 of shape (batch,): per
        row of ``rows`` (float32, (batch, in_features)), PyTorch's
        ``MinMaxObserver(quint8)`` over [0, 255], or [0, 127] with
        ``reduce_range``, in float32 steps."""
        return _row_params(rows, "x", 0, self._activation_max)

    def __call__(self, x: ArrayLike) -> NDArray[np.float32]:
        """``x``: float32 (batch, in_features) or (in_features,); returns
        float32 (batch, out_features) or (out_features,)."""
        values = _as_float32(x, "x")
        if values.ndim not in (1, 2) or values.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}) or "
                             f"({self.in_features},), got {values.shape}")
        rows = np.ascontiguousarray(values.reshape(-1, self.in_features))
        if rows.shape[0] == 0:
            return np.empty(values.shape[:-1] + (self.out_features,), np.float32)
        scales, zero_points = self.activation_params(rows)
        kernels = _dispatch.current_kernels().quantize
        activations = np.empty(rows.shape, np.uint8)
        kernels.quantize_rows(rows, activations.view(np.int8), np.float32(1) / scales,
                              zero_points, 0, self._activation_max,
                              kernel_threads())
        out = np.empty((rows.shape[0], self.out_features), np.float32)
        # Weight zero points are 0, so the activations' row sums drop out.
        kernels.qgemm(activations, self.weight_q, out, zero_points,
                      np.zeros(rows.shape[0], np.int32), scales, self._zero_points,
                      self._weight_sums, self.weight_scales, self.bias, self.reduce_range,
                      kernel_threads())
        return out.reshape(values.shape[:-1] + (self.out_features,))

    def size_bytes(self) -> int:
        """Bytes of int8 weights, their scales and the bias."""
        bias = 0 if self.bias is None else self.bias.nbytes
        return int(self.weight_q.nbytes + self.weight_scales.nbytes + bias)

    def __repr__(self) -> str:
        return (f"QuantizedLinear(in_features={self.in_features}, "
                f"out_features={self.out_features}, reduce_range={self.reduce_range})")
