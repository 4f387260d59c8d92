"""The batchers (the spec's "Dynamic Batching"): overhead and latency tracking."""
from ._api import public
from ._load import echo_throughput, open_loop_p95, sleeping_processor, with_batcher


async def _echo(items):
    return items


class BatcherOverhead:
    """100,000 items from 1,000 callers through an echo processor at
    max_batch_size 64: time / 100,000 is the batcher's cost per item."""

    params = (["sync", "async"],)
    param_names = ["processor"]
    timeout = 120

    def setup(self, processor):
        self.batch = public("scipix.optimize.batch")

    def time_echo_100k(self, processor):
        config = self.batch.BatchConfig(max_batch_size=64, max_wait_ms=2, max_queue_size=5000)
        echo = (lambda items: items) if processor == "sync" else _echo
        with_batcher(self.batch.DynamicBatcher(config, echo), echo_throughput)


class AdaptiveLatency:
    """p95 latency (ms) against a 20 ms target, processor 2 ms + 0.1 ms/item,
    after a step from 300 to 3000 items/s."""

    params = (["adaptive", "dynamic"],)
    param_names = ["batcher"]
    timeout = 120
    unit = "ms"

    def setup(self, kind):
        self.batch = public("scipix.optimize.batch")

    def track_p95_after_step(self, kind):
        config = self.batch.BatchConfig(max_batch_size=128, max_wait_ms=50,
                                        max_queue_size=100_000)
        processor = sleeping_processor(0.002, 0.0001)
        batcher = (self.batch.AdaptiveBatcher(config, 0.020, processor) if kind == "adaptive"
                   else self.batch.DynamicBatcher(config, processor))

        async def step(running):
            await open_loop_p95(running, 300, 2.0)
            return await open_loop_p95(running, 3000, 2.0) * 1e3

        return with_batcher(batcher, step)
