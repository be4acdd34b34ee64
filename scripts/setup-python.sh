#!/usr/bin/env bash
# Developer-only: create .cache/venv with torch (Debian's python3-torch) + pinned transformers.
# Never run by CI. Usage: bash scripts/setup-python.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.cache/venv"
SYS_PY=/usr/bin/python3

if ! "$SYS_PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "error: $SYS_PY cannot import torch/numpy; install Debian's python3-torch and python3-numpy" >&2
  echo "       (apt-get update && apt-get install -y python3-torch python3-numpy python3-venv)" >&2
  exit 1
fi
# torch multiplies matrices through the system BLAS: Debian's default libblas3 is the reference
# implementation, about 15x slower than OpenBLAS for training and for the PyTorch bench contender.
if ! readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null | grep -q -E 'openblas|blis'; then
  echo "warning: the system BLAS is not OpenBLAS; torch will be very slow." >&2
  echo "         (apt-get install -y libopenblas0-pthread switches it)" >&2
fi
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$REPO/.cache"
  "$SYS_PY" -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REPO/scripts/requirements-dev.txt"
"$VENV/bin/python" - <<'PY'
import sys, torch, numpy, transformers, tokenizers, safetensors
print("python", sys.version.split()[0])
print("torch", torch.__version__)
print("numpy", numpy.__version__)
print("transformers", transformers.__version__)
print("tokenizers", tokenizers.__version__)
print("safetensors", safetensors.__version__)
PY
echo "venv ready: $VENV (run scripts with $VENV/bin/python)"
