"""scipix under Ray, for real: the thread count follows each task's
``num_cpus`` (Ray sets OMP_NUM_THREADS per task in workers it reuses), and
the page recipe (examples/ray_pages.py) gives the local results as tasks, on
an actor pool and through Ray Data, loading the model once per process."""
import os

import pytest

from example_scripts import example

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_pages():
    recipe = example("ray_pages")
    with pytest.MonkeyPatch.context() as patch:
        # Ray sets OMP_NUM_THREADS per task only where its workers did not
        # inherit one (a Dask LocalCluster leaves it at 1 in this process).
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.delenv("OMP_NUM_THREADS")
        recipe.start_ray(2)
        yield recipe
        ray.shutdown()


def test_thread_count_follows_num_cpus_in_a_reused_worker(ray_pages):
    def threads_in_task():  # local: Ray ships it by value, the workers cannot import tests
        from scipix.optimize.config import kernel_threads
        return os.getpid(), os.environ.get("OMP_NUM_THREADS"), kernel_threads()

    task = ray.remote(threads_in_task)
    seen = [ray.get(task.options(num_cpus=n).remote()) for n in (1, 2, 1, 2)]
    assert [(env, threads) for _, env, threads in seen] == \
        [("1", 1), ("2", 2), ("1", 1), ("2", 2)]
    # Ray reuses its idle worker: scipix was imported there once, with
    # OMP_NUM_THREADS=1, and still follows the later values.
    assert len({pid for pid, _, _ in seen}) < len(seen)


def test_page_recipe(ray_pages, tmp_path):
    report = ray_pages.run(pages=32, workers=2, folder=str(tmp_path))
    assert report["tasks_equal"] and report["actor_pool_equal"]
    assert report["by_reference_equal"]
    assert report["threads_by_num_cpus"] == {1: [1], 2: [2]}
    assert set(report["loads_per_process"].values()) == {1}
    try:
        import ray.data  # noqa: F401
    except ImportError:
        assert report["ray_data_equal"] is None
    else:
        assert report["ray_data_equal"] is True
