#!/usr/bin/env bash
# Installs Python's huggingface_hub into .cache/hub-venv for test/hub-interop.test.ts, which
# checks that crossrank and huggingface_hub read each other's cache. CI runs this (npm test);
# bash + python3 with venv and pip only. Idempotent.
#
#   CROSSRANK_CACHE  cache directory (default: <repo>/.cache)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CROSSRANK_CACHE:-$REPO/.cache}"
VENV="$CACHE/hub-venv"
PY="${PYTHON:-python3}"
# The version the interop test was written against; bump it to test a newer one.
HUB_VERSION="2.4.0"

if ! "$VENV/bin/python" -c "import huggingface_hub, sys; sys.exit(huggingface_hub.__version__ != '$HUB_VERSION')" 2>/dev/null; then
  mkdir -p "$CACHE"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "huggingface-hub==$HUB_VERSION"
fi
"$VENV/bin/python" -c 'import huggingface_hub; print("huggingface_hub", huggingface_hub.__version__)'
