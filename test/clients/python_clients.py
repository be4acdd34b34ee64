"""Calls `crossrank serve` at BASE with the real Python rerank clients.

Usage: python python_clients.py BASE INPUT.json
INPUT holds {"query", "documents", "top_n"}. Prints one JSON object: for each
client call (named as in the README), its results as [{index, relevance_score}]
in the order the client returned them, or {"error": ...} when the call failed.
"""
import json
import os
import sys
import traceback

# LiteLLM would otherwise fetch its model price list over the network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import cohere  # noqa: E402
import litellm  # noqa: E402


def results(items):
    out = []
    for item in items:
        get = item.get if isinstance(item, dict) else lambda key: getattr(item, key)
        out.append({"index": get("index"), "relevance_score": get("relevance_score")})
    return out


def main():
    base, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    query, documents, top_n = spec["query"], spec["documents"], spec["top_n"]
    calls = {
        "cohere.Client(base_url).rerank": lambda: cohere.Client(api_key="unused", base_url=base).rerank(
            model="crossrank", query=query, documents=documents, top_n=top_n
        ).results,
        "cohere.ClientV2(base_url).rerank": lambda: cohere.ClientV2(api_key="unused", base_url=base).rerank(
            model="crossrank", query=query, documents=documents, top_n=top_n, max_tokens_per_doc=4096
        ).results,
    }
    for provider in ("cohere", "infinity", "jina_ai", "huggingface"):
        calls[f"litellm.rerank(model='{provider}/crossrank', api_base)"] = (
            lambda provider=provider: litellm.rerank(
                model=f"{provider}/crossrank",
                query=query,
                documents=documents,
                top_n=top_n,
                api_base=base,
                api_key="unused",
            ).results
        )
    out = {}
    for name, call in calls.items():
        try:
            out[name] = results(call())
        except Exception as error:  # reported to the test, which fails on it
            out[name] = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()[-2000:]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
