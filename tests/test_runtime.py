"""scipix.runtime on real ONNX Runtime: small models built here with
onnx.helper, and the PP-OCRv4 recognizer from rapidocr's wheel."""
import asyncio
import concurrent.futures
import os
import threading
import time
import tracemalloc

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="the runtime extra")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from scipix.optimize import set_thread_count  # noqa: E402
from scipix.optimize.batch import BatchConfig, BatchError, ProcessingFailed  # noqa: E402
from scipix.runtime import (BatchedModel, InputError, Model, ModelError,  # noqa: E402
                            ModelLoadError, RuntimeClosed, StagePipeline, choose_execution,
                            session_options)

HOUR_MS = 3_600_000
GUARD_S = 60  # a guard against a hang, never a measure


def save(tmp_path, name, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture
def add_one(tmp_path):
    """y = x + 1, x float32 (N, 3, W)."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    return save(tmp_path, "add_one", [helper.make_node("Add", ["x", "one"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "W"])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "W"])], [one])


@pytest.fixture
def lookup(tmp_path):
    """y = table[int(x)], table 10 long: an x of 10 or more fails at run
    time (an index out of bounds), a failure that depends on the data."""
    table = helper.make_tensor("table", TensorProto.FLOAT, [10], list(np.arange(10.0) * 2))
    nodes = [helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT64),
             helper.make_node("Gather", ["table", "i"], ["y"], axis=0)]
    return save(tmp_path, "lookup", nodes,
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "K"])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "K"])], [table])


@pytest.fixture(scope="module")
def recognizer_path():
    pytest.importorskip("rapidocr_onnxruntime", reason="the ocr extra")
    import rapidocr_onnxruntime
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models",
                        "ch_PP-OCRv4_rec_infer.onnx")


def runtime_threads():
    """The threads of scipix's batchers and runtimes now alive."""
    return [t for t in threading.enumerate() if t.name.startswith("scipix-")]


# ---------------------------------------------------------------- sessions

def test_session_options_defaults():
    seen = []
    options = session_options(3, optimization="basic", configure=seen.append)
    assert seen == [options]
    assert options.enable_cpu_mem_arena
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(threads=0), ValueError, "threads"),
    (dict(threads=2, optimization="max"), ValueError, "optimization"),
    (dict(threads=2, configure=5), TypeError, "configure"),
])
def test_session_options_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        session_options(**kwargs)


@pytest.mark.parametrize("execution, sessions, intra", [("shared", 1, 2), ("pool", 2, 1)])
def test_execution_shapes(add_one, execution, sessions, intra):
    with Model(add_one, execution=execution, threads=2) as model:
        assert model.concurrency == sessions
        for slot in model._slots:
            options = slot.session.get_session_options()
            assert options.intra_op_num_threads == intra
            assert options.enable_cpu_mem_arena
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_threads_follow_scipix_thread_count(add_one):
    set_thread_count(1)
    try:
        with Model(add_one) as model:
            assert model.threads == 1 and model.concurrency == 1
    finally:
        set_thread_count(None)


def test_missing_model_file(tmp_path):
    path = str(tmp_path / "nowhere.onnx")
    with pytest.raises(FileNotFoundError, match="nowhere.onnx"):
        Model(path)


def test_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("not a model")
    with pytest.raises(ModelLoadError, match="notes.onnx"):
        Model(str(path))


def test_bad_execution(add_one):
    with pytest.raises(ValueError, match="execution"):
        Model(add_one, execution="fast")


# ---------------------------------------------------------------- run

def test_run_and_specs(add_one):
    with Model(add_one, threads=2) as model:
        assert model.inputs[0].name == "x" and model.inputs[0].shape == (None, 3, None)
        x = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
        np.testing.assert_array_equal(model.run(x)[0], x + 1)
        np.testing.assert_array_equal(model.run({"x": x})[0], x + 1)
        np.testing.assert_array_equal(model.run(x[:, :, ::2])[0], x[:, :, ::2] + 1)


@pytest.mark.parametrize("feeds, match", [
    (np.zeros((2, 3, 5), np.float64), r"'add_one.onnx': input 'x' must be float32 \(\?, 3, \?\), "
                                      r"got float64 \(2, 3, 5\)"),
    (np.zeros((2, 4, 5), np.float32), r"input 'x' must be float32 \(\?, 3, \?\), got float32 "
                                      r"\(2, 4, 5\)"),
    (np.zeros((3, 5), np.float32), r"input 'x' must be"),
    ({"y": np.zeros((2, 3, 5), np.float32)}, "'add_one.onnx' has no input 'y'"),
    ({}, "input 'x' is missing"),
])
def test_inputs_the_model_refuses(add_one, feeds, match):
    with Model(add_one, threads=1) as model:
        with pytest.raises(InputError, match=match):
            model.run(feeds)


def test_run_failure_names_the_model(lookup):
    with Model(lookup, threads=1) as model:
        np.testing.assert_array_equal(model.run(np.array([[1, 2]], np.float32))[0], [[2, 4]])
        with pytest.raises(ModelError, match=r"'lookup.onnx' failed on inputs x float32 \(1, 2\)"):
            model.run(np.array([[1, 12]], np.float32))
        assert model.run(np.array([[3]], np.float32))[0].tolist() == [[6]]  # still usable


def test_run_into_out_allocates_no_arrays(add_one):
    """Outputs land in the caller's arrays, and a stream of runs allocates
    nothing that stays: the peak traced during 1000 runs of a 400 kB
    output stays far below one output, and what remains after them is a
    few bytes.  (ONNX Runtime's Python binding keeps about 100 kB over its
    first few thousand runs, then nothing more: the warm-up runs first.)"""
    with Model(add_one, threads=1) as model:
        x = np.ones((8, 3, 4096), np.float32)
        out = [np.empty(shape, np.float32) for shape in model.output_shapes(x)]
        assert model.run(x, out=out)[0] is out[0]
        np.testing.assert_array_equal(out[0], 2)
        tracemalloc.start()
        try:
            for _ in range(5000):
                model.run(x, out=out)
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            for _ in range(1000):
                model.run(x, out=out)
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak - before < out[0].nbytes // 10, (before, peak)
        assert after - before < 4096


def test_run_out_must_match(add_one):
    with Model(add_one, threads=1) as model:
        x = np.ones((1, 3, 4), np.float32)
        with pytest.raises(ValueError, match="out must hold 1 arrays"):
            model.run(x, out=[])
        with pytest.raises(ValueError, match="C-contiguous"):
            model.run(x, out=[np.empty((1, 3, 8), np.float32)[:, :, ::2]])


def test_concurrent_runs_from_threads(add_one):
    with Model(add_one, threads=2) as model, concurrent.futures.ThreadPoolExecutor(6) as pool:
        inputs = [np.full((1, 3, 1 + i % 7), i, np.float32) for i in range(60)]
        for x, (y,) in zip(inputs, pool.map(model.run, inputs)):
            np.testing.assert_array_equal(y, x + 1)


def test_close_waits_for_runs_and_refuses_new_ones(add_one):
    model = Model(add_one, threads=1)
    slot = model._acquire()  # a run in progress
    closer = threading.Thread(target=model.close)
    closer.start()
    closer.join(0.05)
    assert closer.is_alive()  # waits for the run
    model._release(slot)
    closer.join(GUARD_S)
    assert not closer.is_alive() and model.closed and not model._slots
    with pytest.raises(RuntimeClosed, match="add_one.onnx"):
        model.run(np.ones((1, 3, 2), np.float32))


def test_choose_execution(add_one):
    execution, seconds = choose_execution(add_one, np.ones((4, 3, 64), np.float32), threads=2,
                                          rounds=2)
    assert execution in ("shared", "pool") and set(seconds) == {"shared", "pool"}
    assert seconds[execution] == min(seconds.values())


# ---------------------------------------------------------------- batching

def test_batched_results_map_back_to_callers(add_one):
    rng = np.random.default_rng(1)
    items = [rng.random((3, int(w)), dtype=np.float32) for w in rng.integers(1, 40, 120)]
    threads = set(runtime_threads())
    with Model(add_one, threads=2) as model, BatchedModel(model, pad_to=(1, 8)) as batched:
        results = batched(items)
        stats = batched.stats()
    assert set(runtime_threads()) == threads
    for item, result in zip(items, results):
        assert result.shape == (3, -(-item.shape[1] // 8) * 8)
        np.testing.assert_array_equal(result[:, :item.shape[1]], item + 1)
        np.testing.assert_array_equal(result[:, item.shape[1]:], 1)  # zero padding + 1
    assert stats.batching.items == 120 and stats.batching.failed_items == 0
    assert sum(size * count for size, count in stats.batch_sizes.items()) == 120
    padded = sum(3 * -(-i.shape[1] // 8) * 8 for i in items)
    used = sum(i.size for i in items)
    assert stats.padding_share == pytest.approx((padded - used) / padded)
    assert stats.batching.p50_latency_ms <= stats.batching.p99_latency_ms


def test_batched_from_threads_and_asyncio_together(add_one):
    with Model(add_one, threads=2) as model, \
            BatchedModel(model, config=BatchConfig(max_batch_size=8, max_wait_ms=1)) as batched:
        def from_thread(seed):
            x = np.full((3, 1 + seed % 5), seed, np.float32)
            return seed, batched.submit(x).result(GUARD_S)

        async def from_loop():
            xs = [np.full((3, 1 + s % 5), s, np.float32) for s in range(100, 160)]
            return list(zip(range(100, 160), await asyncio.gather(*map(batched.infer, xs))))

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            threaded = pool.map(from_thread, range(100))
            awaited = asyncio.run(from_loop())
            for seed, y in list(threaded) + awaited:
                np.testing.assert_array_equal(y, np.full((3, 1 + seed % 5), seed + 1))
        assert batched.stats().batching.items == 160
        assert max(batched.stats().batch_sizes) > 1


def test_pool_buffers_are_reused(add_one):
    """Each session keeps one input and one output buffer per padded shape:
    the batches of a shape all see the same memory."""
    seen = set()

    def finish(outputs, items):
        seen.add(outputs[0].__array_interface__["data"][0])
        return [row.copy() for row in outputs[0]]

    with Model(add_one, threads=1) as model, \
            BatchedModel(model, finish=finish, pad_to=(1, 16)) as batched:
        for _ in range(20):
            batched([np.ones((3, 10), np.float32)] * 3)
    assert len(seen) == 1


def test_item_the_model_refuses(add_one):
    with Model(add_one, threads=1) as model, BatchedModel(model) as batched:
        with pytest.raises(InputError, match=r"'add_one.onnx': an item for input 'x' must be "
                                             r"float32 \(3, \?\)"):
            batched.submit(np.zeros((4, 5), np.float32))
        with pytest.raises(TypeError, match="must be an ndarray"):
            batched.submit([1, 2, 3])


def test_failing_batch_answers_its_callers_only(lookup):
    """Items of one width share batches: the batch with the bad item fails
    (every caller in it answered), the other widths succeed."""
    good = [np.full((2,), i, np.float32) for i in range(9)]
    bad = [np.array([1, 2, 3], np.float32), np.array([1, 15, 3], np.float32)]
    with Model(lookup, threads=2) as model, BatchedModel(model) as batched:
        futures = [batched.submit(x) for x in good + bad]
        concurrent.futures.wait(futures, GUARD_S)
    for x, future in zip(good, futures):
        np.testing.assert_array_equal(future.result(), x * 2)
    failure = futures[-1].exception()
    assert isinstance(failure, ProcessingFailed)
    assert isinstance(failure.__cause__, ModelError) and "lookup.onnx" in str(failure.__cause__)


def test_cancelled_request_is_not_run(add_one):
    patient = BatchConfig(max_batch_size=8, max_wait_ms=HOUR_MS, preferred_batch_size=8)
    with Model(add_one, threads=1) as model:
        batched = BatchedModel(model, config=patient)

        async def main():
            task = asyncio.ensure_future(batched.infer(np.ones((3, 2), np.float32)))
            for _ in range(50):
                await asyncio.sleep(0.01)
                if batched.stats().batching.queue_size:
                    break
            assert batched.stats().batching.queue_size == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(50):
                if not batched.stats().batching.queue_size:
                    break
                await asyncio.sleep(0.01)

        asyncio.run(main())
        batched.close()
        assert batched.stats().batching.items == 0
        assert batched.stats().batching.queue_size == 0


def test_close_under_load_answers_everyone_and_leaks_nothing(recognizer_path):
    """500 requests from 4 threads, closed without draining while batches
    run: every future is answered (a result or a BatchError) and no thread
    of the runtime is left."""
    rng = np.random.default_rng(0)
    lines = [rng.random((3, 48, int(w)), dtype=np.float32) for w in rng.integers(20, 200, 16)]
    threads = set(runtime_threads())
    with Model(recognizer_path, threads=2) as model:
        batched = BatchedModel(model, pad_to=(1, 1, 32),
                               config=BatchConfig(max_batch_size=4, max_wait_ms=1))
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [f for chunk in pool.map(
                lambda k: [batched.submit(lines[(k + i) % 16]) for i in range(125)], range(4))
                for f in chunk]
        batched.close(drain=False)
        done, pending = concurrent.futures.wait(futures, GUARD_S)
        assert not pending
        outcomes = [f.exception() for f in futures]
        assert all(e is None or isinstance(e, BatchError) for e in outcomes)
        assert any(e is not None for e in outcomes)  # some were still waiting
        with pytest.raises(RuntimeClosed):
            batched.submit(lines[0])
    # A batch abandoned in flight finishes alone: its thread ends after it.
    deadline = time.monotonic() + GUARD_S
    while set(runtime_threads()) != threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(runtime_threads()) == threads


def test_recognizer_batched_as_unbatched(recognizer_path):
    """Real PP-OCRv4 recognizer: each line's probabilities from a batch of
    mixed lines equal its own run at the same padded width."""
    rng = np.random.default_rng(2)
    lines = [rng.random((3, 48, int(w)), dtype=np.float32) * 2 - 1
             for w in (40, 61, 64, 100, 120, 127)]
    with Model(recognizer_path, execution="pool", threads=2) as model:
        with BatchedModel(model, pad_to=(1, 1, 32)) as batched:
            results = batched(lines)
        for line, result in zip(lines, results):
            width = -(-line.shape[2] // 32) * 32
            padded = np.zeros((1, 3, 48, width), np.float32)
            padded[0, :, :, :line.shape[2]] = line
            alone = model.run(padded)[0][0]
            assert result.shape == alone.shape == (width // 8, 6625)
            np.testing.assert_allclose(result, alone, atol=1e-4)


def test_batched_with_prepare(add_one):
    """prepare writes the batch (as a scipix kernel would), shape_of says
    which batch an item joins."""
    def prepare(items, out):
        for row, (value, width) in zip(out, items):
            row.fill(0)
            row[:, :width] = value

    with Model(add_one, threads=2) as model, BatchedModel(
            model, prepare=prepare, shape_of=lambda item: (3, 8 * -(-item[1] // 8)),
            unpadded_shape=lambda item: (3, item[1]),
            finish=lambda outputs, items: [float(row.sum()) for row in outputs[0]]) as batched:
        results = batched([(v, w) for v, w in [(1.0, 3), (2.0, 8), (0.5, 9)]])
        assert results == [3 * 3 * 2 + 3 * 5, 3 * 8 * 3, 3 * 9 * 1.5 + 3 * 7]
        assert 0 < batched.stats().padding_share < 1


def test_prepare_needs_shape_of(add_one):
    with Model(add_one, threads=1) as model:
        with pytest.raises(ValueError, match="prepare and shape_of"):
            BatchedModel(model, prepare=lambda items, out: None)


def test_target_latency_uses_the_adaptive_rule(add_one):
    with Model(add_one, threads=2) as model, BatchedModel(model, target_latency=0.5) as batched:
        assert len(batched([np.ones((3, 4), np.float32)] * 40)) == 40
        assert batched._batcher.cost_model() is not None


# ---------------------------------------------------------------- stages

def test_stage_pipeline_keeps_every_item():
    def first(x):
        if x == 3:
            raise ValueError("three")
        return x * 10

    results = StagePipeline(first, lambda y: y + 1, queue_size=1).run(range(6))
    assert [r.index for r in results] == list(range(6))
    assert [r.value for r in results if r.ok] == [1, 11, 21, 41, 51]
    failed = results[3]
    assert not failed.ok and failed.stage == 1 and str(failed.error) == "three"
    assert failed.value == 3


def test_stage_pipeline_reads_its_input_lazily():
    read = []

    def inputs():
        for i in range(100):
            read.append(i)
            yield i

    stream = StagePipeline(lambda x: x, lambda x: x, queue_size=1).stream(inputs())
    assert next(stream).value == 0
    assert len(read) < 10  # bounded queues: the input is not read ahead
    stream.close()


def test_stage_pipeline_of_models(add_one, lookup):
    with Model(add_one, execution="shared", threads=1) as first, \
            Model(lookup, threads=1) as second:
        pipeline = StagePipeline(lambda x: first.run(x)[0][:, 0, :],
                                 lambda y: second.run(y)[0])
        results = pipeline.run([np.full((1, 3, 2), v, np.float32) for v in (1, 20, 4)])
    assert results[0].value.tolist() == [[4, 4]]
    assert isinstance(results[1].error, ModelError) and results[1].stage == 2
    assert results[2].value.tolist() == [[10, 10]]


def test_two_batchers_of_one_model(add_one):
    """Batchers with different batch sizes share the model's sessions,
    each with buffers of its own size."""
    items = [np.ones((3, 5), np.float32)] * 6
    with Model(add_one, threads=1) as model, \
            BatchedModel(model, config=BatchConfig(max_batch_size=1)) as single, \
            BatchedModel(model, config=BatchConfig(max_batch_size=8)) as several:
        assert [r.shape for r in single(items)] == [(3, 5)] * 6
        assert [r.shape for r in several(items)] == [(3, 5)] * 6


def test_guide_examples_run(recognizer_path):
    """The code blocks of docs/guide/runtime.rst run as written."""
    import re
    import textwrap
    guide = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "docs", "guide", "runtime.rst")
    text = open(guide, encoding="utf-8").read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    assert blocks
    for block in blocks:
        exec(compile(textwrap.dedent(block), guide, "exec"), {})


def test_requests_of_one_call_share_their_first_batch(add_one):
    """A call's requests are queued together: with every group ready at
    once (preferred size 1), they still form one batch."""
    config = BatchConfig(max_batch_size=16, max_wait_ms=1, preferred_batch_size=1)
    with Model(add_one, threads=1) as model, BatchedModel(model, config=config) as batched:
        batched([np.ones((3, 4), np.float32)] * 10)
        assert batched.stats().batch_sizes == {10: 1}
