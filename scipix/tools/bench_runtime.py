"""Serving a model: scipix.runtime's batching against a session per request.

``python -m scipix bench --kernels runtime`` runs N closed-loop clients
(N = 1, 8, 64), each sending single text lines (3 x 48 x W float32, W
from 80 to 320) to the PP-OCRv4 recognizer one after another, three ways:

* ``session.run``: a plain ``onnxruntime.InferenceSession`` (its default
  options) called per request from a thread pool, a thread per client;
* ``runtime, unbatched``: the runtime's session pool behind a
  ``BatchedModel`` with ``max_batch_size=1``;
* ``runtime, batched``: the same with batches of up to 4 lines of one
  padded width (multiples of 32).  This recognizer's cost per line does
  not fall with the batch on a CPU (it rises past a few lines: the table's
  first part measures it), so larger batches only add waiting.

Lines per second and the p50 / p99 latency of a request, the three ways'
rounds interleaved.  Needs the ``ocr`` extra (the model is rapidocr's).
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

CLIENTS = (1, 8, 64)
MODES = ("session.run", "runtime, unbatched", "runtime, batched")


def _lines(count=16, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((3, 48, int(w)), dtype=np.float32) * 2 - 1
            for w in rng.integers(80, 321, count)]


def _per_request(session, lines, clients, seconds):
    """Closed loop of ``clients`` threads, each calling ``session.run``."""
    name = session.get_inputs()[0].name
    latencies, stop = [], time.perf_counter() + seconds
    lock = threading.Lock()

    def client(k):
        mine = []
        i = k
        while time.perf_counter() < stop:
            start = time.perf_counter()
            session.run(None, {name: lines[i % len(lines)][np.newaxis]})
            mine.append(time.perf_counter() - start)
            i += 1
        with lock:
            latencies.extend(mine)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return latencies


def _through_runtime(batched, lines, clients, seconds):
    """Closed loop of ``clients`` coroutines, each awaiting ``infer``."""
    latencies = []

    async def client(k, stop):
        i = k
        while time.perf_counter() < stop:
            start = time.perf_counter()
            await batched.infer(lines[i % len(lines)])
            latencies.append(time.perf_counter() - start)
            i += 1

    async def main():
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(client(k, stop) for k in range(clients)))

    asyncio.run(main())
    return latencies


def _cost_per_line(model, width=192, sizes=(1, 4, 16, 32), seconds=0.5):
    """Print ms per line of one session's batches of ``sizes`` lines."""
    figures = []
    for size in sizes:
        batch = np.random.default_rng(size).random((size, 3, 48, width), dtype=np.float32)
        model.run(batch)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            model.run(batch)
            count += 1
        figures.append(f"{size}: {(time.perf_counter() - start) / count / size * 1e3:.1f}")
    print(f"  one session, ms per line of a batch of n lines {width} wide: " + ", ".join(figures))


def serving_table(record, seconds=2.0, rounds=2):
    """Print the serving table (see the module docstring) and keep it in
    ``record`` (a :class:`.bench_record.BenchRecord`)."""
    import importlib.util
    print("\nServing the PP-OCRv4 recognizer: N clients sending single lines")
    if importlib.util.find_spec("onnxruntime") is None or \
            importlib.util.find_spec("rapidocr_onnxruntime") is None:
        print("  not installed: onnxruntime and rapidocr_onnxruntime")
        return
    import onnxruntime as ort
    import rapidocr_onnxruntime

    from scipix.optimize.batch import BatchConfig
    from scipix.runtime import BatchedModel, Model

    path = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models",
                        "ch_PP-OCRv4_rec_infer.onnx")
    lines = _lines()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with Model(path, execution="pool") as model:
        print(f"  runtime: {model.concurrency} single-threaded sessions; session.run: one "
              f"session, ONNX Runtime's default options; {seconds:g} s per round, "
              f"{rounds} rounds interleaved")
        unbatched = BatchedModel(model, config=BatchConfig(max_batch_size=1, max_wait_ms=1),
                                 pad_to=(1, 1, 32))
        batched = BatchedModel(model, config=BatchConfig(max_batch_size=4, max_wait_ms=2,
                                                         preferred_batch_size=4),
                               pad_to=(1, 1, 32))
        _cost_per_line(model)
        runs = {"session.run": lambda n: _per_request(session, lines, n, seconds),
                "runtime, unbatched": lambda n: _through_runtime(unbatched, lines, n, seconds),
                "runtime, batched": lambda n: _through_runtime(batched, lines, n, seconds)}
        for run in runs.values():
            run(2)  # warm up: every width's buffers and arena blocks
        print(f"{'clients':>8}  {'':<20}{'lines/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
              f"{'mean batch':>12}")
        table = record.table("serving", "Serving the PP-OCRv4 recognizer: N clients sending "
                             "single lines, session.run per request against the runtime "
                             "unbatched and batched", ["clients", "mode"], [],
                             values=["lines/s", "p50 s", "p99 s", "mean batch"])
        for clients in CLIENTS:
            latencies = {mode: [] for mode in MODES}
            before = batched.stats().batching
            for _ in range(rounds):
                for mode, run in runs.items():
                    latencies[mode].extend(run(clients))
            after = batched.stats().batching
            mean = (after.items - before.items) / max(1, after.batches - before.batches)
            for mode in MODES:
                values = np.array(latencies[mode]) * 1e3
                rate = len(values) / (seconds * rounds)
                table.add(clients=clients, mode=mode, **{
                    "lines/s": rate, "p50 s": np.percentile(values, 50) / 1e3,
                    "p99 s": np.percentile(values, 99) / 1e3,
                    "mean batch": mean if mode == "runtime, batched" else None})
                print(f"{clients:>8}  {mode:<20}{rate:>10.1f}{np.percentile(values, 50):>10.1f}"
                      f"{np.percentile(values, 99):>10.1f}"
                      + (f"{mean:>12.1f}" if mode == "runtime, batched" else ""))
        print(f"  batched: padding share {batched.stats().padding_share:.2f}")
        unbatched.close()
        batched.close()
