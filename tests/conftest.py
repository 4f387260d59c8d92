import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from scipix.optimize import _dispatch

# Property tests: ``pytest --hypothesis-profile=thorough`` runs 20x more cases.
# No deadline: kernel timings vary with the machine and its load.
settings.register_profile("default", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", settings.get_profile("default"), max_examples=3000)
settings.load_profile("default")


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
