import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from variants import family_modules, names

# Property tests: ``pytest --hypothesis-profile=thorough`` runs 20x more cases.
# No deadline: kernel timings vary with the machine and its load.
settings.register_profile("default", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", settings.get_profile("default"), max_examples=3000)
settings.load_profile("default")


IMAGE_MODULES = family_modules("image")
QUANTIZE_MODULES = family_modules("quantize")
WARP_MODULES = family_modules("warp")
RESAMPLE_MODULES = family_modules("resample")
YUV_MODULES = family_modules("yuv")


@pytest.fixture(params=IMAGE_MODULES, ids=names(IMAGE_MODULES))
def image_kernels(request):
    """Each variant's image kernel module in turn (called directly)."""
    return request.param[1]


@pytest.fixture(params=QUANTIZE_MODULES, ids=names(QUANTIZE_MODULES))
def quantize_kernels(request):
    """Each variant's INT8 kernel module in turn (called directly)."""
    return request.param[1]


@pytest.fixture(params=WARP_MODULES, ids=names(WARP_MODULES))
def warp_kernels(request):
    """Each variant's warp kernel module in turn (called directly)."""
    return request.param[1]


@pytest.fixture(params=RESAMPLE_MODULES, ids=names(RESAMPLE_MODULES))
def resample_kernels(request):
    """Each variant's resampling kernel module in turn."""
    return request.param[1]


@pytest.fixture(params=YUV_MODULES, ids=names(YUV_MODULES))
def yuv_kernels(request):
    """Each variant's YUV kernel module in turn."""
    return request.param[1]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
