"""``python -m scipix bench``: optimized kernels against scalar code and OpenCV.

For each kernel and size it prints median times of the scalar reference
(``OptLevel.NONE``), the SIMD variant on one thread (``OptLevel.SIMD``), the
SIMD variant on all threads (``OptLevel.FULL``) and, where installed,
OpenCV on one thread (NumPy for normalize), with the speed-ups.  The
``batch`` table does the same for ``preprocess_batch`` against
:func:`scipix.tools.baselines.opencv_preprocess_batch`, the ``overhead`` table
times the pipeline and asyncio executor per item on no-op work, and the
``memory`` table pools, the arena and memory-mapped models against plain
allocation, the ``batching`` table the batchers' overhead and the
adaptive batcher's p95 latency across a step change in load, and the
``quantize`` table INT8 quantization against NumPy, the ``gemm`` tables
the INT8 linear layer and weight quantizer against PyTorch and ONNX Runtime,
and the ``model`` table model inputs against OpenCV and RapidOCR
(:mod:`.bench_model`), the ``resample`` and ``recipes`` tables Pillow-exact
resampling and the Hugging Face recipes against Pillow, torch and
transformers (:mod:`.bench_resample`), the ``video`` table decoded frames to
model input against PyAV and OpenCV (:mod:`.bench_video`).  Every table is
also recorded in a :class:`.bench_record.BenchRecord`, which ``--json FILE``
writes out.

The comparisons interleave their contenders' rounds in one process (load
from the machine's other users then hits each alike) and keep the medians.
"""
import asyncio
from concurrent.futures import ThreadPoolExecutor
import contextlib
import importlib.util
import json
import os
import struct
import tempfile
import statistics
import time

import numpy as np

from .. import optimize
from .baselines import numpy_dequantize, numpy_quantize, opencv_preprocess_batch
from .bench_gemm import gemm_tables
from .batch_load import echo_throughput, open_loop_p95, sleeping_processor
from .bench_model import model_table
from .bench_record import BenchRecord
from .bench_resample import recipes_table, resample_table
from .bench_video import video_table
from .soak import resident_bytes
from .synthetic import page_rgba
from .timing import interleaved_medians
from ..optimize import OptLevel, batch, local_thread_count, memory, parallel, quantize, simd

try:
    import cv2
except ImportError:
    cv2 = None


def _median_seconds(fn, repeat):
    """Median over ``repeat`` runs, each long enough (~2 ms) to time reliably."""
    fn()
    number, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= 2e-3:
            break
        number *= 4
    runs = [elapsed / number]
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def _cases(size):
    """(name, scipix call, comparison call or None, comparison name) per kernel."""
    rgba = page_rgba(size, size)
    rgb = np.ascontiguousarray(rgba[..., :3])
    gray = simd.simd_grayscale(rgba)
    out = np.empty_like(gray)
    tensor = np.random.default_rng(0).standard_normal(size * size).astype(np.float32)
    half, three_q, quarter = max(size // 2, 1), max(size * 3 // 4, 1), max(size // 4, 1)
    dst = {n: np.empty((n, n), np.uint8) for n in (half, three_q, quarter)}
    cases = {
        "grayscale": (lambda: simd.simd_grayscale(rgba, out=out),
                      cv2 and (lambda: cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY, dst=out)), "cv2"),
        "grayscale rgb": (lambda: simd.simd_grayscale(rgb, out=out),
                          cv2 and (lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY, dst=out)), "cv2"),
        "threshold": (lambda: simd.simd_threshold(gray, 128, out=out),
                      cv2 and (lambda: cv2.threshold(gray, 128, 255, cv2.THRESH_BINARY, dst=out)),
                      "cv2"),
        "normalize": (lambda: simd.simd_normalize(tensor),
                      lambda: np.divide(tensor - tensor.mean(), tensor.std() + 1e-8), "numpy"),
    }
    for name, n, fn, flag in (
            ("bilinear 1/2", half, simd.simd_resize_bilinear, "INTER_LINEAR"),
            ("bilinear 3/4", three_q, simd.simd_resize_bilinear, "INTER_LINEAR"),
            ("area 1/4", quarter, simd.fast_area_resize, "INTER_AREA"),
            ("area 3/4", three_q, simd.fast_area_resize, "INTER_AREA")):
        ours = (lambda fn=fn, n=n: fn(gray, n, n, out=dst[n]))
        theirs = cv2 and (lambda n=n, flag=flag: cv2.resize(
            gray, (n, n), dst=dst[n], interpolation=getattr(cv2, flag)))
        cases[name] = (ours, theirs, "cv2")
    return cases


NOT_INSTALLED = "not installed"


def _time_cell(seconds, scale, width, digits):
    """``seconds * scale`` right-aligned in ``width`` columns, or
    "not installed" where the peer measured against is missing."""
    if seconds is None:
        return f" {NOT_INSTALLED:>{width - 1}}"
    return f"{seconds * scale:>{width}.{digits}f}"


def _ratio_cell(numerator, denominator, width, digits):
    """``numerator / denominator`` as "1.23x" in ``width`` columns; "-" where
    the numerator's peer is missing."""
    if numerator is None:
        return f"{'-':>{width}}"
    return f"{numerator / denominator:>{width - 1}.{digits}f}x"


def run_bench(sizes, repeat, kernels=None, batch=64, record=None):
    """Print the tables ``kernels`` selects (all but ``ocr`` when None), and
    record them in ``record`` (a new :class:`.BenchRecord` when None).

    Returns
    -------
    BenchRecord
    """
    record = record or BenchRecord(["bench"])
    if cv2 is not None:
        cv2.setNumThreads(1)
    threads = optimize.get_thread_count()
    print(f"scipix bench: {optimize.cpu.cpu_name()}, variant {optimize.active_variant()}, "
          f"{threads} threads, "
          f"median of {repeat}; OpenCV "
          f"{cv2.__version__ + ' on 1 thread' if cv2 else 'not installed'}")
    if not kernels or set(kernels) - {"batch", "scaling", "overhead", "memory", "batching",
                                      "quantize", "gemm", "model", "ocr", "resample",
                                      "recipes", "video", "runtime", "document"}:
        _kernel_table(sizes, repeat, kernels, threads, record)
    if not kernels or "batch" in kernels:
        _batch_table(batch, repeat, threads, record)
    if not kernels or "scaling" in kernels:
        _scaling_table(batch, repeat, threads, record)
    if not kernels or "overhead" in kernels:
        _overhead_table(record)
    if not kernels or "memory" in kernels:
        _memory_table(repeat, record)
    if not kernels or "batching" in kernels:
        asyncio.run(_batching_table(record))
    if not kernels or "quantize" in kernels:
        _quantize_table(repeat, threads, record)
    if not kernels or "gemm" in kernels:
        gemm_tables(repeat, record)
    if not kernels or "model" in kernels:
        model_table(repeat, record)
    if not kernels or "resample" in kernels:
        resample_table(repeat, record)
    if not kernels or "recipes" in kernels:
        recipes_table(repeat, record)
    if not kernels or "video" in kernels:
        video_table(repeat, record)
    if kernels and "runtime" in kernels:  # a minute or more: only when asked for
        from .bench_runtime import serving_table
        serving_table(record)
    if kernels and "document" in kernels:  # minutes: only when asked for
        from .bench_document import document_table
        document_table(record)
    if kernels and "ocr" in kernels:  # minutes: only when asked for
        from .bench_ocr import ocr_tables
        ocr_tables(repeat, record)
    return record


LEVELS = {"scalar": OptLevel.NONE, "simd 1T": OptLevel.SIMD, "simd NT": OptLevel.FULL}


def _level_timings(fn, repeat, levels=("scalar", "simd 1T", "simd NT"), others=None):
    """Median seconds of ``fn()`` at each optimization level in ``levels``,
    and of each of ``others`` (name to callable or None), rounds interleaved;
    ``None`` for an absent other."""
    contenders = {level: fn for level in levels}
    contexts = {level: (lambda level=level: optimize.opt_level(LEVELS[level]))
                for level in levels}
    present = {name: other for name, other in (others or {}).items() if other}
    contenders.update(present)
    timings = interleaved_medians(contenders, repeat, contexts=contexts)
    return {name: timings.get(name) for name in [*levels, *(others or {})]}


def _kernel_table(sizes, repeat, kernels, threads, record):
    table = record.table(
        "kernels", f"Image kernels on square images of each size: the scalar reference, the "
        f"SIMD variant on 1 and {threads} threads, OpenCV on 1 thread (NumPy for normalize)",
        ["kernel", "size"], ["scalar", "simd 1T", "simd NT", "cv2", "numpy"], ours="simd 1T",
        chart="speedup")
    print("\nkernels, times in microseconds")
    header = (f"{'kernel':<13}{'size':>6}{'scalar':>11}{'simd 1T':>11}{f'simd {threads}T':>11}"
              f"{'other':>11}  {'vs scalar':>9}{'vs other':>9}{f'{threads}T gain':>9}")
    print(header)
    print("-" * len(header))
    for size in sizes:
        for name, (ours, theirs, other_name) in _cases(size).items():
            if kernels and name.split()[0] not in kernels:
                continue
            timings = _level_timings(ours, repeat, others={other_name: theirs})
            other = timings[other_name]
            simd_1t = timings["simd 1T"]
            print(f"{name:<13}{size:>6}{timings['scalar'] * 1e6:>11.1f}{simd_1t * 1e6:>11.1f}"
                  f"{timings['simd NT'] * 1e6:>11.1f}{_time_cell(other, 1e6, 11, 1)}  "
                  f"{timings['scalar'] / simd_1t:>8.1f}x{_ratio_cell(other, simd_1t, 9, 2)}"
                  f"{simd_1t / timings['simd NT']:>8.2f}x  ({other_name})")
            table.add(kernel=name, size=size, **{"cv2": None, "numpy": None, **timings})


def _batch_table(n_images, repeat, threads, record, page=(768, 1024), shape=(384, 384)):
    images = [page_rgba(*page, seed=i) for i in range(n_images)]
    out = np.empty((n_images, 1) + shape, np.float32)
    print(f"\npreprocess_batch: {n_images} RGBA {page[1]}x{page[0]} -> "
          f"{shape[1]}x{shape[0]} float32, times in milliseconds")
    timings = _level_timings(
        lambda: parallel.preprocess_batch(images, shape, out=out), repeat,
        others={"cv2 1T": cv2 and (lambda: opencv_preprocess_batch(cv2, images, shape, out))})
    other = timings["cv2 1T"]
    simd_1t = timings["simd 1T"]
    record.table("batch", f"preprocess_batch: {n_images} RGBA {page[1]}x{page[0]} pages -> "
                 f"{shape[1]}x{shape[0]} float32, against OpenCV + NumPy on 1 thread",
                 ["images"], list(timings), ours="simd 1T", chart="speedup").add(
        images=n_images, **timings)
    print(f"{'scalar':>10}{'simd 1T':>10}{f'simd {threads}T':>10}{'cv2 1T':>10}  "
          f"{'vs cv2':>8}{f'{threads}T gain':>9}")
    print(f"{timings['scalar'] * 1e3:>10.1f}{simd_1t * 1e3:>10.1f}"
          f"{timings['simd NT'] * 1e3:>10.1f}{_time_cell(other, 1e3, 10, 1)}  "
          f"{_ratio_cell(other, simd_1t, 8, 2)}{simd_1t / timings['simd NT']:>8.2f}x")


def _thread_ladder(threads):
    """1, 2, 4, ... up to ``threads``, and ``threads`` itself."""
    ladder = [1 << k for k in range(threads.bit_length()) if 1 << k < threads]
    return ladder + [threads]


def _scaling_table(n_images, repeat, threads, record, page=(768, 1024), shape=(384, 384)):
    """``preprocess_batch`` on 1, 2, 4, ... threads, against OpenCV run the
    way a user parallelizes it: a thread pool, one slice of images per
    thread; every thread count's rounds interleaved."""
    images = [page_rgba(*page, seed=i) for i in range(n_images)]
    out = np.empty((n_images, 1) + shape, np.float32)
    ladder = _thread_ladder(threads)

    def opencv_threads(pool, team):
        bounds = np.linspace(0, n_images, team + 1).astype(int)
        jobs = [pool.submit(opencv_preprocess_batch, cv2, images[lo:hi], shape, out[lo:hi])
                for lo, hi in zip(bounds[:-1], bounds[1:])]
        for job in jobs:
            job.result()

    print(f"\npreprocess_batch thread scaling: {n_images} RGBA {page[1]}x{page[0]} -> "
          f"{shape[1]}x{shape[0]}, times in milliseconds")
    print(f"{'threads':>8}{'scipix':>10}{'pages/s':>10}{'gain':>8}{'cv2 pool':>10}{'vs cv2':>9}")
    table = record.table(
        "scaling", f"preprocess_batch thread scaling: {n_images} RGBA {page[1]}x{page[0]} "
        f"pages -> {shape[1]}x{shape[0]} float32, against OpenCV + NumPy in a thread pool "
        f"(one slice of the pages per thread)", ["threads"], ["scipix", "cv2 pool"],
        ours="scipix", chart="scaling")
    contenders, contexts = {}, {}
    with contextlib.ExitStack() as stack:
        for team in ladder:
            contenders[f"scipix {team}"] = lambda: parallel.preprocess_batch(images, shape,
                                                                             out=out)
            contexts[f"scipix {team}"] = lambda team=team: local_thread_count(team)
            if cv2 is not None:
                pool = stack.enter_context(ThreadPoolExecutor(team))
                contenders[f"cv2 {team}"] = lambda pool=pool, team=team: opencv_threads(pool,
                                                                                        team)
        timings = interleaved_medians(contenders, repeat, contexts=contexts)
    single = timings["scipix 1"]
    for team in ladder:
        ours, other = timings[f"scipix {team}"], timings.get(f"cv2 {team}")
        print(f"{team:>8}{ours * 1e3:>10.1f}{n_images / ours:>10.0f}{single / ours:>7.2f}x"
              f"{_time_cell(other, 1e3, 10, 1)}{_ratio_cell(other, ours, 9, 2)}")
        table.add(threads=team, scipix=ours, **{"cv2 pool": other})


def _overhead_table(record, items=20_000):
    """Per-item cost of the executors themselves, on work that does nothing."""
    async def nothing(x):
        return x

    def identity(x):
        return x

    pipeline = parallel.PipelineExecutor(identity, identity)
    executor = parallel.AsyncParallelExecutor(8)
    print(f"\nexecutor overhead per item ({items} no-op items), microseconds")
    table = record.table("overhead", f"Executor overhead per item, {items} no-op items",
                         ["executor"], ["per item"])
    for name, run in (("PipelineExecutor", lambda: pipeline.execute_batch(range(items))),
                      ("AsyncParallelExecutor", lambda: asyncio.run(
                          executor.execute(range(items), nothing)))):
        per_item = _median_seconds(run, 3) / items
        print(f"{name:<24}{per_item * 1e6:>8.2f}")
        table.add(executor=name, **{"per item": per_item})


def sparse_safetensors(path, big=1 << 30, small=4096):
    """A ``big``-byte model file with one small tensor at its end (sparse on disk)."""
    header = json.dumps({
        "weights": {"dtype": "U8", "shape": [big], "data_offsets": [0, big]},
        "bias": {"dtype": "U8", "shape": [small], "data_offsets": [big, big + small]},
    }).encode()
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(header)) + header)
        file.truncate(8 + len(header) + big + small)


def _memory_table(repeat, record):
    half = np.ones(512 * 1024, np.uint8)
    pool = memory.BufferPool(lambda: memory.ByteBuffer(1 << 20), 1, 4)
    arena = memory.Arena(1 << 16)

    def pooled():
        with pool.acquire() as buf:
            buf.extend(half)

    def numpy_empty():
        np.empty(1 << 20, np.uint8)[:half.size] = half

    def bytes_array():
        bytearray(1 << 20)[:half.size] = memoryview(half)

    sizes_64 = [64] * 64

    def arena_64():
        for _ in range(64):
            arena.alloc(64, 64)
        arena.reset()

    def arena_many_64():
        arena.alloc_many(sizes_64, 64)
        arena.reset()

    def numpy_64():
        for _ in range(64):
            np.empty(64, np.uint8)

    print("\nmemory, times in microseconds")
    seconds = interleaved_medians({
        "pooled": pooled, "numpy.empty": numpy_empty, "bytearray": bytes_array,
        "arena": arena_64, "arena many": arena_many_64, "numpy 64": numpy_64,
        "acquire": lambda: pool.acquire().release()}, repeat)
    timed = {name: value * 1e6 for name, value in seconds.items()}
    table = record.table("memory", "Pools and the arena against plain allocation",
                         ["case"], ["scipix", "numpy.empty", "bytearray"], ours="scipix",
                         chart="speedup")
    table.add(case="1 MiB buffer, write 512 KiB (pool)", scipix=seconds["pooled"],
              **{"numpy.empty": seconds["numpy.empty"], "bytearray": seconds["bytearray"]})
    table.add(case="64 x 64 B, Arena.alloc loop + reset", scipix=seconds["arena"],
              **{"numpy.empty": seconds["numpy 64"], "bytearray": None})
    table.add(case="64 x 64 B, Arena.alloc_many + reset", scipix=seconds["arena many"],
              **{"numpy.empty": seconds["numpy 64"], "bytearray": None})
    table.add(case="pool acquire + release", scipix=seconds["acquire"],
              **{"numpy.empty": None, "bytearray": None})
    print(f"1 MiB buffer, write 512 KiB: pooled {timed['pooled']:.1f}, numpy.empty "
          f"{timed['numpy.empty']:.1f} ({timed['numpy.empty'] / timed['pooled']:.2f}x), "
          f"bytearray {timed['bytearray']:.1f} ({timed['bytearray'] / timed['pooled']:.2f}x)")
    print(f"pool acquire + release: {timed['acquire'] * 1e3:.0f} ns")
    print(f"64 x 64 B: Arena.alloc loop + reset {timed['arena']:.2f} "
          f"({timed['numpy 64'] / timed['arena']:.1f}x), Arena.alloc_many + reset "
          f"{timed['arena many']:.2f} ({timed['numpy 64'] / timed['arena many']:.1f}x), "
          f"numpy.empty loop {timed['numpy 64']:.2f}")
    if not os.path.exists("/proc/self/statm"):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        sparse_safetensors(path)
        before = resident_bytes()
        start = time.perf_counter()
        with memory.MmapModel.from_file(path) as model:
            total = int(model.tensor("bias").sum())
            elapsed = time.perf_counter() - start
            grown = resident_bytes() - before
    print(f"MmapModel 1 GiB safetensors, open + read a 4 KiB tensor: {elapsed * 1e3:.2f} ms, "
          f"resident memory +{grown / 1024:.0f} KiB (sum {total})")
    record.table("mmap", "MmapModel: open a 1 GiB safetensors file and read a 4 KiB tensor "
                 "(one run)", ["case"], ["open + read"], values=["resident KiB"]).add(
        case="1 GiB safetensors, 4 KiB tensor", **{"open + read": elapsed,
                                                   "resident KiB": round(grown / 1024)})


async def _running(batcher):
    task = asyncio.create_task(batcher.run())
    await asyncio.sleep(0)
    return task


async def _batching_table(record):
    print("\nbatching")
    overhead = record.table("batching overhead", "DynamicBatcher overhead per item, echo "
                            "processor, max_batch_size 64, 1000 callers x 100 items",
                            ["processor"], ["per item"])
    config = batch.BatchConfig(max_batch_size=64, max_wait_ms=2, max_queue_size=5000)

    async def echo_async(items):
        return items

    for name, processor in (("sync", lambda items: items), ("async", echo_async)):
        batcher = batch.DynamicBatcher(config, processor)
        task = await _running(batcher)
        seconds = await echo_throughput(batcher)
        await batcher.shutdown()
        await task
        print(f"DynamicBatcher overhead, {name} echo processor, max_batch_size 64, "
              f"1000 callers x 100 items: {seconds * 1e6:.2f} us/item "
              f"({1 / seconds:,.0f} items/s)")
        overhead.add(processor=name, **{"per item": seconds})

    config = batch.BatchConfig(max_batch_size=128, max_wait_ms=50, max_queue_size=100_000)
    processor = sleeping_processor(0.002, 0.0001)
    print("processor 2 ms + 0.1 ms/item, target 20 ms, 3 s per load level; p95 over the "
          "last 1.5 s:")
    latency = record.table("batching latency", "p95 latency across a step change in load: "
                           "processor 2 ms + 0.1 ms/item, target 20 ms, 3 s per load level, "
                           "p95 over the last 1.5 s", ["batcher", "items/s"], ["p95"],
                           values=["batch size"])
    for name, batcher in (("AdaptiveBatcher", batch.AdaptiveBatcher(config, 0.020, processor)),
                          ("DynamicBatcher", batch.DynamicBatcher(config, processor))):
        task = await _running(batcher)
        figures = []
        for rate in (300, 3000, 300):
            p95 = await open_loop_p95(batcher, rate, 3.0)
            size = batcher.current_config().max_batch_size
            figures.append(f"{rate}/s: p95 {p95 * 1e3:.1f} ms (size {size})")
            latency.add(batcher=name, p95=p95, **{"items/s": rate, "batch size": size})
        await batcher.shutdown()
        await task
        print(f"  {name:<16}" + "; ".join(figures))


def _optional_torch():
    """PyTorch on one thread, or None: only the comparison columns use it."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def _torch_quantizer(torch, x, params):
    tensor = torch.from_numpy(x)
    return lambda: torch.quantize_per_tensor(tensor, params.scale, params.zero_point,
                                             torch.qint8)


def _torch_dequantizer(torch, x, params):
    quantized = torch.quantize_per_tensor(torch.from_numpy(x), params.scale,
                                          params.zero_point, torch.qint8)
    return quantized.dequantize


def _quantize_table(repeat, threads, record):
    torch = _optional_torch()
    table = record.table("quantize", "INT8 quantize_with_params / dequantize of n float32: "
                         "the scalar reference, the SIMD variant, NumPy's in-place "
                         "expression, torch on 1 thread", ["op", "n"],
                         ["scalar", "simd 1T", "simd NT", "numpy", "torch"], ours="simd 1T",
                         chart="speedup")
    print(f"\nquantize, times in milliseconds (numpy: in-place multiply, rint, add, clip, "
          f"cast into out; torch: quantize_per_tensor / dequantize on 1 thread"
          f"{'' if torch else ', not installed'})")
    print(f"{'op':<12}{'n':>10}{'scalar':>9}{'simd 1T':>9}{f'simd {threads}T':>9}"
          f"{'numpy':>9}{'torch':>9}  {'vs numpy':>8}{'vs torch':>9}")
    for n in (1024, 4096, 16384, 1 << 24):
        x = (np.random.default_rng(0).standard_normal(n) * 3).astype(np.float32)
        params = quantize.QuantParams.from_data(x)
        q = np.empty(n, np.int8)
        restored = np.empty(n, np.float32)
        quantize.quantize_with_params(x, params, out=q)
        cases = [("quantize", lambda: quantize.quantize_with_params(x, params, out=q),
                  lambda: numpy_quantize(x, params.scale, params.zero_point, q),
                  torch and _torch_quantizer(torch, x, params)),
                 ("dequantize", lambda: quantize.dequantize(q, params, out=restored),
                  lambda: numpy_dequantize(q, params.scale, params.zero_point, restored),
                  torch and _torch_dequantizer(torch, x, params))]
        for op, ours, numpy_op, torch_op in cases:
            timings = _level_timings(ours, repeat, others={"numpy": numpy_op, "torch": torch_op})
            other, theirs = timings["numpy"], timings["torch"]
            simd_1t = timings["simd 1T"]
            table.add(op=op, n=n, **timings)
            print(f"{op:<12}{n:>10}{timings['scalar'] * 1e3:>9.3f}"
                  f"{simd_1t * 1e3:>9.3f}{timings['simd NT'] * 1e3:>9.3f}"
                  f"{other * 1e3:>9.3f}{_time_cell(theirs, 1e3, 9, 3)}  {other / simd_1t:>7.2f}x"
                  f"{_ratio_cell(theirs, simd_1t, 9, 2)}")
    w = np.random.default_rng(1).standard_normal((1024, 64)).astype(np.float32)
    per_channel = _median_seconds(lambda: quantize.PerChannelQuant.from_f32(w, w.shape), repeat)
    print(f"PerChannelQuant.from_f32 1024 x 64: {per_channel * 1e3:.3f} ms")
    record.table("per-channel", "PerChannelQuant.from_f32 of a 1024 x 64 float32 weight",
                 ["case"], ["scipix"]).add(case="1024 x 64", scipix=per_channel)
    _linear_table(repeat, threads, record)
    _linear_accuracy_table(record)


def _linear_table(repeat, threads, record, batch_size=64, features=1024):
    """QuantizedLinear against NumPy's float32 ``x @ W.T + b`` (BLAS), both
    on one thread and on all."""
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((features, features)).astype(np.float32)
    bias = rng.standard_normal(features).astype(np.float32)
    x = rng.standard_normal((batch_size, features)).astype(np.float32)
    print(f"\nQuantizedLinear batch {batch_size}, {features} -> {features}, milliseconds "
          f"(numpy: float32 x @ W.T + b)")
    # Without threadpoolctl NumPy's BLAS would run on all its threads: no
    # single-thread figure then.
    limit_blas = importlib.util.find_spec("threadpoolctl") is not None
    print(f"{'layer':<34}{'1T':>9}{f'{threads}T':>9}{'numpy 1T':>10}  {'vs numpy 1T':>11}"
          f"{'' if limit_blas else '  (numpy 1T needs threadpoolctl)'}")
    table = record.table("linear", f"QuantizedLinear, batch {batch_size}, {features} -> "
                         f"{features}, against NumPy's float32 x @ W.T + b on 1 thread",
                         ["activations"], ["simd 1T", "simd NT", "numpy 1T"], ours="simd 1T",
                         chart="speedup")
    blas_contexts = {}
    if limit_blas:
        from threadpoolctl import threadpool_limits
        blas_contexts["numpy 1T"] = lambda: threadpool_limits(1)
    for reduce_range in (True, False):
        layer = quantize.QuantizedLinear(weight, bias, reduce_range=reduce_range)
        contenders = {"simd 1T": lambda: layer(x), "simd NT": lambda: layer(x)}
        if limit_blas:
            contenders["numpy 1T"] = lambda: x @ weight.T + bias
        timings = interleaved_medians(contenders, repeat, contexts={
            "simd 1T": lambda: optimize.opt_level(OptLevel.SIMD),
            "simd NT": lambda: optimize.opt_level(OptLevel.FULL), **blas_contexts})
        other = timings.get("numpy 1T")
        activations = repr(layer)[16:-1].split(", ")[-1]
        table.add(activations=activations, **{"numpy 1T": other, **timings})
        print(f"{activations:<34}{timings['simd 1T'] * 1e3:>9.3f}"
              f"{timings['simd NT'] * 1e3:>9.3f}{_time_cell(other, 1e3, 10, 3)}  "
              f"{_ratio_cell(other, timings['simd 1T'], 11, 2)}")
    print(f"weight memory: {layer.size_bytes() / 2**20:.2f} MiB int8 against "
          f"{weight.nbytes / 2**20:.2f} MiB float32")


def _linear_accuracy_table(record, rows=2048, features=1024, layers=3):
    """Top-1 agreement of QuantizedLinear with the float layer, per weight
    and input distribution, and the ceiling that int8 weights alone allow;
    min-max over a few random layers (it depends on the layer's near-ties)."""
    rng = np.random.default_rng(3)
    bound = 1 / np.sqrt(features)  # torch.nn.Linear's default initialization
    weights = {"gaussian W": lambda: rng.standard_normal((features, features)),
               "nn.Linear init W": lambda: rng.uniform(-bound, bound, (features, features))}
    inputs = {"gaussian x": lambda: rng.standard_normal((rows, features)),
              "relu(gaussian) x": lambda: np.maximum(rng.standard_normal((rows, features)), 0),
              "uniform[0,1) x": lambda: rng.random((rows, features))}
    print(f"\nQuantizedLinear top-1 agreement with the float layer, {rows} rows, "
          f"{features} -> {features}, min-max over {layers} layers")
    print(f"{'weights, inputs':<36}{'7-bit':>16}{'8-bit':>16}{'int8 W only':>16}")
    columns = ["7-bit min", "7-bit max", "8-bit min", "8-bit max", "int8 W only min",
               "int8 W only max"]
    table = record.table("linear accuracy", f"QuantizedLinear top-1 agreement with the float "
                         f"layer, {rows} rows, {features} -> {features}, min and max over "
                         f"{layers} random layers", ["weights", "inputs"], [], values=columns)
    for weight_name, make_weight in weights.items():
        for input_name, make_input in inputs.items():
            agree = []
            for _ in range(layers):
                weight, x = make_weight().astype(np.float32), make_input().astype(np.float32)
                top = (x.astype(np.float64) @ weight.T.astype(np.float64)).argmax(1)
                layer = quantize.QuantizedLinear(weight, reduce_range=False)
                weight_only = layer.weight_q * layer.weight_scales[:, None].astype(np.float64)
                agree.append([np.mean(quantize.QuantizedLinear(weight, reduce_range=True)(x)
                                      .argmax(1) == top),
                              np.mean(layer(x).argmax(1) == top),
                              np.mean((x @ weight_only.T).argmax(1) == top)])
            low, high = np.min(agree, axis=0), np.max(agree, axis=0)
            table.add(weights=weight_name, inputs=input_name, **dict(zip(
                columns, (float(v) for pair in zip(low, high) for v in pair))))
            print(f"{weight_name + ', ' + input_name:<36}"
                  + "".join(f"{f'{a:.1%}-{b:.1%}':>16}" for a, b in zip(low, high)))

