"""The batchers (the spec's "Dynamic Batching"): overhead and latency tracking."""
import asyncio

from scipix.tools.batch_load import echo_throughput, open_loop_p95, sleeping_processor
from scipix.optimize.batch import AdaptiveBatcher, BatchConfig, DynamicBatcher


async def _echo(items):
    return items


def _with_batcher(batcher, work):
    async def main():
        task = asyncio.create_task(batcher.run())
        await asyncio.sleep(0)
        try:
            return await work(batcher)
        finally:
            await batcher.shutdown()
            await task
    return asyncio.run(main())


class BatcherOverhead:
    """100,000 items from 1,000 callers through an echo processor at
    max_batch_size 64: time / 100,000 is the batcher's cost per item."""

    params = (["sync", "async"],)
    param_names = ["processor"]
    timeout = 120

    def time_echo_100k(self, processor):
        config = BatchConfig(max_batch_size=64, max_wait_ms=2, max_queue_size=5000)
        batcher = DynamicBatcher(config, (lambda items: items) if processor == "sync" else _echo)
        _with_batcher(batcher, echo_throughput)


class AdaptiveLatency:
    """p95 latency (ms) against a 20 ms target, processor 2 ms + 0.1 ms/item,
    after a step from 300 to 3000 items/s."""

    params = (["adaptive", "dynamic"],)
    param_names = ["batcher"]
    timeout = 120
    unit = "ms"

    def track_p95_after_step(self, kind):
        config = BatchConfig(max_batch_size=128, max_wait_ms=50, max_queue_size=100_000)
        processor = sleeping_processor(0.002, 0.0001)
        batcher = (AdaptiveBatcher(config, 0.020, processor) if kind == "adaptive"
                   else DynamicBatcher(config, processor))

        async def step(running):
            await open_loop_p95(running, 300, 2.0)
            return await open_loop_p95(running, 3000, 2.0) * 1e3

        return _with_batcher(batcher, step)
