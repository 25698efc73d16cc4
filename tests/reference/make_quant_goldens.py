#!/usr/bin/python3
"""Write tests/data/quant/quant_goldens.safetensors: inputs and expected results of blockwise
quantization computed by quant_reference.py (numpy only), for tests/quantization_test.cpp.

Contents (names as stored):
  nf4_code, fp4_code                 F32[16]   code books
  dynamic_signed, dynamic_unsigned   F32[256]  create_dynamic_map(signed)
  w427                               F32[7,61] 4-bit input: with blocksize 64, blocks 0-1 random
      weights, 2-3 all zero, 4 (absmax +1) and 5 (absmax -1) hold every decision threshold exactly
      and one float32 step either side, the codes themselves, +-0 and tiny values; block 6 is partial
      (43 elements, an odd count, so the last byte has a padding nibble). Blocksize 128 sees the same
      as blocks 0, 1 (zero), 2 (thresholds), 3 (partial).
  <v>.packed, <v>.absmax, [<v>.nested_absmax, <v>.nested_offset], <v>.dequant_f32/_bf16/_f16
      for v = {nf4,fp4}_bs{64,128}[_dq] over w427 (absmax is U8 with _dq)
  w8219, nf4_bs32_dq_big.*           257 blocks of 32 (the last partial): two nested blocks, the second
                                     with a single entry
  v8_signed, v8_unsigned             F32[845] 8-bit inputs: a random block, a zero block, a block of
      every map midpoint exactly (absmax 1), a partial block of 77 (a few negatives for unsigned)
  <v>.codes, <v>.absmax, <v>.dequant  blockwise 8-bit, blocksize 256

Usage:
    /usr/bin/python3 tests/reference/make_quant_goldens.py            # (re)write the file
    /usr/bin/python3 tests/reference/make_quant_goldens.py --verify   # regenerate to a temp file and
                                                                      # compare bytes with the repo
Inputs come from numpy's legacy RandomState (a frozen stream), so the file regenerates byte for byte.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quant_reference as ref  # noqa: E402
from hf_llama_reference import Bf16, write_safetensors  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_FILE = REPO_ROOT / "tests" / "data" / "quant" / "quant_goldens.safetensors"
VERSION = "1"
f32 = np.float32


# ------------------------------------------------------------------------------------------------
# Inputs


def threshold_probes():
    """Scaled values on and one float32 step either side of every decision threshold, the codes
    themselves, signed zeros and tiny values."""
    up = lambda v: np.nextafter(np.asarray(v, np.float32), f32(np.inf))  # noqa: E731
    down = lambda v: np.nextafter(np.asarray(v, np.float32), f32(-np.inf))  # noqa: E731
    nf4 = ref.NF4_THRESHOLDS
    fp4 = np.concatenate([ref.FP4_MAGNITUDE_THRESHOLDS, -ref.FP4_MAGNITUDE_THRESHOLDS])
    exact_fp4_mids = ((ref.FP4_MAGNITUDES[:-1].astype(np.float64) + ref.FP4_MAGNITUDES[1:]) / 2).astype(np.float32)
    fp4_mids = np.concatenate([exact_fp4_mids, -exact_fp4_mids])
    tiny = np.array([0.0, -0.0, 1e-30, -1e-30, np.nextafter(f32(0), f32(1)), -1e-9], dtype=np.float32)
    block_a = np.concatenate([[f32(1)], nf4, up(nf4), down(nf4), fp4[:7], tiny[:3]])
    block_b = np.concatenate([[f32(-1)], fp4[7:], up(fp4), fp4_mids, ref.NF4_CODE, tiny[3:]])
    return block_a.astype(np.float32), block_b.astype(np.float32)


def input_427(rng):
    a, b = threshold_probes()
    assert a.size <= 64 and b.size <= 64, (a.size, b.size)
    # fill the probe blocks with in-range values so each keeps its +-1 absmax
    a = np.concatenate([a, rng.uniform(-0.9, 0.9, 64 - a.size).astype(np.float32)])
    b = np.concatenate([b, rng.uniform(-0.9, 0.9, 64 - b.size).astype(np.float32)])
    random_blocks = (rng.standard_normal(128) * 0.02).astype(np.float32)
    zeros = np.zeros(128, dtype=np.float32)
    partial = rng.uniform(-3, 3, 43).astype(np.float32)
    w = np.concatenate([random_blocks, zeros, a, b, partial]).astype(np.float32)
    assert w.size == 427
    return w.reshape(7, 61)


def input_8bit(rng, signed):
    code = ref.dynamic_map(signed)
    mids = ((code[:-1] + code[1:]) * f32(0.5)).astype(np.float32)
    normal = rng.standard_normal(256).astype(np.float32)
    block0 = normal if signed else np.abs(normal)
    block2 = np.concatenate([mids, [f32(1)]])[rng.permutation(256)]
    tail = (rng.standard_normal(77) * 1e-3).astype(np.float32)
    if not signed:
        tail = np.abs(tail)
        tail[[3, 40]] = [f32(-1e-4), f32(-2e-3)]  # negatives map to 0 with the unsigned map
    return np.concatenate([block0, np.zeros(256, np.float32), block2, tail]).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Expected values


def add_4bit(tensors, name, w, quant_type, blocksize, double_quant, with_half_outputs=True):
    n = w.size
    if double_quant:
        packed, codes, nested, offset = ref.quantize_4bit_dq(w, quant_type, blocksize)
        absmax = ref.decode_nested_absmax(codes, nested, offset)
        tensors[f"{name}.packed"] = packed
        tensors[f"{name}.absmax"] = codes
        tensors[f"{name}.nested_absmax"] = nested
        tensors[f"{name}.nested_offset"] = np.array([offset], dtype=np.float32)
    else:
        packed, absmax = ref.quantize_4bit(w, quant_type, blocksize)
        tensors[f"{name}.packed"] = packed
        tensors[f"{name}.absmax"] = absmax
    deq = ref.dequantize_4bit(packed, absmax, quant_type, blocksize, n).reshape(w.shape)
    tensors[f"{name}.dequant_f32"] = deq
    if with_half_outputs:
        tensors[f"{name}.dequant_bf16"] = Bf16(np.asarray(ref.bf16_bits(deq), dtype=np.uint16))
        tensors[f"{name}.dequant_f16"] = deq.astype(np.float16)


def add_8bit(tensors, name, values, signed):
    code = ref.dynamic_map(signed)
    codes, absmax = ref.quantize_blockwise(values, code, 256)
    tensors[name] = values
    tensors[f"{name}.codes"] = codes
    tensors[f"{name}.absmax"] = absmax
    tensors[f"{name}.dequant"] = ref.dequantize_blockwise(codes, absmax, code, 256)


def build():
    rng = np.random.RandomState(20240611)
    tensors = {
        "nf4_code": ref.NF4_CODE,
        "fp4_code": ref.FP4_CODE,
        "dynamic_signed": ref.dynamic_map(True),
        "dynamic_unsigned": ref.dynamic_map(False),
    }
    w = input_427(rng)
    tensors["w427"] = w
    for quant_type in ("nf4", "fp4"):
        for blocksize in (64, 128):
            for double_quant in (False, True):
                name = f"{quant_type}_bs{blocksize}" + ("_dq" if double_quant else "")
                add_4bit(tensors, name, w, quant_type, blocksize, double_quant)
    big = (rng.standard_normal(8219) * rng.uniform(0.01, 0.1, 8219)).astype(np.float32)
    big[32 * 100 : 32 * 101] = 0  # a zero block among the nested blocks
    tensors["w8219"] = big
    add_4bit(tensors, "nf4_bs32_dq_big", big, "nf4", 32, True, with_half_outputs=False)
    add_8bit(tensors, "v8_signed", input_8bit(rng, True), True)
    add_8bit(tensors, "v8_unsigned", input_8bit(rng, False), False)
    check(tensors)
    return tensors


def check(tensors):
    """The inputs exercise what they claim."""
    w = tensors["w427"].reshape(-1)
    blocks64 = [w[i : i + 64] for i in range(0, w.size, 64)]
    assert [float(np.abs(b).max()) for b in blocks64[2:6]] == [0, 0, 1, 1]
    for thresholds in (ref.NF4_THRESHOLDS, ref.FP4_MAGNITUDE_THRESHOLDS):
        assert all(t in blocks64[4] or t in blocks64[5] for t in thresholds)
    packed = tensors["nf4_bs64.packed"]
    assert packed.size == 214 and (packed[64:128] == 0).all(), "zero blocks decode through code 0"
    assert tensors["nf4_bs32_dq_big.nested_absmax"].size == 2
    for name in ("v8_signed", "v8_unsigned"):
        assert tensors[f"{name}.absmax"][1] == 0 and tensors[f"{name}.absmax"][2] == 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", action="store_true", help="compare a fresh build with the committed file")
    args = parser.parse_args()
    ref.self_check()
    metadata = {"generator": "tests/reference/make_quant_goldens.py", "version": VERSION}
    tensors = build()
    if args.verify:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / OUT_FILE.name
            write_safetensors(fresh, tensors, metadata)
            same = fresh.read_bytes() == OUT_FILE.read_bytes()
        print(f"{OUT_FILE.relative_to(REPO_ROOT)}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    write_safetensors(OUT_FILE, tensors, metadata)
    print(f"wrote {OUT_FILE.relative_to(REPO_ROOT)} ({OUT_FILE.stat().st_size} bytes, {len(tensors)} tensors)")


if __name__ == "__main__":
    main()
