"""Types of the compiled YUV kernel modules ``_yuv_<variant>`` (one source,
``_yuv.pyx``, built once per instruction set).  No module is named ``_yuv``
at run time: :class:`YuvKernels` is what ``_dispatch.current_kernels().yuv``
is.  Callers have checked dtypes, shapes and layouts."""
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
I32 = NDArray[np.int32]

class YuvKernels(Protocol):
    def target_macros(self) -> list[str]: ...
    def yuv_to_rgb(self, y: U8, u: U8, v: U8, step: int, matrix: I32, exact: bool, out: U8,
                   bgr: bool, n_threads: int) -> None: ...
    def resize_window(self, y: U8, u: U8, v: U8, step: int, matrix: I32, exact: bool, out: U8,
                      rows: int, cols: int, top: int, left: int, bilinear: bool,
                      n_threads: int) -> None: ...
