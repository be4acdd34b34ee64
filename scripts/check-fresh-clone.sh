#!/usr/bin/env bash
# The README's two commands, `npm run demo` and `npm test`, from a fresh clone
# of this repository's HEAD, as a new user with an empty HOME and a PATH that
# holds only the tools the README lists (Node with npm, a C++ compiler with
# binutils, make, cmake, Rust's cargo and rustc, Python 3 with pip, and for
# the optional suites the aarch64 cross compiler and qemu) plus the basic
# shell utilities. .ci/run runs it as root with CROSSRANK_REQUIRE_ALL=1, so
# that `npm test` there must run every suite: this is CI's one `npm test`.
#   usage (as root): scripts/check-fresh-clone.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $(id -u) == 0 ]] || { echo "check-fresh-clone: run as root (it adds a user)" >&2; exit 1; }

user=crossrank-fresh
base="$(mktemp -d /tmp/crossrank-fresh.XXXXXX)"
chmod 755 "$base"
cleanup() {
  rm -rf "$base"
  userdel "$user" 2>/dev/null || true
}
trap cleanup EXIT

userdel "$user" 2>/dev/null || true  # left by an interrupted run
useradd --no-create-home --home-dir "$base/home" --shell /bin/bash "$user"
mkdir "$base/home"

# The tools, each linked by name into one folder that is the whole PATH: the
# first of each on root's PATH that the new user can run (a pyenv or rustup
# shim under root's HOME cannot be; /usr/bin's python3 then can).
tools="$base/tools"
mkdir -p "$tools"
listed=(node cc c++ gcc g++ as ld ar ranlib nm objdump objcopy readelf strip make cmake python3
  aarch64-linux-gnu-g++ aarch64-linux-gnu-gcc aarch64-linux-gnu-as aarch64-linux-gnu-ld qemu-aarch64)
basics=(sh bash env cat cp mv rm mkdir rmdir ln ls chmod touch dirname basename readlink realpath tr head tail
  sort uniq wc grep egrep sed awk tar gzip find xargs uname nproc date sleep tee cut mktemp id printf expr
  which true false test cmp diff file sha256sum)
for tool in "${listed[@]}" "${basics[@]}"; do
  while read -r candidate; do
    real="$(readlink -f "$candidate")"
    if runuser -u "$user" -- test -x "$real"; then
      ln -s "$real" "$tools/$tool"
      break
    fi
  done < <(type -ap "$tool")
done
for tool in node python3 make cmake c++; do
  [[ -e "$tools/$tool" ]] || { echo "check-fresh-clone: no $tool that $user can run" >&2; exit 1; }
done
# npm and npx run on the same node.
npm_cli="$(dirname "$(readlink -f "$tools/node")")/../lib/node_modules/npm/bin"
printf '#!/bin/sh\nexec node %s/npm-cli.js "$@"\n' "$npm_cli" >"$tools/npm"
printf '#!/bin/sh\nexec node %s/npx-cli.js "$@"\n' "$npm_cli" >"$tools/npx"
chmod 755 "$tools/npm" "$tools/npx"
# Rust: rustup keeps its toolchains under root's HOME, which the new user
# cannot read; a copy of the toolchain (with the targets CI added) can be.
cp -a "$(rustc --print sysroot)" "$base/rust"
for tool in cargo rustc; do ln -s "$base/rust/bin/$tool" "$tools/$tool"; done

git clone --quiet --no-hardlinks "$root" "$base/crossrank"
# The test data sits beside the clone, as in CI (a copy: a few MB, and the
# new user may not be able to reach the original).
cp -r "$root/../shared" "$base/shared"
chown -R "$user:" "$base/home" "$base/crossrank" "$base/shared"
echo "check-fresh-clone: PATH=$tools holds: $(ls "$tools" | tr '\n' ' ')"

as_user() {
  runuser -u "$user" -- env -i HOME="$base/home" PATH="$tools" \
    CROSSRANK_REQUIRE_ALL="${CROSSRANK_REQUIRE_ALL:-}" bash -c "cd '$base/crossrank' && $1"
}
echo "=== fresh clone, new user $user, HOME=$base/home, PATH=$tools: npm run demo ==="
as_user 'npm run demo' | tee "$base/demo.log"
grep -q 'reranked them in' "$base/demo.log" || { echo "check-fresh-clone: npm run demo printed no ranking" >&2; exit 1; }
echo "=== fresh clone: npm test ==="
as_user 'npm test'
