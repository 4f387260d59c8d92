"""Interleaved timing of contenders, for the comparison tables of
``python -m scipix bench``: on a shared, noisy machine, load from elsewhere
then hits every contender alike."""
import contextlib
import statistics
import time


def _seconds_per_call(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def interleaved_medians(contenders, rounds, *, round_seconds=2e-3, settle_seconds=0.0,
                        contexts=None):
    """Median seconds per call of each contender, their rounds interleaved.

    Parameters
    ----------
    contenders : dict of str to callable
        Timed in this order within every round.
    rounds : int
        Samples of each contender.
    round_seconds : float
        A sample repeats its call until it lasts about this long (the
        count of calls is found once, beforehand, by doubling); 0 times one
        call per sample.
    settle_seconds : float
        With a pause, each sample starts after it and one untimed call:
        runtimes whose idle threads spin for a while after a call would
        otherwise slow whoever runs next.
    contexts : dict of str to callable, optional
        Per contender, a context manager factory entered around each of its
        samples, outside the timed calls (e.g. an optimization level).

    Returns
    -------
    dict of str to float
    """
    context = {name: (contexts or {}).get(name, contextlib.nullcontext) for name in contenders}
    calls = {}
    for name, fn in contenders.items():
        with context[name]():
            fn()
            count = 1
            while _seconds_per_call(fn, count) * count < round_seconds:
                count *= 2
        calls[name] = count
    samples = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            with context[name]():
                if settle_seconds:
                    time.sleep(settle_seconds)
                    fn()
                samples[name].append(_seconds_per_call(fn, calls[name]))
    return {name: statistics.median(values) for name, values in samples.items()}


def speedup_row(table, case, medians, ours="scipix"):
    """Record ``medians`` (seconds per contender) as ``case`` in ``table``
    and print them: ours first, each other contender with ours' speed-up."""
    table.add(case=case, **{name: medians.get(name) for name in table.times})
    cells = [f"{medians[ours] * 1e3:8.2f} ms"]
    for name, seconds in medians.items():
        if name != ours:
            cells.append(f"{name} {seconds * 1e3:8.2f} ms ({seconds / medians[ours]:5.2f}x)")
    print(f"  {case:<34} {'   '.join(cells)}")
