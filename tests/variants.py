"""The compiled variants the tests run: each SIMD variant this CPU executes,
and the scalar reference, named."""
from scipix.optimize import _dispatch

# The vectorization-free build every variant must agree with.
REFERENCE = _dispatch.load_variant(_dispatch.REFERENCE)
# (name, Kernels) of each SIMD variant this CPU runs, best first.
RUNNABLE = [(name, _dispatch.load_variant(name)) for name in _dispatch.runnable_variants()]
# What "every variant" means in a test: the SIMD ones and the reference.
EVERY = RUNNABLE + [(_dispatch.REFERENCE, REFERENCE)]


def family_modules(family, variants=EVERY):
    """``(name, module)`` of kernel ``family`` ("image", "quantize", "warp", "resample",
    "yuv") in each variant."""
    return [(name, getattr(kernels, family)) for name, kernels in variants]


def names(variants):
    """Test ids for a list made by :func:`family_modules`."""
    return [name for name, _ in variants]
