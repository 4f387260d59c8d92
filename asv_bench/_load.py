"""Load generators for the batcher benchmarks."""
import asyncio
import time

import numpy as np


async def echo_throughput(batcher, callers=1000, per_caller=100):
    """Seconds per item for ``callers`` coroutines adding ``per_caller`` items
    each to a running ``batcher`` (an echo processor makes it pure overhead)."""
    async def caller():
        for j in range(per_caller):
            await batcher.add(j)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return (time.perf_counter() - start) / (callers * per_caller)


def sleeping_processor(per_batch, per_item):
    """A processor costing ``per_batch + per_item * n`` seconds (in a thread)."""
    def process(items):
        time.sleep(per_batch + per_item * len(items))
        return items
    return process


async def open_loop_p95(batcher, rate, seconds):
    """Add items at ``rate`` per second for ``seconds`` (arrivals not waiting
    for results); p95 latency in seconds over the second half."""
    latencies = []

    async def one(item):
        start = time.perf_counter()
        await batcher.add(item)
        latencies.append((start, time.perf_counter() - start))

    tasks, sent, begin = [], 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        due = int((time.perf_counter() - begin) * rate)
        while sent < due:
            tasks.append(asyncio.create_task(one(sent)))
            sent += 1
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)
    settled = [latency for start, latency in latencies if start - begin > seconds / 2]
    return float(np.percentile(settled, 95))


def with_batcher(batcher, work):
    """Run ``batcher`` on a fresh event loop while ``await work(batcher)``
    runs, then shut it down; the result of ``work``."""
    async def main():
        task = asyncio.create_task(batcher.run())
        await asyncio.sleep(0)
        try:
            return await work(batcher)
        finally:
            await batcher.shutdown()
            await task
    return asyncio.run(main())
