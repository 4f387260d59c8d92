"""The one place that asks the OpenMP runtime about itself.

Kernels never call ``omp_set_num_threads`` (it is per calling thread): they
receive their thread count explicitly, see :mod:`scipix.optimize.config`.
The module also exports the symbol ``scipix_thread_control``, by which
threadpoolctl tells it from other packages' ``_openmp_helpers`` (see
:mod:`scipix.optimize._threadpoolctl`).
"""

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define SCIPIX_OPENMP 1
    #else
    #define SCIPIX_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    __attribute__((visibility("default"))) const char scipix_thread_control[] = "scipix";
    """
    int SCIPIX_OPENMP
    int omp_get_max_threads() noexcept nogil


def openmp_enabled():
    """True when scipix's extensions were built with OpenMP."""
    return bool(SCIPIX_OPENMP)


def openmp_max_threads():
    """``omp_get_max_threads()`` of the calling thread (1 without OpenMP)."""
    return omp_get_max_threads()
