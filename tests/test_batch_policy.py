"""The batching policies and the cost estimator, fed observations directly (no clock)."""
import random

import pytest

from scipix.optimize.batch import BatchConfig
from scipix.optimize.batch._cost import CostEstimator
from scipix.optimize.batch._policy import FixedPolicy, LatencyPolicy

CONFIG = BatchConfig(max_batch_size=64, max_wait_ms=5000, preferred_batch_size=16)


# ---------------------------------------------------------------- estimator

def test_two_sizes_give_the_exact_line():
    estimator = CostEstimator()
    for size in (10, 40, 10, 40):
        estimator.observe(size, 2.0 + 0.5 * size)
    assert estimator.model == pytest.approx((0.5, 2.0))
    assert estimator.predict(8) == pytest.approx(6.0)


def test_one_size_is_all_per_item():
    estimator = CostEstimator()
    for _ in range(5):
        estimator.observe(8, 10.0)
    assert estimator.model == pytest.approx((1.25, 0.0))  # exact at the size seen


def test_a_few_odd_sizes_do_not_make_a_slope():
    """One delayed batch of another size among many of one size: least
    squares (and a spread test on min / max) drew the slope from it."""
    estimator = CostEstimator()
    estimator.observe(3, 20.0)  # held up by the machine, not by its size
    for _ in range(40):
        estimator.observe(7, 9.0)
    per_item, per_batch = estimator.model
    assert per_batch == 0 and per_item == pytest.approx(9.0 / 7)


def test_delays_unrelated_to_size_move_neither_term():
    rng = random.Random(7)
    estimator = CostEstimator()
    for _ in range(64):
        size = rng.randint(1, 40)
        delay = 15.0 if rng.random() < 0.25 else rng.uniform(0, 0.1)
        estimator.observe(size, 2.0 + 1.0 * size + delay)
    per_item, per_batch = estimator.model
    assert per_item == pytest.approx(1.0, abs=0.05) and per_batch == pytest.approx(2.0, abs=0.3)


def test_terms_are_never_negative():
    estimator = CostEstimator()
    for size, seconds in ((5, 9.0), (20, 3.0), (5, 9.0), (20, 3.0)):  # cost falling with size
        estimator.observe(size, seconds)
    per_item, per_batch = estimator.model
    assert per_item == 0 and per_batch > 0


def test_the_window_forgets():
    estimator = CostEstimator(window=4)
    for size in (10, 40) * 4:
        estimator.observe(size, 100.0)
    for size in (10, 40) * 2:
        estimator.observe(size, 2.0 + 0.5 * size)
    assert estimator.model == pytest.approx((0.5, 2.0)) and estimator.largest_seen() == 40


# ---------------------------------------------------------------- policies

def test_fixed_policy_is_its_config():
    policy = FixedPolicy(CONFIG)
    assert policy.current_config() is CONFIG and policy.limit() == 64
    assert policy.ready_at(16, oldest=1.0, now=1.0) == 1.0  # preferred: at once
    assert policy.ready_at(15, oldest=1.0, now=1.0) == pytest.approx(6.0)  # after max_wait
    policy.observe(64, 100.0)
    assert policy.current_config() is CONFIG


def test_latency_policy_starts_as_its_config():
    policy = LatencyPolicy(CONFIG, 21.0)
    assert policy.current_config() == CONFIG and policy.limit() == 64
    assert policy.ready_at(15, oldest=1.0, now=1.0) == pytest.approx(6.0)


def ready_sizes(policy, limit):
    return [size for size in range(1, limit + 1) if policy.ready_at(size, 0.0, 0.0) <= 0.0]


@pytest.mark.parametrize("per_batch, per_item, target", [
    (2.0, 1.0, 21.0),    # fits 8; a lone item waits 0.9 * 21 - 3 s
    (0.002, 0.0001, 0.020),
    (30.0, 1.0, 21.0),   # even one item misses the target: every group goes at once
    (5.0, 0.0, 21.0),    # cost independent of size: the largest batch
])
def test_latency_policy_reports_what_it_does(per_batch, per_item, target):
    """Issue 17: current_config() is the rule ready_at() and limit() apply."""
    policy = LatencyPolicy(CONFIG, target)
    size = 64
    for _ in range(12):  # sizes 64, then what the policy allows, with spread
        policy.observe(size, per_batch + per_item * size)
        size = max(1, policy.limit() - _ % 3)
    reported = policy.current_config()
    assert reported.max_batch_size == policy.limit()
    # A group is ready at once exactly from the reported preferred size on ...
    assert ready_sizes(policy, reported.max_batch_size) == list(
        range(reported.preferred_batch_size, reported.max_batch_size + 1))
    # ... and a lone item (the longest wait) waits the reported max_wait_ms.
    if reported.preferred_batch_size > 1:
        assert policy.ready_at(1, 0.0, 0.0) == pytest.approx(reported.max_wait_ms / 1e3)


def test_latency_policy_size_follows_the_target():
    policy = LatencyPolicy(CONFIG, 21.0)
    for size in (64, 10, 8, 12, 8):
        policy.observe(size, 2.0 + 1.0 * size)
    assert policy.limit() == 8  # 2 + 8 <= 21 / 2 < 2 + 9
    assert policy.current_config().preferred_batch_size == 8


def test_latency_policy_never_extrapolates_far():
    """A near-zero slope (no real data about larger batches yet) doubles the
    size at most, instead of jumping to max_batch_size."""
    policy = LatencyPolicy(CONFIG, 21.0)
    for size in (2, 4, 2, 4):
        policy.observe(size, 1.0)
    assert policy.limit() == 8


def test_latency_policy_honours_the_preferred_size():
    """Issue 17's case: max 32, preferred 4, max_wait 200 ms; the adaptive
    batcher waited out its budget (204 ms) where the dynamic one sent 4."""
    config = BatchConfig(max_batch_size=32, preferred_batch_size=4, max_wait_ms=200)
    policy = LatencyPolicy(config, 0.5)
    for size in (4, 8, 4, 8):
        policy.observe(size, 0.001 * size)
    assert policy.current_config().preferred_batch_size == 4
    assert policy.ready_at(4, oldest=1.0, now=1.0) == 1.0
    assert policy.ready_at(3, oldest=1.0, now=1.0) == pytest.approx(1.2)
