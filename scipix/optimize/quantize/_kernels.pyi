"""Types of the compiled INT8 kernel modules ``quantize._kernels_<variant>``
(one source, ``_kernels.pyx``, built once per instruction set).  No module
is named ``_kernels`` at run time: :class:`QuantizeKernels` is what
``_dispatch.current_kernels().quantize`` is.  Callers have checked dtypes,
shapes and layouts."""
from typing import Protocol, SupportsFloat

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
I8 = NDArray[np.int8]
I32 = NDArray[np.int32]
F32 = NDArray[np.float32]

class QuantizeKernels(Protocol):
    def target_macros(self) -> list[str]: ...
    def quantize(self, x: F32, q: I8, inv_scale: SupportsFloat, zero_point: int, qmin: int,
                 qmax: int, n_threads: int) -> None: ...
    def dequantize(self, q: I8, x: F32, scale: SupportsFloat, zero_point: int,
                   n_threads: int) -> None: ...
    def quantize_rows(self, x: F32, q: I8, inv_scales: F32, zero_points: I32, qmin: int,
                      qmax: int, n_threads: int) -> None: ...
    def qgemm(self, a: U8, w: I8, out: F32, a_zeros: I32, a_sums: I32, a_scales: F32,
              w_zeros: I32, w_sums: I32, w_scales: F32, bias: F32 | None, seven_bit: bool,
              n_threads: int) -> None: ...
