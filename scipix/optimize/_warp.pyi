"""Types of the compiled warp kernel modules ``_warp_<variant>`` (one source,
``_warp.pyx``, built once per instruction set).  No module is named
``_warp`` at run time: :class:`WarpKernels` is what
``_dispatch.current_kernels().warp`` is.  Callers have checked dtypes,
shapes and layouts."""
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

U8 = NDArray[np.uint8]
I32 = NDArray[np.int32]
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

class WarpKernels(Protocol):
    def target_macros(self) -> list[str]: ...
    def crop_quads(self, image: U8, maps: F64, widths: I32, mix: F32, bias: F32, cubic: bool,
                   out: F32, n_threads: int) -> None: ...
