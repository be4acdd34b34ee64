"""Dynamically quantised ONNX graphs for the int8 end-to-end bench (developer-only).

Reads the export written by scripts/export-onnx.py (OUT, default <repo>/.cache/onnx/<model name>)
and writes beside it, with onnxruntime.quantization.quantize_dynamic (int8 weights per output
channel, activations quantised at run time, as onnxruntime documents for transformers on CPU):
  model-int8.onnx            from model.onnx
  model-optimized-int8.onnx  from model-optimized.onnx (its fused Attention becomes QAttention)
  quantize-int8.json         the onnxruntime version and the checksum of each source graph, so a
                             stale output is redone and a current one is left alone

  .cache/venv/bin/python scripts/quantize-onnx.py [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / ".cache" / "onnx" / "minilm-l6-cross-encoder"
GRAPHS = {"model.onnx": "model-int8.onnx", "model-optimized.onnx": "model-optimized-int8.onnx"}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the export folder of scripts/export-onnx.py")
    parser.add_argument("--force", action="store_true", help="quantise even if quantize-int8.json is current")
    args = parser.parse_args()

    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = args.out.resolve()
    manifest_path = out / "quantize-int8.json"
    sources = {}
    for source in GRAPHS:
        path = out / source
        if not path.is_file():
            print(f"quantize-onnx.py: error: {path} not found (run scripts/export-onnx.py)", file=sys.stderr)
            return 1
        sources[source] = sha256_of(path)
    manifest = {"onnxruntime": onnxruntime.__version__, "sources": sources}
    if not args.force and manifest_path.is_file() and all((out / t).is_file() for t in GRAPHS.values()):
        if json.loads(manifest_path.read_text()) == manifest:
            return 0
    for source, target in GRAPHS.items():
        quantize_dynamic(
            str(out / source),
            str(out / target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            # Shape inference cannot type the outputs of the optimizer's fused
            # (com.microsoft) operators; they are all float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        print(f"quantize-onnx.py: wrote {out / target} ({(out / target).stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
