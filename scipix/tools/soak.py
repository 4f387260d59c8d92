"""``python -m scipix soak``: leak and growth checks under sustained use.

Each soak repeats one small operation many times (a kernel call, a pool
acquire/release, a model open/close, batcher items) and reports resident
memory and open file descriptors after a warm-up tenth of the calls and
again at the end.  A leak of even a few bytes per call shows as growth over
a million calls; a descriptor left open shows in the count.  Linux only
(``/proc/self``).
"""
import asyncio
import gc
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from ..optimize import batch, memory, parallel, quantize, simd
from ..optimize.memory._safetensors import write as write_safetensors

__all__ = ["SoakResult", "soak", "soaks", "run_soaks"]

def resident_bytes():
    """Resident set size of this process now (not the peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


@dataclass(frozen=True)
class SoakResult:
    """Resident bytes and open descriptors after warm-up and at the end."""

    name: str
    calls: int
    seconds: float
    rss_before: int
    rss_after: int
    fds_before: int
    fds_after: int

    @property
    def rss_growth(self):
        return self.rss_after - self.rss_before


def soak(name, step, calls):
    """Call ``step()`` ``calls`` times; measure after the first tenth."""
    warmup = max(1, calls // 10)
    for _ in range(warmup):
        step()
    gc.collect()
    rss_before, fds_before = resident_bytes(), open_descriptors()
    start = time.perf_counter()
    for _ in range(calls - warmup):
        step()
    seconds = time.perf_counter() - start
    gc.collect()
    return SoakResult(name, calls, seconds, rss_before, resident_bytes(),
                      fds_before, open_descriptors())


def _kernel_steps(rng):
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    gray = simd.simd_grayscale(rgba)
    values = rng.standard_normal(256).astype(np.float32)
    params = quantize.QuantParams.from_data(values)
    q = quantize.quantize_with_params(values, params)
    layer = quantize.QuantizedLinear(rng.standard_normal((8, 16)).astype(np.float32))
    features = rng.standard_normal((2, 16)).astype(np.float32)
    return {
        "simd_grayscale": lambda: simd.simd_grayscale(rgba),
        "simd_threshold": lambda: simd.simd_threshold(gray, 128),
        "simd_normalize": lambda: simd.simd_normalize(values),
        "simd_resize_bilinear": lambda: simd.simd_resize_bilinear(gray, 24, 20),
        "fast_area_resize": lambda: simd.fast_area_resize(gray, 8, 8),
        "quantize_with_params": lambda: quantize.quantize_with_params(values, params),
        "dequantize": lambda: quantize.dequantize(q, params),
        "QuantizedLinear": lambda: layer(features),
        "preprocess_batch": lambda: parallel.preprocess_batch([rgba, gray], (8, 8)),
    }


def _model_step(directory):
    path = os.path.join(directory, "model.safetensors")
    write_safetensors(path, {"w": np.arange(64, dtype=np.float32)})

    def open_read_close():
        with memory.MmapModel.from_file(path) as model:
            float(model.tensor("w")[3])
    return open_read_close


def _batcher_wave(wave):
    """Push ``wave`` items through one DynamicBatcher per call."""
    config = batch.BatchConfig(max_batch_size=64, max_wait_ms=1, max_queue_size=wave)

    async def items():
        batcher = batch.DynamicBatcher(config, lambda batch_: [x + 1 for x in batch_])
        runner = asyncio.create_task(batcher.run())
        await asyncio.gather(*(batcher.add(i) for i in range(wave)))
        await batcher.shutdown()
        await runner

    return lambda: asyncio.run(items())


def soaks(scale=1.0):
    """Run every soak at ``scale`` times the issue's counts (a million
    calls of each kernel and pool or arena cycle, 10,000 model open/close
    cycles, 100,000 batcher items), yielding SoakResults."""
    def count(n):
        return max(10, int(n * scale))

    rng = np.random.default_rng(0)
    for name, step in _kernel_steps(rng).items():
        yield soak(name, step, count(1_000_000))
    pool = memory.BufferPool(lambda: memory.ByteBuffer(1024), 4, 16)

    def pool_cycle():
        with pool.acquire() as buffer:
            buffer.extend(b"scipix")
    yield soak("BufferPool acquire/release", pool_cycle, count(1_000_000))
    arena = memory.Arena(4096)

    def arena_cycle():
        arena.alloc(256)
        arena.reset()
    yield soak("Arena alloc/reset", arena_cycle, count(1_000_000))
    with tempfile.TemporaryDirectory() as directory:
        yield soak("MmapModel open/read/close", _model_step(directory), count(10_000))
    wave = 1000
    yield soak(f"DynamicBatcher ({wave} items per call)", _batcher_wave(wave),
               count(100_000 // wave))


def run_soaks(scale):
    """Print the soak table (``python -m scipix soak``)."""
    print(f"{'soak':<38}{'calls':>10}{'s':>8}{'RSS before':>13}{'RSS after':>12}"
          f"{'growth':>10}{'fds':>9}", flush=True)
    for r in soaks(scale):
        print(f"{r.name:<38}{r.calls:>10}{r.seconds:>8.1f}{r.rss_before / 2**20:>11.1f}Mi"
              f"{r.rss_after / 2**20:>10.1f}Mi{r.rss_growth / 2**10:>8.0f}Ki"
              f"{r.fds_before:>5}->{r.fds_after}", flush=True)
