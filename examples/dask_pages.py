"""Classify page files with Dask: a ``dask.bag`` of paths, one
``preprocess_batch`` + ``QuantizedLinear`` (+ ONNX Runtime) call per
partition, on a ``distributed.LocalCluster`` of worker processes or on
Dask's threaded scheduler; checks that the results equal a local run.

    pip install "scipix[dask]"
    python examples/dask_pages.py --pages 256 --workers 2             # processes
    python examples/dask_pages.py --pages 256 --workers 2 --threads   # threaded scheduler

Thread rules: Dask's nanny starts each worker process with
``OMP_NUM_THREADS=1``, and tasks run in worker threads, where scipix's
kernels use one OpenMP thread unless the task sets its own count
(``local_thread_count``): workers x threads per worker = cores, no
oversubscription.  The threaded scheduler runs tasks in a pool of threads of
this process: one OpenMP thread each, as well.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # page_recipe, for the workers too

import dask.bag  # noqa: E402

import page_recipe  # noqa: E402


def classify(paths: list[str], model_dir: str, partitions: int,
             **compute: object) -> list[dict[str, object]]:
    """``page_recipe.classify_pages`` over a bag of ``paths`` in ``partitions``
    partitions; ``compute`` goes to ``Bag.compute`` (e.g. ``scheduler=client``
    or ``scheduler="threads", num_workers=2``)."""
    bag = dask.bag.from_sequence(paths, npartitions=partitions)
    return bag.map_partitions(page_recipe.classify_pages, model_dir).compute(**compute)


def run(pages: int, workers: int, threads: bool, folder: str) -> dict[str, object]:
    """Make ``pages`` pages and the model in ``folder``, classify them locally
    and with Dask, and report: equal results, pages per second, model loads
    per worker process, and the threads scipix's kernels used."""
    paths = page_recipe.make_pages(folder, pages)
    model_dir = page_recipe.make_model(folder)
    local = page_recipe.classify_pages(paths, model_dir)
    partitions = 4 * workers
    if threads:
        start = time.perf_counter()
        remote = classify(paths, model_dir, partitions, scheduler="threads",
                          num_workers=workers)
        seconds = time.perf_counter() - start
    else:
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            classify(paths, model_dir, partitions, scheduler=client)  # workers load the model
            start = time.perf_counter()
            remote = classify(paths, model_dir, partitions, scheduler=client)
            seconds = time.perf_counter() - start
    loads: dict[int, int] = {}
    for result in remote:
        loads[result["pid"]] = max(loads.get(result["pid"], 0), result["loads"])
    return {"equal": page_recipe.same_results(local, remote), "pages": len(remote),
            "pages_per_second": len(remote) / seconds, "loads_per_process": loads,
            "threads": sorted({result["threads"] for result in remote}),
            "onnx": remote[0]["onnx_logits"] is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (threads with --threads)")
    parser.add_argument("--threads", action="store_true",
                        help="Dask's threaded scheduler instead of a LocalCluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = run(args.pages, args.workers, args.threads, folder)
    print(report)
    if not report["equal"]:
        sys.exit("results differ from the local run")


if __name__ == "__main__":
    main()
