import numpy as np
import pytest

from scipix.optimize import _dispatch


def variant_modules():
    """(name, module) of every variant this machine can run, plus the reference."""
    names = _dispatch.runnable_variants() + [_dispatch.REFERENCE]
    return [(name, _dispatch.load_variant(name)) for name in names]


VARIANTS = variant_modules()


@pytest.fixture(params=VARIANTS, ids=[name for name, _ in VARIANTS])
def kernels(request):
    """Each runnable variant's kernel module in turn (called directly)."""
    return request.param[1]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
