"""sentence-transformers CrossEncoder on PyTorch, as its users run it: predict(pairs, batch_size=32).

  --sorted 0|1  1 = sort the pairs by token length first (batches of 32, each padded to its longest),
                results put back in input order; 0 = input order, as predict() does by itself.
Same base arguments as the Node contenders; prints one JSON line. Prints {"skipped": reason} when
torch or sentence-transformers cannot be imported (run it with .cache/venv/bin/python).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("data", "model", "queries", "threads", "max-length", "sorted"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    try:
        import torch
        from sentence_transformers import CrossEncoder, __version__ as st_version
    except ImportError as error:
        print(json.dumps({"skipped": f"cannot import torch / sentence-transformers: {error}"}))
        return 0

    threads = int(args.threads)
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    sort = args.sorted == "1"
    with open(args.data) as f:
        workload = [[(entry["query"], hit["content"]) for hit in entry["hits"]] for entry in json.load(f)[: int(args.queries)]]

    t0 = time.perf_counter()
    model = CrossEncoder(args.model, max_length=int(args.max_length), device="cpu", default_activation_function=torch.nn.Identity())
    load_ms = (time.perf_counter() - t0) * 1000

    def score_query(pairs):
        if not sort:
            return model.predict(pairs, batch_size=32, show_progress_bar=False, convert_to_numpy=True).tolist()
        lengths = [len(ids) for ids in model.tokenizer(pairs, truncation=True, max_length=int(args.max_length))["input_ids"]]
        order = sorted(range(len(pairs)), key=lambda i: (lengths[i], i))
        scores = model.predict([pairs[i] for i in order], batch_size=32, show_progress_bar=False, convert_to_numpy=True)
        restored = [0.0] * len(pairs)
        for rank, i in enumerate(order):
            restored[i] = float(scores[rank])
        return restored

    score_query(workload[0][:4])  # warm-up, not timed (four pairs: a full query takes minutes here)
    latencies, logits = [], []
    start = time.perf_counter()
    for pairs in workload:
        t = time.perf_counter()
        scores = score_query(pairs)
        latencies.append((time.perf_counter() - t) * 1000)
        logits.extend(float(s) for s in scores)
    total_ms = (time.perf_counter() - start) * 1000

    print(json.dumps({
        "totalMs": total_ms,
        "latenciesMs": latencies,
        "logits": logits,
        "loadMs": load_ms,
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "settings": {
            "torch": torch.__version__,
            "sentence_transformers": st_version,
            "num_threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "batch_size": 32,
            "sorted": sort,
        },
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
