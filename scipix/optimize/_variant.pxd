# What every per-variant kernel module shares: the work sizes that decide
# threading and streaming, and the list of target macros it was built with.
# Each variant compiles these inline helpers with its own flags.
cdef extern from "scipix_target.h":
    const char **scipix_target_macros

cdef enum:
    # Below this many pixels (or values) one thread beats waking a team:
    # an OpenMP region costs about a microsecond even when it runs serially.
    PARALLEL_MIN_WORK = 1 << 17
    # Widest run of a row (or span of a flat array) handed to one thread, so
    # that a single long row still splits across threads.
    SPAN = 1 << 15
    # Outputs at least this large are stored around the caches: they cannot
    # stay cached for their reader anyway.
    STREAM_BYTES = 8 << 20


cdef inline int team_size(Py_ssize_t work, int n_threads) noexcept nogil:
    """Threads worth waking for ``work`` elements: 1 below PARALLEL_MIN_WORK."""
    if n_threads <= 1 or work < PARALLEL_MIN_WORK:
        return 1
    return n_threads


cdef inline list target_macro_names():
    cdef list names = []
    cdef Py_ssize_t i = 0
    while scipix_target_macros[i] != NULL:
        names.append(scipix_target_macros[i].decode())
        i += 1
    return names
