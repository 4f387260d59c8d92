"""INT8 quantization (the spec's "Model Quantization") and an INT8 matmul.

Affine int8 in [-128, 127] with the semantics of PyTorch's
``MinMaxObserver(dtype=torch.qint8)`` and ``torch.quantize_per_tensor``:
the range always includes 0 (so 0.0, which padding needs, is exact), the
scale is at least float32 epsilon, and

    q = clamp(rint(x * float32(1 / scale)) + zero_point, -128, 127)

rounding half to even with the float32 inverse scale, as PyTorch does
(dividing by the scale instead rounds some ties differently).  With
given params ``+-inf`` saturate; params taken from the data's min and max
refuse infinite data (it has no finite range).  NaN raises ``ValueError``
(an ``out=`` array is then partly written, as NumPy leaves ``out`` on
errors).  Dequantization is
``(float(q) - zero_point) * scale`` in float32.  The hot loops run in the
SIMD kernel variants, on ``get_thread_count()`` threads.

:func:`quantized_matmul` and :class:`QuantizedLinear` multiply int8 operands
with int32 sums (VNNI ``vpdpbusd`` on the avx512 variant, ``vpmaddubsw`` or
``vpmaddwd`` on avx2, ``sdot`` on aarch64's neondot), exact against an integer
reference.
"""
from ._matmul import QuantizedLinear, quantized_matmul
from ._params import QuantParams
from ._tensor import (DynamicQuantizer, PerChannelQuant, QuantizedTensor, dequantize,
                      dequantize_value, quantization_error, quantize_value, quantize_weights,
                      quantize_with_params, sqnr)

__all__ = ["QuantParams", "quantize_weights", "quantize_with_params", "quantize_value",
           "dequantize", "dequantize_value", "QuantizedTensor", "PerChannelQuant",
           "DynamicQuantizer", "quantization_error", "sqnr", "quantized_matmul",
           "QuantizedLinear"]
