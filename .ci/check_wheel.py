"""Check a repaired scipix wheel against the scipix installed from it.

Run with the Python of the environment the wheel is installed in:
``python .ci/check_wheel.py WHEEL``.  It fails unless the wheel holds every
kernel family of every variant of this architecture and the reference, the
other extension modules, every stub and ``py.typed``, a vendored libgomp,
and extension modules without debug information.
"""
import pathlib
import platform
import subprocess
import sys
import tempfile
import zipfile

from scipix.optimize import _dispatch


def main(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    modules = {name.split(".")[0].replace("/", ".") for name in names if name.endswith(".so")}
    variants = list(_dispatch._ARCH_VARIANTS[platform.machine().lower()]) + [_dispatch.REFERENCE]
    expected = {module for variant in variants
                for module in _dispatch.module_names(variant).values()}
    expected |= {f"scipix.optimize.{name}" for name in
                 ("_cpu_features", "_openmp_helpers", "_memory")}
    problems = [f"missing extension module {module}" for module in sorted(expected - modules)]

    installed = pathlib.Path(_dispatch.__file__).parent.parent
    stubs = {str(path.relative_to(installed.parent)) for path in installed.rglob("*.pyi")}
    problems += [f"missing {name}" for name in sorted(stubs | {"scipix/py.typed"})
                 if name not in names]
    if not stubs:
        problems.append("no .pyi stubs found")

    libgomp = [name for name in names if name.startswith("scipix.libs/libgomp")]
    if not libgomp:
        problems.append("libgomp is not vendored (scipix.libs/libgomp-*.so)")

    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            if ".so" in name:
                path = zipfile.ZipFile(wheel).extract(name, folder)
                sections = subprocess.run(["objdump", "-h", path], capture_output=True,
                                          text=True, check=True).stdout
                if ".debug_info" in sections:
                    problems.append(f"{name} has debug information")

    so_bytes = sum(info.file_size for info in zipfile.ZipFile(wheel).infolist()
                   if ".so" in info.filename)
    print(f"{pathlib.Path(wheel).name}: {pathlib.Path(wheel).stat().st_size / 1e6:.1f} MB, "
          f"{len(modules)} extension modules + {libgomp}, {so_bytes / 1e6:.1f} MB of .so "
          f"unpacked, {len(stubs)} stubs, built variants {_dispatch.built_variants()}")
    for problem in problems:
        print("check_wheel:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
