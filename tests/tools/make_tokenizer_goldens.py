#!/usr/bin/env python3
"""Sentencepiece half of the tokenizer goldens (the tokenizer.json half is make_tokenizer_goldens.mjs).

Trains tests/data/tokenizers/spm/tokenizer.model on tests/data/tokenizers/spm/corpus.txt with the
`spm_train` command-line tool (Debian package `sentencepiece`, 0.1.97), writes its
tokenizer_config.json, and records ids from `spm_encode --output_format=id` and text from
`spm_decode --input_format=id` in tests/data/tokenizers/spm/goldens.json. Headroom's code is not
involved: the tests compare the plug-in-backed Tokenizer against these files.

    python3 tests/tools/make_tokenizer_goldens.py

Texts with special tokens inside follow Hugging Face's slow LlamaTokenizer (legacy mode): the text is
split at the special tokens, each piece of text is encoded by sentencepiece on its own, and the
special tokens' ids go in between. Those expectations are assembled here from per-piece spm_encode
calls. spm_encode reads one sentence per line, so no text here contains a line break.
"""
import json
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SPM_DIR = os.path.normpath(os.path.join(HERE, "..", "data", "tokenizers", "spm"))

TRAIN_FLAGS = [
    "--model_type=bpe", "--vocab_size=600", "--character_coverage=1.0", "--byte_fallback=true",
    "--split_digits=true", "--normalization_rule_name=identity", "--remove_extra_whitespaces=false",
    "--add_dummy_prefix=true", "--allow_whitespace_only_pieces=true", "--unk_id=0", "--bos_id=1",
    "--eos_id=2", "--pad_id=-1", "--num_threads=1", "--hard_vocab_limit=false",
]

TEXTS = [
    "Hello world",
    "",
    " Hello world",
    "  leading and trailing spaces  ",
    "The quick brown fox jumps over the lazy dog.",
    "Numbers: 2024, 3.14159 and 1,000,000",
    "A line with    several   spaces and\ta tab.",
    "Café naïve résumé Zürich",
    "你好，世界！",
    "I \u2764\ufe0f \U0001F980 \U0001F44D\U0001F3FD",
    "def add(a, b): return a + b",
    "Unseen words: zebra xylophone quizzical JUXTAPOSITION",
    "Hello , world . Don 't",
    "\u00a0non-breaking\u00a0space",
]
# (text, the pieces it splits into: str = text for sentencepiece, int = a special token id)
SPECIAL_TEXTS = [
    ("a</s>b<s>c", ["a", 2, "b", 1, "c"]),
    ("<s>Hello</s>", [1, "Hello", 2]),
    ("text <unk> more", ["text ", 0, " more"]),
]
WITH_SPECIAL = {"Hello world", "", " Hello world"}

CONFIG = {
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": None,
    "clean_up_tokenization_spaces": False,
    "legacy": True,
    "tokenizer_class": "LlamaTokenizer",
    "chat_template": open(os.path.join(SPM_DIR, "..", "chat_templates", "llama2.jinja")).read(),
}


def run(args, text):
    return subprocess.run(args, input=text, capture_output=True, text=True, check=True).stdout


def encode(model, text):
    out = run(["spm_encode", f"--model={model}", "--output_format=id"], text + "\n")
    return [int(t) for t in out.split()]


def decode(model, ids):
    out = run(["spm_decode", f"--model={model}", "--input_format=id"], " ".join(map(str, ids)) + "\n")
    return out[:-1] if out.endswith("\n") else out


def main():
    model = os.path.join(SPM_DIR, "tokenizer.model")
    with tempfile.TemporaryDirectory() as tmp:
        # The model records its --input and --model_prefix: relative names in a scratch folder keep
        # the file byte-for-byte reproducible wherever the repository is checked out.
        shutil.copyfile(os.path.join(SPM_DIR, "corpus.txt"), os.path.join(tmp, "corpus.txt"))
        subprocess.run(["spm_train", "--input=corpus.txt", "--model_prefix=tokenizer"] + TRAIN_FLAGS,
                       check=True, capture_output=True, cwd=tmp)
        shutil.copyfile(os.path.join(tmp, "tokenizer.model"), model)
    with open(os.path.join(SPM_DIR, "tokenizer_config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, ensure_ascii=False)
        f.write("\n")

    cases = []
    for text in TEXTS:
        ids = encode(model, text)
        for add_special in ([False, True] if text in WITH_SPECIAL else [False]):
            case_ids = ([1] if add_special else []) + ids
            cases.append({"text": text, "add_special_tokens": add_special, "ids": case_ids,
                          "decoded_skip_special": decode(model, ids) if ids else ""})
    for text, pieces in SPECIAL_TEXTS:
        ids = []
        for piece in pieces:
            ids += [piece] if isinstance(piece, int) else encode(model, piece)
        cases.append({"text": text, "add_special_tokens": False, "ids": ids})

    out = {"tokenizer": "spm",
           "reference": "sentencepiece 0.1.97 command-line tools (spm_train, spm_encode, spm_decode)",
           "generator": "tests/tools/make_tokenizer_goldens.py",
           "cases": cases}
    with open(os.path.join(SPM_DIR, "goldens.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{SPM_DIR}/goldens.json: {len(cases)} cases")


if __name__ == "__main__":
    main()
