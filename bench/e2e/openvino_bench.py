"""OpenVINO on the exported ONNX graph (scripts/export-onnx.py's model.onnx), as its users run it.

  --onnx FILE          the graph (the same model.onnx onnxruntime-node runs)
  --precision default  OpenVINO's own choice (bf16 where the CPU runs bf16 natively, f32 elsewhere),
                       as optimum-intel and sentence-transformers' openvino backend compile it
  --precision f32      INFERENCE_PRECISION_HINT f32 (exact fp32)
Batches: the query's pairs length-sorted, cut into batches of 32, each padded to its longest (the
mode in which onnxruntime-node runs fastest); results are put back in input order. Tokenisation is
the model folder's fast tokenizer (transformers), timed with the inference as for every contender.
Same base arguments as the Node contenders; prints one JSON line, or {"skipped": reason} when
openvino or transformers cannot be imported (run it with .cache/venv/bin/python).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

BATCH = 32


def type_name(value) -> str:
    """An OpenVINO element type as its short name ('bf16', 'f32'); other values as str()."""
    to_string = getattr(value, "to_string", None)
    return to_string() if callable(to_string) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("data", "model", "queries", "threads", "max-length", "onnx", "precision"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    try:
        import numpy as np
        import openvino as ov
        from transformers import AutoTokenizer
    except ImportError as error:
        print(json.dumps({"skipped": f"cannot import openvino / transformers: {error}"}))
        return 0

    threads = int(args.threads)
    max_length = int(args.max_length)
    with open(args.data) as f:
        workload = [[(entry["query"], hit["content"]) for hit in entry["hits"]] for entry in json.load(f)[: int(args.queries)]]

    t0 = time.perf_counter()
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads}
    if args.precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    elif args.precision != "default":
        raise SystemExit(f"--precision must be default or f32, got {args.precision}")
    compiled = core.compile_model(core.read_model(args.onnx), "CPU", config)
    request = compiled.create_infer_request()
    input_names = {port.get_any_name() for port in compiled.inputs}
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    load_ms = (time.perf_counter() - t0) * 1000

    def score_query(pairs):
        queries = [p[0] for p in pairs]
        docs = [p[1] for p in pairs]
        lengths = [len(ids) for ids in tokenizer(queries, docs, truncation="longest_first", max_length=max_length)["input_ids"]]
        order = sorted(range(len(pairs)), key=lambda i: (lengths[i], i))
        scores = [0.0] * len(pairs)
        for start in range(0, len(order), BATCH):
            indices = order[start : start + BATCH]
            feeds = tokenizer(
                [queries[i] for i in indices],
                [docs[i] for i in indices],
                truncation="longest_first",
                max_length=max_length,
                padding=True,
                return_tensors="np",
            )
            inputs = {name: np.asarray(feeds[name], dtype=np.int64) for name in input_names}
            logits = request.infer(inputs)[compiled.outputs[0]]
            for row, i in enumerate(indices):
                scores[i] = float(logits[row][0])
        return scores

    score_query(workload[0])  # warm-up, not timed (compiles the kernels for the shapes it meets)
    latencies, logits = [], []
    start = time.perf_counter()
    for pairs in workload:
        t = time.perf_counter()
        scores = score_query(pairs)
        latencies.append((time.perf_counter() - t) * 1000)
        logits.extend(scores)
    total_ms = (time.perf_counter() - start) * 1000

    print(json.dumps({
        "totalMs": total_ms,
        "latenciesMs": latencies,
        "logits": logits,
        "loadMs": load_ms,
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "settings": {
            "openvino": ov.__version__ if hasattr(ov, "__version__") else ov.get_version(),
            "precision_option": args.precision,
            "inference_precision": type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
            "inference_num_threads": compiled.get_property("INFERENCE_NUM_THREADS"),
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "batch": BATCH,
            "sorted": True,
        },
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
