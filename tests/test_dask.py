"""scipix under Dask, for real: the threaded scheduler and in-process
workers run kernels on one OpenMP thread per task, and the page recipe
(examples/dask_pages.py) gives the local results on a LocalCluster of
processes and on the threaded scheduler, loading the model once per process."""
from dataclasses import replace

import numpy as np
import pytest

from scipix.optimize import _dispatch, local_thread_count, set_thread_count, simd
from scipix.optimize.config import kernel_threads

from example_scripts import example

dask = pytest.importorskip("dask")
dask_bag = pytest.importorskip("dask.bag")


@pytest.fixture(autouse=True)
def two_threads():
    set_thread_count(2)
    yield
    set_thread_count(None)


class ThreadCounts:
    """Wraps the image kernels and records the thread count of each call."""

    def __init__(self, module):
        self.module, self.counts = module, []

    def __getattr__(self, name):
        def call(*args):
            self.counts.append(args[-1])
            return getattr(self.module, name)(*args)
        return call


@pytest.fixture
def thread_counts(monkeypatch):
    recorder = ThreadCounts(_dispatch.KERNELS.image)
    monkeypatch.setattr(_dispatch, "KERNELS", replace(_dispatch.KERNELS, image=recorder))
    return recorder.counts


def _threshold(seed):
    image = np.random.default_rng(seed).integers(0, 256, (1024, 1024), dtype=np.uint8)
    return seed, int(np.count_nonzero(simd.simd_threshold(image, 100)))


def _expected(seed):
    image = np.random.default_rng(seed).integers(0, 256, (1024, 1024), dtype=np.uint8)
    return seed, int(np.count_nonzero(image > 100))


def test_threaded_scheduler_runs_each_task_on_one_openmp_thread(thread_counts):
    bag = dask_bag.from_sequence(range(8), npartitions=8)
    results = bag.map(_threshold).compute(scheduler="threads", num_workers=2)
    assert sorted(results) == [_expected(seed) for seed in range(8)]
    assert thread_counts == [1] * 8
    _threshold(0)  # the main thread keeps the process-wide count
    assert thread_counts[-1] == 2


def test_threaded_scheduler_task_may_choose_its_count(thread_counts):
    def chosen(seed):
        with local_thread_count(None):
            return _threshold(seed)

    bag = dask_bag.from_sequence(range(4), npartitions=4)
    bag.map(chosen).compute(scheduler="threads", num_workers=2)
    assert thread_counts == [2] * 4


def test_in_process_distributed_workers_run_tasks_on_one_openmp_thread():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:
        counts = client.gather(client.map(lambda _: kernel_threads(), range(4), pure=False))
    assert counts == [1] * 4 and kernel_threads() == 2


def test_page_recipe_on_the_threaded_scheduler(tmp_path):
    report = example("dask_pages").run(pages=24, workers=2, threads=True, folder=str(tmp_path))
    assert report["equal"] and report["pages"] == 24
    assert report["threads"] == [1]
    assert list(report["loads_per_process"].values()) == [1]  # the local run's model reused
    assert report["onnx"] == _has_onnxruntime()


def test_page_recipe_on_a_local_cluster_of_processes(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    # Dask's nanny sets OMP_NUM_THREADS=1 in this process before it spawns
    # the workers, and leaves it: undone after the test.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("OMP_NUM_THREADS")
    report = example("dask_pages").run(pages=24, workers=2, threads=False, folder=str(tmp_path))
    assert report["equal"] and report["pages"] == 24
    assert report["threads"] == [1]
    assert len(report["loads_per_process"]) == 2
    assert set(report["loads_per_process"].values()) == {1}  # one model per worker process
    assert report["onnx"] == _has_onnxruntime()


def _has_onnxruntime():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
