#!/usr/bin/env bash
# Runs each libFuzzer target in native/fuzz/ for a bounded time, starting from
# its seed corpus in native/fuzz/corpus/<target>/, and fails if any input
# crashes it, trips a sanitizer, leaks or times out. New corpus entries go to
# a scratch folder so the committed seeds stay as they are; a failing input is
# saved as build-sanitize/fuzz-artifacts/<target>-crash-<sha1> to replay with
# `build-sanitize/<target> <file>`.
#   usage: scripts/fuzz.sh [seconds per target (default 60)] [target ...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-sanitize"
seconds="${1:-60}"
shift || true
targets=("$@")
((${#targets[@]} > 0)) || targets=(safetensors_fuzz config_fuzz engine_batch_fuzz)
artifacts="$build/fuzz-artifacts"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
# safetensors_fuzz writes each input to a file: in memory when possible, as
# a disk-backed /tmp costs it nine tenths of its speed.
files_dir="$scratch"
[[ -d /dev/shm && -w /dev/shm ]] && files_dir=/dev/shm

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
summary=()
for target in "${targets[@]}"; do
  binary="$build/$target"
  if [[ ! -x "$binary" ]]; then
    echo "fuzz: $binary is missing; run npm run build:sanitize first" >&2
    exit 1
  fi
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  echo "fuzz: $target for ${seconds}s"
  status=0
  # -timeout: one input taking over 10 s is reported as a hang;
  # -rss_limit_mb: one input needing over 2 GB is reported as a failure.
  TMPDIR="$files_dir" "$binary" "$scratch/$target" "$root/native/fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$target-" >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  took="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")"
  if ((status != 0)); then
    tail -n 60 "$log" >&2
    echo "fuzz: $target FAILED (exit $status); the input is in $artifacts" >&2
    exit 1
  fi
  summary+=("$target: ${runs:-?} executions in ${took:-?} s, no failure")
done
printf 'fuzz: %s\n' "${summary[@]}"
