"""Types of the compiled resampling kernel modules ``_resample_<variant>``
(one source, ``_resample.pyx``, built once per instruction set).  No module
is named ``_resample`` at run time: :class:`ResampleKernels` is what
``_dispatch.current_kernels().resample`` is.  Callers have checked dtypes,
shapes and layouts."""
from typing import Optional, Protocol

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
I32 = NDArray[np.int32]
Taps = tuple[I32, I32, I32, int]

class ResampleKernels(Protocol):
    def target_macros(self) -> list[str]: ...
    def pillow_taps(self, in_size: int, in0: float, in1: float, out_size: int,
                    filter: int) -> tuple[I32, I32, I32]: ...
    def resample(self, src: U8, dst: U8, horizontal: Optional[Taps], vertical: Optional[Taps],
                 horizontal_first: bool, alpha: bool, n_threads: int) -> None: ...
    def resample_opencv(self, src: U8, dst: U8, horizontal: tuple[I32, I32, I32],
                        vertical: tuple[I32, I32, I32], n_threads: int) -> None: ...
    def nearest(self, src: U8, dst: U8, x0: float, y0: float, x1: float, y1: float) -> None: ...
