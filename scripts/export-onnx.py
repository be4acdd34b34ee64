"""Export a cross-encoder folder (BERT or XLM-RoBERTa) to ONNX for the end-to-end benchmark (developer-only).

Writes, under OUT (default <repo>/.cache/onnx/<model folder name>):
  model.onnx            torch.onnx.export of transformers' AutoModelForSequenceClassification (fp32),
                        inputs input_ids / attention_mask (int64), and token_type_ids when the model
                        has more than one token type (BERT; not XLM-R), output logits,
                        dynamic axes batch and sequence
  model-optimized.onnx  the same graph after onnxruntime.transformers' BERT optimizer
                        (fused Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization)
  transformersjs/       the folder layout transformers.js expects: config.json, tokenizer.json,
                        tokenizer_config.json, special_tokens_map.json, onnx/model.onnx (a copy)
  export.json           versions and checksums of what was exported, so the bench can tell a stale export

Idempotent: does nothing if export.json matches the source weights. Run with the venv made by
scripts/setup-python.sh:
  .cache/venv/bin/python scripts/export-onnx.py [--model DIR] [--out DIR] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / ".cache" / "models" / "minilm-l6-cross-encoder"
OPSET = 14
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def input_names(config: dict) -> list[str]:
    """The graph's inputs: XLM-R (type_vocab_size 1) has no token types, and its tokenizer gives none."""
    names = ["input_ids", "attention_mask"]
    return names + ["token_type_ids"] if int(config.get("type_vocab_size", 2)) > 1 else names


def load_model(model_dir: Path, torchscript: bool = False):
    """The folder's sequence-classification model, in eval mode.

    The state dict is read here rather than by from_pretrained, which refuses a safetensors file without
    its "format" metadata, as bench/counter-model.ts writes them; every weight must be in the file.
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(model_dir)
    config.torchscript = torchscript
    model, info = AutoModelForSequenceClassification.from_pretrained(
        None, config=config, state_dict=load_file(model_dir / "model.safetensors"), output_loading_info=True
    )
    if info["missing_keys"] or info["mismatched_keys"]:
        raise SystemExit(f"export-onnx.py: error: {model_dir / 'model.safetensors'}: missing {info['missing_keys']}, "
                         f"mismatched {info['mismatched_keys']}")
    return model.eval()


def export_plain(model_dir: Path, target: Path, config: dict) -> None:
    import torch
    from transformers import AutoTokenizer

    model = load_model(model_dir, torchscript=True)
    # Two pairs of different lengths (one padded) so nothing gets specialised to one shape; the ids
    # come from the model's own tokenizer, so they fit its vocabulary and padding id.
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(["what is a reranker", "how"], ["a model that scores pairs", "a longer passage about scoring"],
                        padding=True, return_tensors="pt", return_token_type_ids=True)
    names = input_names(config)
    dynamic = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            tuple(encoded[name] for name in names),
            str(target),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**{name: dynamic for name in names}, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def export_optimized(plain: Path, target: Path, config: dict) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(plain),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=None,  # the optimizer's own fusions only; ORT's graph optimisation runs again at session load
        use_gpu=False,
    )
    print("export-onnx.py: fused operators:", json.dumps(optimized.get_fused_operator_statistics()), file=sys.stderr)
    optimized.save_model_to_file(str(target))


def check_against_torch(model_dir: Path, onnx_paths: list[Path]) -> dict[str, float]:
    """Max |logit diff| of each exported graph against PyTorch on a few real-looking pairs."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load_model(model_dir)
    pairs = [
        ("how do rerankers work", "A reranker reads the query and the passage together and outputs a score."),
        ("what is the boiling point of water", "Bananas are rich in potassium."),
        ("who wrote hamlet", "Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601, " * 4),
    ]
    encoded = tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True, truncation=True, max_length=512, return_tensors="np")
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v) for k, v in encoded.items()}).logits.numpy()
    diffs = {}
    for path in onnx_paths:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {i.name: encoded[i.name].astype(np.int64) for i in session.get_inputs()}
        (logits,) = session.run(["logits"], feeds)
        diffs[path.name] = float(np.abs(logits - expected).max())
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="Hugging Face BERT or XLM-RoBERTa sequence-classification folder")
    parser.add_argument("--out", type=Path, help="output folder (default .cache/onnx/<model name>)")
    parser.add_argument("--force", action="store_true", help="export even if export.json says it is up to date")
    args = parser.parse_args()

    model_dir = args.model.resolve()
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        print(f"export-onnx.py: error: {weights} not found (run: npm run fetch-models)", file=sys.stderr)
        return 1
    out = (args.out or REPO / ".cache" / "onnx" / model_dir.name).resolve()
    manifest_path = out / "export.json"
    weights_sha = sha256_of(weights)
    if not args.force and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("weights_sha256") == weights_sha and all((out / f).is_file() for f in manifest.get("files", [])):
            print(out)
            return 0

    import onnx
    import onnxruntime
    import torch
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((model_dir / "config.json").read_text())
    plain = out / "model.onnx"
    optimized = out / "model-optimized.onnx"
    export_plain(model_dir, plain, config)
    onnx.checker.check_model(str(plain))
    export_optimized(plain, optimized, config)

    # transformers.js wants <model>/onnx/model.onnx beside the Hugging Face files.
    tjs = out / "transformersjs"
    (tjs / "onnx").mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, tjs / name)
    shutil.copyfile(plain, tjs / "onnx" / "model.onnx")

    diffs = check_against_torch(model_dir, [plain, optimized])
    print("export-onnx.py: max |logit diff| vs PyTorch:", json.dumps(diffs), file=sys.stderr)
    if max(diffs.values()) > 1e-3:
        print("export-onnx.py: error: an exported graph disagrees with PyTorch", file=sys.stderr)
        return 1

    files = ["model.onnx", "model-optimized.onnx", "transformersjs/onnx/model.onnx"]
    manifest = {
        "source": str(model_dir),
        "weights_sha256": weights_sha,
        "opset": OPSET,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime_optimizer": onnxruntime.__version__,
        "max_abs_diff_vs_torch": diffs,
        "files": files,
        "sha256": {f: sha256_of(out / f) for f in files},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
