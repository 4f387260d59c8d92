"""What each run ran on, recorded with its results.

Timings mean little without the kernel variant and the thread count behind
them: ``Threads`` records the thread count (and prints scipix's runtime
report, once per run, shown by ``asv run --show-stderr``), ``Variant``
records 1 for the variant that ran and 0 for the others built.
``SCIPIX_FORCE_VARIANT`` in asv.conf.json's matrix pins the variant.
"""
from ._api import public

# Every variant name any scipix commit has built, best first.
VARIANTS = ["avx512", "avx2", "sse42", "baseline", "neon"]


class Threads:
    """Threads the parallel kernels use (``get_thread_count()``)."""

    unit = "threads"

    def setup(self):
        self.thread_count = public("scipix.optimize.get_thread_count")

    def track_threads(self):
        try:
            public("scipix.show_runtime")()
        except NotImplementedError:
            print("scipix.show_runtime does not exist in this scipix")
        return self.thread_count()


class Variant:
    """1 for the kernel variant this run used, 0 for the other built ones."""

    params = VARIANTS
    param_names = ["variant"]
    unit = "active"

    def setup(self, variant):
        self.active = public("scipix.optimize.active_variant")
        if variant not in public("scipix.optimize.built_variants")():
            raise NotImplementedError(f"variant {variant} is not built")

    def track_active(self, variant):
        return int(self.active() == variant)
