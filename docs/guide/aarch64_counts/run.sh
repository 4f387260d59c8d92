#!/usr/bin/env bash
# Instructions executed per output on aarch64, counted under qemu-user (no
# ARM hardware needed, no timing): docs/guide/aarch64.rst's tables.  Needs
# aarch64-linux-gnu-gcc, qemu-aarch64 (non-static, plugins enabled) and gcc.
# The "gcc" rows compile the headers with the hand-written NEON blocks cut
# out, to show what GCC's vectorization gives without them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
include="$here/../../../scipix/optimize/include"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gcc -shared -fPIC -O2 "$here/insns.c" -o "$work/libinsns.so"
common=(-fno-math-errno -fno-trapping-math -ffp-contract=off -static -lm)
scalar=(-O2 -march=armv8-a+nosimd -fno-tree-vectorize -fno-tree-slp-vectorize
        -DSCIPIX_SCALAR_REFERENCE)
mkdir "$work/gcc"
cp "$include"/*.h "$work/gcc/"
python3 - "$work/gcc" <<'PY'
import pathlib, re, sys
for name in ("scipix_blob.h", "scipix_resize.h"):
    path = pathlib.Path(sys.argv[1], name)
    text = path.read_text()
    # the __ARM_NEON blocks of the hand-written paths
    text = re.sub(r"#if defined\(__ARM_NEON\) && !defined\(SCIPIX_SCALAR_REFERENCE\)\n"
                  r"(?:(?!#endif).*\n)*?#endif\n", "", text)
    path.write_text(text)
PY
count() { qemu-aarch64 -plugin "$work/libinsns.so" -d plugin "$@" 2>&1 | awk '/^insns/ {print $2}'; }
build() {  # name source include flags...
    local name=$1 source=$2 inc=$3; shift 3
    aarch64-linux-gnu-gcc "$@" -I"$inc" "$here/$source" -o "$work/$name" "${common[@]}" 2>/dev/null
}
per() { python3 -c "print(f'{($2 - $1) / $3:.2f}')"; }

echo "INT8 product, 64 more rows of 64 x 1024 by 1024 x 256: multiply-adds per instruction"
for variant in neoni8mm neondot neon scalar; do
    case $variant in
        neoni8mm) flags=(-O3 -march=armv8.2-a+dotprod+i8mm) ;;
        neondot) flags=(-O3 -march=armv8.2-a+dotprod) ;;
        neon) flags=(-O3 -march=armv8-a) ;;
        scalar) flags=("${scalar[@]}") ;;
    esac
    build "q_$variant" qgemm.c "$include" "${flags[@]}"
    small=$(count "$work/q_$variant" 64 256 1024); big=$(count "$work/q_$variant" 128 256 1024)
    python3 -c "d = $big - $small; print(f'  $variant: {d} instructions, {64 * 256 * 1024 / d:.2f}')"
done

echo "instructions per output value"
for variant in neon gcc scalar; do
    case $variant in
        neon) inc=$include; flags=(-O3 -march=armv8-a) ;;
        gcc) inc=$work/gcc; flags=(-O3 -march=armv8-a) ;;
        scalar) inc=$include; flags=("${scalar[@]}") ;;
    esac
    build "h_$variant" half.c "$inc" "${flags[@]}"
    build "b_$variant" bilinear.c "$inc" "${flags[@]}"
    line="  $variant: float16 $(per "$(count "$work/h_$variant" 1)" "$(count "$work/h_$variant" 11)" 40960)"
    for channels in 1 3 4; do
        values=$(qemu-aarch64 "$work/b_$variant" "$channels" 1 | awk '{print $2}')
        line+=", bilinear ${channels}ch $(per "$(count "$work/b_$variant" "$channels" 1)" \
                 "$(count "$work/b_$variant" "$channels" 11)" $((10 * values)))"
    done
    echo "$line"
done

echo "resampling, 1080 x 1440 -> 224 x 298 RGB (Pillow's arithmetic): instructions per output value"
for variant in neondot neon scalar; do
    case $variant in
        neondot) flags=(-O3 -march=armv8.2-a+dotprod) ;;
        neon) flags=(-O3 -march=armv8-a) ;;
        scalar) flags=("${scalar[@]}") ;;
    esac
    build "r_$variant" resample.c "$include" "${flags[@]}"
    line="  $variant:"
    for filter in 2 4; do
        line+=" filter $filter $(per "$(count "$work/r_$variant" 1440 1080 298 224 $filter 1)" \
                 "$(count "$work/r_$variant" 1440 1080 298 224 $filter 2)" $((298 * 224 * 3)))"
    done
    echo "$line"
done
