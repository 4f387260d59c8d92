"""detector_size: PP-OCR / DBNet detector input sizes."""
import numpy as np
import pytest

from scipix.optimize.parallel import detector_size


@pytest.mark.parametrize("size, options, expected", [
    ((3508, 2480), {}, (960, 672)),                              # A4 at 300 dpi, long side 960
    ((3508, 2480), dict(limit_type="min", limit_side=736), (3520, 2496)),  # already large
    ((500, 300), dict(limit_type="min", limit_side=736), (1216, 736)),
    ((700, 500), {}, (704, 512)),                                # small: only rounded
    ((10, 5000), {}, (32, 960)),                                 # never below the multiple
    ((100, 100), dict(multiple=1), (100, 100)),
    ((48, 80), dict(multiple=32), (64, 64)),                     # 1.5 and 2.5 round to even
])
def test_known_sizes(size, options, expected):
    assert detector_size(*size, **options) == expected


def test_multiples_and_limits(rng):
    for h, w in rng.integers(1, 5000, size=(500, 2)):
        for limit_type in ("max", "min"):
            out_h, out_w = detector_size(int(h), int(w), limit_side=960, limit_type=limit_type)
            assert out_h % 32 == 0 and out_w % 32 == 0 and out_h >= 32 and out_w >= 32
            if limit_type == "max":
                assert max(out_h, out_w) <= 960 + 16
            else:
                assert min(out_h, out_w) >= min(736, 960) - 16


@pytest.mark.parametrize("limit_type", ["max", "min"])
def test_matches_rapidocr(rng, limit_type):
    utils = pytest.importorskip("rapidocr_onnxruntime.ch_ppocr_det.utils")
    for h, w in rng.integers(40, 3000, size=(40, 2)):
        stock = utils.DetPreProcess(960, limit_type).resize(np.zeros((h, w, 3), np.uint8))
        assert stock.shape[:2] == detector_size(int(h), int(w), limit_side=960,
                                                limit_type=limit_type)


@pytest.mark.parametrize("args, options, error, match", [
    ((0, 5), {}, ValueError, "height must be positive"),
    ((5, -1), {}, ValueError, "width must be positive"),
    ((5.0, 5), {}, TypeError, "height must be an int"),
    ((5, 5), dict(limit_side=0), ValueError, "limit_side must be positive"),
    ((5, 5), dict(multiple=0), ValueError, "multiple must be positive"),
    ((5, 5), dict(limit_type="long"), ValueError, "limit_type must be 'max' or 'min'"),
])
def test_bad_input(args, options, error, match):
    with pytest.raises(error, match=match):
        detector_size(*args, **options)
