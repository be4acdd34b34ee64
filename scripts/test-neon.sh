#!/usr/bin/env bash
# Cross-builds the C++ tests for AArch64 and runs them under qemu-aarch64:
# kernel_test, qgemm_test and engine_test, each once on the best kernels (the NEON
# table) and once with CROSSRANK_ISA=ref; and bgemm_test (the reference bf16
# GEMM: no NEON bf16 kernel yet, and its test says NOT RUN for x86 tables). Needs Debian's cross toolchain,
# qemu user mode and the GoogleTest sources (built here for the target).
#   usage: scripts/test-neon.sh [extra gtest args, e.g. --gtest_filter=...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build/aarch64"
gtest_src="${CROSSRANK_GTEST_SOURCE_DIR:-/usr/src/googletest}"
sysroot=/usr/aarch64-linux-gnu
install_hint="apt-get install -y g++-aarch64-linux-gnu qemu-user googletest cmake"

missing=()
for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc qemu-aarch64 cmake; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[[ -d "$sysroot/lib" ]] || missing+=("$sysroot (the aarch64 C library)")
[[ -f "$gtest_src/CMakeLists.txt" ]] || missing+=("$gtest_src (GoogleTest sources)")
if ((${#missing[@]} > 0)); then
  echo "test-neon: missing: ${missing[*]}" >&2
  echo "test-neon: install them with: $install_hint" >&2
  exit 1
fi

cmake -S "$root" -B "$build" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCROSSRANK_BUILD_TESTS=ON \
  -DCROSSRANK_GTEST_SOURCE_DIR="$gtest_src"
cmake --build "$build" --target kernel_test qgemm_test engine_test bgemm_test -j "$(nproc)"

# The tests must really run the NEON table, not just the reference.
for test in kernel_test qgemm_test; do
  if ! qemu-aarch64 -L "$sysroot" "$build/$test" --gtest_list_tests | grep -Eq '/neon( |$)'; then
    echo "test-neon: $test has no NEON test instances" >&2
    exit 1
  fi
done

status=0
for test in kernel_test qgemm_test engine_test; do
  for isa in best ref; do
    echo "=== $test ($isa kernels, qemu-aarch64) ==="
    start=$SECONDS
    if [[ $isa == ref ]]; then
      env CROSSRANK_ISA=ref qemu-aarch64 -L "$sysroot" "$build/$test" "$@" || status=1
    else
      env -u CROSSRANK_ISA qemu-aarch64 -L "$sysroot" "$build/$test" "$@" || status=1
    fi
    echo "=== $test ($isa kernels): $((SECONDS - start)) s ==="
  done
done
echo "=== bgemm_test (qemu-aarch64) ==="
qemu-aarch64 -L "$sysroot" "$build/bgemm_test" "$@" || status=1
if ((status != 0)); then
  echo "test-neon: FAILED" >&2
fi
exit $status
