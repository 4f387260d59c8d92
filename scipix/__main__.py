"""Command line: ``python -m scipix {demo,detect-features,bench,soak}``."""
import argparse
import sys

import scipix


def _detect_features(args):
    scipix.show_runtime()


def _demo(args):
    from .tools.demo import run_demo
    run_demo(args.pages, args.size)


def _bench(args):
    from .tools.bench import run_bench
    from .tools.bench_record import BenchRecord
    record = run_bench(args.sizes, args.repeat, args.kernels, args.batch,
                       BenchRecord(args.argv))
    if args.json:
        record.write(args.json)


def _soak(args):
    if args.video is not None:
        if args.video <= 0:
            sys.exit("--video must be a positive number of minutes")
        from .tools.soak_video import soak_video
        soak_video(args.video)
        return
    from .tools.soak import run_soaks
    run_soaks(args.scale)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scipix", description=scipix.__doc__)
    parser.add_argument("--version", action="version", version=f"scipix {scipix.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("detect-features", help="print CPU features and the chosen variant") \
        .set_defaults(run=_detect_features)

    demo = commands.add_parser("demo", help="run the spec's integration example")
    demo.add_argument("--pages", type=int, default=8, help="synthetic pages (default 8)")
    demo.add_argument("--size", type=int, default=1024, help="page side in pixels (default 1024)")
    demo.set_defaults(run=_demo)

    bench = commands.add_parser("bench", help="compare optimized, scalar and OpenCV kernels")
    bench.add_argument("--sizes", type=int, nargs="+", default=[16, 256, 1024, 2048, 4096])
    bench.add_argument("--repeat", type=int, default=15, help="timed repeats (median kept)")
    bench.add_argument("--kernels", nargs="+", default=None,
                       help="subset of: grayscale threshold normalize bilinear area "
                            "batch scaling overhead memory batching quantize gemm model ocr "
                            "resample recipes video runtime document")
    bench.add_argument("--batch", type=int, default=64,
                       help="images in the preprocess_batch tables (default 64)")
    bench.add_argument("--json", metavar="FILE",
                       help="also write every table, with the machine, to FILE")
    bench.set_defaults(run=_bench)

    soak = commands.add_parser("soak", help="leak checks: memory and descriptors under "
                                            "a million calls of each operation")
    soak.add_argument("--scale", type=float, default=1.0,
                      help="fraction of the full call counts (default 1)")
    soak.add_argument("--video", type=float, metavar="MINUTES",
                      help="instead: a paced 1080p30 stream this long into a model slower "
                           "than real time (policy latest_only): latency and memory")
    soak.set_defaults(run=_soak)

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as given, kept with recorded results
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
