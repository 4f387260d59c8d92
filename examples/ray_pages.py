"""Classify page files with Ray: the work of ``page_recipe.classify_pages``
as Ray tasks (given the model's folder, or the mapped model by reference
through ``ray.put``), on an actor pool, and with Ray Data's ``map_batches``
and a callable class (when ``ray[data]`` is installed); checks that each
equals a local run, and that scipix's thread count follows each task's
``num_cpus``.

    pip install "scipix[ray]"
    python examples/ray_pages.py --pages 256 --workers 2

Thread rules: Ray sets ``OMP_NUM_THREADS`` to a task's or actor's
``num_cpus`` (1 when unset) in the worker process that runs it, unless the
workers inherited the variable from the driver's environment; tasks
run in the worker's main thread; scipix follows a new value of
``OMP_NUM_THREADS``, so its kernels use ``num_cpus`` threads, also in a
worker process reused from a task with another ``num_cpus``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray.util import ActorPool  # noqa: E402
from scipix.optimize import memory  # noqa: E402

import page_recipe  # noqa: E402

classify_task = ray.remote(page_recipe.classify_pages)


class PageActor:
    """One model per actor, loaded when the actor starts."""

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        page_recipe.classifier(model_dir)

    def classify(self, paths: list[str]) -> list[dict[str, object]]:
        return page_recipe.classify_pages(paths, self.model_dir)


class BatchClassifier:
    """Ray Data's callable class: a batch ``{"path": array}`` -> the same
    with ``logits`` (N, CLASSES) float32, and ``onnx_logits`` when ONNX
    Runtime is installed."""

    def __init__(self, model_dir: str) -> None:
        self.classifier = page_recipe.PageClassifier(model_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [str(path) for path in batch["path"]]
        ours, theirs = self.classifier.logits([np.load(path) for path in paths])
        columns = {"path": np.array(paths), "logits": ours}
        if theirs is not None:
            columns["onnx_logits"] = theirs
        return columns


def _chunks(paths: list[str], count: int) -> list[list[str]]:
    bounds = np.linspace(0, len(paths), count + 1).astype(int)
    return [paths[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def with_tasks(paths: list[str], model_dir: str, partitions: int,
               num_cpus: int = 1) -> list[dict[str, object]]:
    """Each partition as a Ray task of ``num_cpus`` CPUs."""
    refs = [classify_task.options(num_cpus=num_cpus).remote(chunk, model_dir)
            for chunk in _chunks(paths, partitions)]
    return [result for part in ray.get(refs) for result in part]


def with_model_reference(paths: list[str], model_dir: str,
                         partitions: int) -> list[dict[str, object]]:
    """Each partition as a Ray task given the model mapped in the driver,
    by reference: ``ray.put`` stores the ``MmapModel`` once (it pickles as
    its path and a check that the file is the same) and each worker maps the
    file again, all mappings sharing the page cache's one copy."""
    model = ray.put(memory.MmapModel.from_file(Path(model_dir) / page_recipe.WEIGHT_FILE))
    refs = [classify_task.remote(chunk, model) for chunk in _chunks(paths, partitions)]
    return [result for part in ray.get(refs) for result in part]


def with_actor_pool(paths: list[str], model_dir: str, partitions: int,
                    actors: int) -> list[dict[str, object]]:
    """The partitions spread over a pool of ``actors`` one-CPU actors."""
    actor = ray.remote(num_cpus=1)(PageActor)
    pool = ActorPool([actor.remote(model_dir) for _ in range(actors)])
    parts = pool.map(lambda a, chunk: a.classify.remote(chunk), _chunks(paths, partitions))
    return [result for part in parts for result in part]


def with_ray_data(paths: list[str], model_dir: str, actors: int) -> list[dict[str, object]]:
    """``ray.data`` rows of paths through ``BatchClassifier`` on ``actors`` actors."""
    import ray.data
    ray.data.DataContext.get_current().enable_progress_bars = False
    dataset = ray.data.from_items([{"path": path} for path in paths]).map_batches(
        BatchClassifier, fn_constructor_args=(model_dir,), batch_size=16,
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=1, batch_format="numpy")
    return [{"path": str(row["path"]), "logits": row["logits"],
             "onnx_logits": row.get("onnx_logits")} for row in dataset.take_all()]


def start_ray(cpus: int) -> None:
    """A local Ray instance of ``cpus`` CPUs whose workers can import this
    module and ``page_recipe`` (the classes above travel by reference when
    this file is imported rather than run)."""
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"py_modules": [page_recipe.__file__, __file__]})


def run(pages: int, workers: int, folder: str) -> dict[str, Any]:
    """Make ``pages`` pages and the model in ``folder``, classify them locally
    and in each Ray way (on a local Ray instance of ``workers`` CPUs unless
    Ray is running); report equality with the local run, pages per second of
    the tasks, model loads per process and the threads scipix used for each
    ``num_cpus``."""
    paths = page_recipe.make_pages(folder, pages)
    model_dir = page_recipe.make_model(folder)
    local = page_recipe.classify_pages(paths, model_dir)
    partitions = 4 * workers
    started = not ray.is_initialized()
    if started:
        start_ray(workers)
    try:
        with_tasks(paths, model_dir, partitions)  # workers start and load the model
        start = time.perf_counter()
        tasks = with_tasks(paths, model_dir, partitions)
        seconds = time.perf_counter() - start
        threads = {n: sorted({r["threads"] for r in with_tasks(paths, model_dir, 1, n)})
                   for n in range(1, workers + 1)}
        pool = with_actor_pool(paths, model_dir, partitions, workers)
        by_reference = with_model_reference(paths, model_dir, partitions)
        report = {"tasks_equal": page_recipe.same_results(local, tasks),
                  "by_reference_equal": page_recipe.same_results(local, by_reference),
                  "actor_pool_equal": page_recipe.same_results(local, pool),
                  "pages_per_second": len(tasks) / seconds,
                  "threads_by_num_cpus": threads,
                  "loads_per_process": {r["pid"]: r["loads"] for r in tasks + pool},
                  "onnx": tasks[0]["onnx_logits"] is not None}
        try:
            report["ray_data_equal"] = page_recipe.same_results(
                local, with_ray_data(paths, model_dir, workers))
        except ImportError:
            report["ray_data_equal"] = None  # ray[data] not installed
        return report
    finally:
        if started:
            ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the Ray instance")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = run(args.pages, args.workers, folder)
    print(report)
    if False in (report["tasks_equal"], report["by_reference_equal"],
                 report["actor_pool_equal"], report["ray_data_equal"]):
        sys.exit("results differ from the local run")


if __name__ == "__main__":
    main()
