#!/usr/bin/env bash
# Cross-builds the C++ tests for AArch64 and runs them under qemu-aarch64
# -cpu max (which has Arm BF16 and I8MM, as Graviton 3/4 do): kernel_test,
# qgemm_test and engine_test, each once on the best kernels (the
# neon_i8mm_bf16 table; every other table this CPU runs is tested too) and
# once with CROSSRANK_ISA=ref; bgemm_test (the bfmmla kernel against its
# round-to-odd reference). Then qgemm_test and bgemm_test once more on a
# Neoverse N1 (no BF16, no I8MM): the new tables must step aside and say
# NOT RUN. Needs Debian's cross toolchain, qemu user mode and the
# GoogleTest sources (built here for the target).
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

qemu_max=(qemu-aarch64 -cpu max -L "$sysroot")
# A CPU without BF16 and I8MM (HWCAP2 lists neither).
qemu_n1=(qemu-aarch64 -cpu neoverse-n1 -L "$sysroot")

# The tests must really run the NEON, I8MM and BF16 tables, not just the reference.
# (Each list is read whole first: grep -q stopping early would kill qemu
# with SIGPIPE, which pipefail reports as a failure.)
declare -A listed
for test in kernel_test qgemm_test bgemm_test; do
  listed[$test]="$("${qemu_max[@]}" "$build/$test" --gtest_list_tests)"
done
for test in kernel_test qgemm_test; do
  if ! grep -Eq '/neon( |$)' <<<"${listed[$test]}"; then
    echo "test-neon: $test has no NEON test instances" >&2
    exit 1
  fi
done
for want in "qgemm_test /neon_i8mm( |$)" "qgemm_test /neon_i8mm_bf16( |$)" \
            "bgemm_test /neon_i8mm_bf16( |$)"; do
  test=${want%% *}
  if ! grep -Eq "${want#* }" <<<"${listed[$test]}"; then
    echo "test-neon: $test has no instances matching ${want#* } (Arm BF16/I8MM tables not built?)" >&2
    exit 1
  fi
done

status=0
for test in kernel_test qgemm_test engine_test; do
  for isa in best ref; do
    echo "=== $test ($isa kernels, qemu-aarch64) ==="
    start=$SECONDS
    if [[ $isa == ref ]]; then
      env CROSSRANK_ISA=ref "${qemu_max[@]}" "$build/$test" "$@" || status=1
    else
      env -u CROSSRANK_ISA "${qemu_max[@]}" "$build/$test" "$@" || status=1
    fi
    echo "=== $test ($isa kernels): $((SECONDS - start)) s ==="
  done
done
echo "=== bgemm_test (qemu-aarch64 -cpu max) ==="
"${qemu_max[@]}" "$build/bgemm_test" "$@" || status=1
for test in qgemm_test bgemm_test; do
  echo "=== $test (qemu-aarch64 -cpu neoverse-n1: no BF16, no I8MM) ==="
  env -u CROSSRANK_ISA "${qemu_n1[@]}" "$build/$test" \
    --gtest_filter='*Dispatch*:*NeonI8mm*:*/neon*' "$@" || status=1
done
if ((status != 0)); then
  echo "test-neon: FAILED" >&2
fi
exit $status
