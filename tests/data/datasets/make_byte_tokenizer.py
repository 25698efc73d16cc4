#!/usr/bin/env python3
"""Writes byte_tokenizer/: a Hugging Face tokenizer whose ids are the UTF-8 bytes of the text.

Byte-level BPE without merges, so encode("Hi") == [72, 105] and the tests can state expected ids by
hand. Special tokens follow the bytes: <s> 256, </s> 257, <|im_start|> 258, <|im_end|> 259; the
post-processor puts <s> first (as Llama's does) and tokenizer_config.json carries a ChatML chat
template. Run from this folder: python3 make_byte_tokenizer.py (standard library only).
"""
import json
import os


def bytes_to_unicode():
    """GPT-2's map from bytes to printable characters (the ByteLevel alphabet)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


SPECIALS = ["<s>", "</s>", "<|im_start|>", "<|im_end|>"]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
          " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def main():
    alphabet = bytes_to_unicode()
    vocab = {alphabet[byte]: byte for byte in range(256)}
    added = [{"id": 256 + i, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, token in enumerate(SPECIALS)]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": False},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [256], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": False, "vocab": vocab, "merges": []},
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "model_max_length": 4096, "chat_template": CHATML}
    os.makedirs("byte_tokenizer", exist_ok=True)
    with open("byte_tokenizer/tokenizer.json", "w", encoding="utf-8") as out:
        json.dump(tokenizer, out, ensure_ascii=False, indent=1)
        out.write("\n")
    with open("byte_tokenizer/tokenizer_config.json", "w", encoding="utf-8") as out:
        json.dump(config, out, ensure_ascii=False, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
