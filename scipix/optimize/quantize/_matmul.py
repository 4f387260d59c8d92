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
from ._params import _EPS, QuantParams, _as_float32, _check_params

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


def _packed(weights: NDArray[np.int8]) -> tuple[NDArray[np.int8], NDArray[np.int32]]:
    """``(packed, column sums)`` of an (n, k) int8 view: the micro-kernel's
    layout (the same on every variant, so it pickles across machines)."""
    kernels = _dispatch.current_kernels().quantize
    packed = np.empty(kernels.packed_size(*weights.shape), np.int8)
    sums = np.empty(weights.shape[0], np.int32)
    kernels.pack_weights(weights, packed, sums)
    return packed, sums


def quantized_matmul(a_q: NDArray[np.int8], a_params: QuantParams, b_q: NDArray[np.int8],
                     b_params: QuantParams) -> NDArray[np.float32]:
    """``dequantize(a) @ dequantize(b)`` computed on the int8 values.

    Parameters
    ----------
    a_q : int8 ndarray, shape (m, k)
    a_params : QuantParams of ``a_q``
    b_q : int8 ndarray, shape (k, n), any layout (packed once per call)
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
    # a + 128 as uint8 (zero point + 128): the kernel's unsigned operand,
    # rows padded with zeros to whole groups of 4.
    activations = np.zeros((m, -(-k // 4) * 4), np.uint8)
    np.bitwise_xor(a_q.view(np.uint8), np.uint8(0x80), out=activations[:, :k])
    a_zero = a_params.zero_point + 128
    corrections = (activations.sum(axis=1, dtype=np.int64) - k * a_zero).astype(np.int32)
    packed, sums = _packed(b_q.T)
    out = np.empty((m, n), np.float32)
    _dispatch.current_kernels().quantize.qgemm(
        activations, k, packed, sums, out, np.full(m, a_zero, np.int32), corrections,
        np.full(m, a_params.scale, np.float32), b_params.zero_point,
        np.full(n, b_params.scale, np.float32), None, False, kernel_threads())
    return out


class QuantizedLinear:
    """A linear layer ``y = x @ weight.T + bias`` on int8 weights.

    Weights are quantized once, per output channel and symmetric (zero point
    0, ``scale = max|w| / 127``, values in [-127, 127]), and packed into the
    matrix kernel's layout with their column sums.  Each call quantizes its
    input dynamically to unsigned 8 bits, one scale and zero point per row
    (per token, as torchao's int8 dynamic quantization; PyTorch's
    ``quantize_dynamic`` uses one per tensor, which loses accuracy when rows
    differ in range), with ``MinMaxObserver(quint8)``'s formulas, straight
    into the kernel's operand; it then multiplies in int8 with exact int32
    sums and rescales to float32 in the same pass.  A layer pickles (for
    worker processes) with its packed weights.

    Parameters
    ----------
    weight : float32 array, shape (out_features, in_features), finite
    bias : float32 array, shape (out_features,), or None
    reduce_range : bool or None
        Quantize activations to 7 bits ([0, 127]).  The AVX2 kernel's fast
        ``vpmaddubsw`` sums pairs into int16, exact only for 7-bit
        activations (oneDNN and ONNX Runtime make the same choice); 8-bit
        ones take a split path there at about half the speed.  None
        (default): True when the running variant's dot product is
        ``vpmaddubsw`` (``scipix.optimize.show_runtime`` names the variant),
        so results may differ between machines; pass a bool to pin them.

    Attributes
    ----------
    weight_q : int8 ndarray, (out_features, in_features) (unpacked on access)
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
        weight_q = np.empty(weight.shape, np.int8)
        kernels = _dispatch.current_kernels().quantize
        kernels.quantize_rows(weight, weight_q, np.float32(1) / self.weight_scales,
                              np.zeros(self.out_features, np.int32), -127, 127, kernel_threads())
        self._packed, self._column_sums = _packed(weight_q)
        if bias is not None:
            bias_values = np.ascontiguousarray(_as_float32(bias, "bias"))
            if bias_values.shape != (self.out_features,):
                raise ValueError(f"bias must have shape ({self.out_features},), "
                                 f"got {bias_values.shape}")
        self.bias = None if bias is None else bias_values
        if reduce_range is None:
            # The variant the process runs (not OptLevel.NONE's reference),
            # so that the choice does not depend on the level at construction.
            reduce_range = _dispatch.KERNELS.quantize.dot_product() == "vpmaddubsw"
        self.reduce_range = bool(reduce_range)

    @property
    def weight_q(self) -> NDArray[np.int8]:
        weights = np.empty((self.out_features, self.in_features), np.int8)
        _dispatch.current_kernels().quantize.unpack_weights(self._packed, weights)
        return weights

    @property
    def _activation_max(self) -> int:
        return 127 if self.reduce_range else 255

    def _rows(self, x: ArrayLike, name: str) -> NDArray[np.float32]:
        values = _as_float32(x, name)
        if values.ndim not in (1, 2) or values.shape[-1] != self.in_features:
            raise ValueError(f"{name} must have shape (batch, {self.in_features}) or "
                             f"({self.in_features},), got {values.shape}")
        return np.ascontiguousarray(values.reshape(-1, self.in_features))

    def activation_params(self, rows: ArrayLike
                          ) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
        """``(scales, zero_points)``, float32 and int32 of shape (batch,): per
        row of ``rows`` (float32, (batch, in_features)), PyTorch's
        ``MinMaxObserver(quint8)`` over [0, 255], or [0, 127] with
        ``reduce_range``, in float32 steps: what a call quantizes with."""
        values = self._rows(rows, "rows")
        scales = np.empty(values.shape[0], np.float32)
        zero_points = np.empty(values.shape[0], np.int32)
        _dispatch.current_kernels().quantize.row_params(values, scales, zero_points,
                                                        self._activation_max)
        return scales, zero_points

    def __call__(self, x: ArrayLike) -> NDArray[np.float32]:
        """``x``: float32 (batch, in_features) or (in_features,); returns
        float32 (batch, out_features) or (out_features,)."""
        rows = self._rows(x, "x")
        out = np.empty((rows.shape[0], self.out_features), np.float32)
        _dispatch.current_kernels().quantize.linear(
            rows, self._packed, self._column_sums, self.weight_scales, self.bias, out,
            self._activation_max, kernel_threads())
        return out.reshape(np.shape(x)[:-1] + (self.out_features,))

    def size_bytes(self) -> int:
        """Bytes of the packed int8 weights, their column sums and scales, and the bias."""
        bias = 0 if self.bias is None else self.bias.nbytes
        return int(self._packed.nbytes + self._column_sums.nbytes + self.weight_scales.nbytes
                   + bias)

    def __repr__(self) -> str:
        return (f"QuantizedLinear(in_features={self.in_features}, "
                f"out_features={self.out_features}, reduce_range={self.reduce_range})")
