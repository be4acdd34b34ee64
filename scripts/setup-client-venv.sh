#!/usr/bin/env bash
# Creates .cache/client-venv with the real Python rerank clients that
# test/server-clients.test.ts drives against `crossrank serve` (the Cohere SDK
# and LiteLLM, pinned in test/clients/requirements.txt). The test runs this
# itself; it does nothing when the venv already matches the requirements.
# Usage: bash scripts/setup-client-venv.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.cache/client-venv"
REQUIREMENTS="$REPO/test/clients/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "error: python3 cannot create a venv; install Debian's python3-venv" >&2
  exit 1
fi
mkdir -p "$REPO/.cache"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQUIREMENTS"
echo "$want" > "$STAMP"
echo "client venv ready: $VENV"
