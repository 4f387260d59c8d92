"""The benchmark tables' interleaved timing (scipix.tools.timing)."""
from scipix.tools.timing import interleaved_medians


def test_rounds_interleave_after_calibration():
    calls = []
    contenders = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    medians = interleaved_medians(contenders, 3, round_seconds=0)
    # A warm call and one timed call each count the calls a sample needs.
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert list(medians) == ["a", "b"] and all(value >= 0 for value in medians.values())


def test_a_settle_pause_adds_an_untimed_call_per_sample():
    calls = []
    contenders = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    interleaved_medians(contenders, 2, round_seconds=0, settle_seconds=1e-4)
    assert calls == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] * 2
