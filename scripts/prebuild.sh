#!/usr/bin/env bash
# Builds the prebuilt binaries shipped inside the npm package:
#   prebuilds/<platform>/crossrank.node            the C++ engine addon
#   prebuilds/<platform>/crossrank-tokenizer.node  the Rust tokenizer
# for linux-x64-gnu and linux-arm64-gnu (or the platforms named as arguments).
#
# Both parts are built with zig against glibc 2.28, so they load on RHEL 8,
# Debian 10+, Ubuntu 20.04+ and newer; zig links its own libc++ statically,
# so no libstdc++ is needed either. zig and cargo-zigbuild come from PyPI
# into .cache/toolchain; the tokenizer goes through napi-rs's own build
# (`napi build --platform --release --cross-compile`, i.e. cargo-zigbuild).
# The arm64 tokenizer needs Rust's aarch64 standard library
# (`rustup target add aarch64-unknown-linux-gnu`).
#   usage: scripts/prebuild.sh [linux-x64-gnu] [linux-arm64-gnu]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
glibc=2.28
zig_version=0.15.2
zigbuild_version=0.24.0
toolchain="$root/.cache/toolchain"

platforms=("$@")
((${#platforms[@]} > 0)) || platforms=(linux-x64-gnu linux-arm64-gnu)

if [[ ! -d "$toolchain/ziglang-$zig_version.dist-info" || ! -d "$toolchain/cargo_zigbuild-$zigbuild_version.dist-info" ]]; then
  echo "prebuild: installing zig $zig_version and cargo-zigbuild $zigbuild_version into $toolchain"
  rm -rf "$toolchain"
  python3 -m pip install --quiet --no-input --target "$toolchain" \
    "ziglang==$zig_version" "cargo-zigbuild==$zigbuild_version"
fi
zig="$toolchain/ziglang/zig"
# napi-rs and cargo-zigbuild look for `zig` and `cargo-zigbuild` on PATH.
export PATH="$toolchain/ziglang:$toolchain/bin:$PATH"

for platform in "${platforms[@]}"; do
  case "$platform" in
    linux-x64-gnu) arch=x86_64 ;;
    linux-arm64-gnu) arch=aarch64 ;;
    *) echo "prebuild: unknown platform '$platform' (known: linux-x64-gnu, linux-arm64-gnu)" >&2; exit 1 ;;
  esac
  rust_target="$arch-unknown-linux-gnu"
  # Asks rustc, not rustup: a toolchain without rustup has the host's library only.
  if [[ ! -d "$(rustc --print target-libdir --target "$rust_target" 2>/dev/null)" ]]; then
    echo "prebuild: Rust's standard library for $rust_target is not installed;" \
      "run: rustup target add $rust_target" >&2
    exit 1
  fi

  echo "=== prebuild $platform: C++ addon (zig, $arch-linux-gnu.$glibc) ==="
  build="$root/build/prebuild/$platform"
  # compile_commands.json lets the packaging test check which files got ISA flags.
  npx cmake-js configure --out "$build" \
    --CDCMAKE_TOOLCHAIN_FILE="$root/cmake/zig-linux-gnu.cmake" \
    --CDCROSSRANK_ZIG="$zig" \
    --CDCROSSRANK_ZIG_TARGET="$arch-linux-gnu.$glibc" \
    --CDCMAKE_EXPORT_COMPILE_COMMANDS=ON
  cmake --build "$build" --target crossrank_addon -j 2

  echo "=== prebuild $platform: Rust tokenizer (napi build, cargo-zigbuild, $rust_target.$glibc) ==="
  npx napi build --platform --release --cross-compile --target "$rust_target.$glibc" \
    --manifest-path crates/tokenizer/Cargo.toml \
    --package-json-path crates/tokenizer/package.json \
    --output-dir "$build/tokenizer"

  out="$root/prebuilds/$platform"
  rm -rf "$out"
  mkdir -p "$out"
  cp "$build/Release/crossrank.node" "$out/crossrank.node"
  cp "$build/tokenizer/crossrank-tokenizer.$platform.node" "$out/crossrank-tokenizer.node"
  echo "prebuild: wrote $(ls "$out" | tr '\n' ' ')to $out"
done
