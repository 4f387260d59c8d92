"""scipix's asv suite: optimized kernels against the scalar reference and OpenCV.

The suite is self-contained: it reaches scipix only through its public API
(:func:`asv_bench._api.public`), so ``asv run`` can measure past commits;
a benchmark whose API a commit predates is skipped there.  Nothing is
printed at import: asv imports the suite once per benchmark, and the
runtime report is printed once per run by ``bench_runtime.Threads``.
"""
