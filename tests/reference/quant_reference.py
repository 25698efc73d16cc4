#!/usr/bin/python3
"""An independent numpy reference of bitsandbytes' blockwise quantization (4-bit NF4/FP4 with double
quantization, 8-bit dynamic maps), written from the published description (QLoRA paper, bitsandbytes'
functional.py and csrc/kernels.cu, read at 95f9af30) to check Headroom's C++ against. Nothing here
imports torch or Headroom.

Every step is float32 arithmetic in the order bitsandbytes does it:
  absmax = max |w| per block (blocks of `blocksize` consecutive elements, row-major; the last block
  may be partial); x = w * (1 / absmax) (a reciprocal, then a product: kQuantizeBlockwise);
  4-bit: the code is decided by thresholds between neighbouring codes, x > t picks the upper one, so a
  tie stays with the lower code; elements 2j and 2j+1 share a byte, 2j in the high nibble; an odd
  count pads with a zero element. 8-bit: the nearest entry of a sorted 256-entry map.
  All-zero block: 1/0 = inf, 0 * inf = NaN, and NaN exceeds no threshold -> code 0 (what the CUDA
  kernel produces); it decodes to 0 since absmax is 0.
  Dequantization: w = code[q] * absmax[block], rounded to float32; bf16/f16 round that to nearest-even.
  Double quantization: offset = mean(absmax); (absmax - offset) is 8-bit quantized with the signed
  dynamic map in blocks of 256; decoded absmax = map[q] * nested_absmax + offset (two roundings).

Run it to self-check the tables: /usr/bin/python3 tests/reference/quant_reference.py
"""

import numpy as np

f32 = np.float32

# NF4 (bitsandbytes functional.py, get_4bit_type("nf4")), index = nibble.
NF4_CODE = np.array(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
        -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
        0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
        0.7229568362236023, 1.0,
    ],
    dtype=np.float32,
)

# FP4: sign bit 3, 2 exponent bits, 1 mantissa bit; raw magnitudes divided by the largest (12).
FP4_CODE = (
    np.array([0, 0.0625, 8, 12, 4, 6, 2, 3, -0.0, -0.0625, -8, -12, -4, -6, -2, -3], dtype=np.float32) / f32(12)
).astype(np.float32)

# 4-bit decision thresholds. NF4: midpoints of neighbouring codes, computed exactly (float64) and
# rounded to float32. The published dQuantizeNF4 decision tree uses these same numbers; they are
# listed here to check that (sorted).
NF4_THRESHOLDS = ((NF4_CODE[:-1].astype(np.float64) + NF4_CODE[1:].astype(np.float64)) / 2).astype(np.float32)
NF4_KERNEL_CONSTANTS = [
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544, -0.23460740596055984,
    -0.13791173323988914, -0.045525018125772476, 0.03979014977812767, 0.1202552504837513, 0.2035212516784668,
    0.2920137718319893, 0.3893125355243683, 0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
]
# FP4 decides on the magnitude |x| (sign bit set when x < 0, so -0.0 and NaN keep it clear) with the
# kernel's own decimal pivots, which are rounded midpoints of the sorted magnitudes: three of them
# are not the float32 midpoints (0.00260417, 0.4166667, 0.583333), so they are data here, not derived.
FP4_MAGNITUDE_THRESHOLDS = np.array(
    [0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333], dtype=np.float32
)
FP4_MAGNITUDES = np.sort(np.abs(FP4_CODE[:8]))  # 0, 0.0625/12, 2/12, 3/12, 4/12, 6/12, 8/12, 1


def code_book(quant_type):
    return {"nf4": NF4_CODE, "fp4": FP4_CODE}[quant_type]


def _fp4_index(magnitude_rank, negative):
    """Nibble of the FP4 code with the given magnitude rank and sign, looked up in the code book."""
    magnitude = FP4_MAGNITUDES[magnitude_rank]
    half = FP4_CODE[8:] if negative else FP4_CODE[:8]
    matches = [i for i in range(8) if abs(half[i]) == magnitude]
    assert len(matches) == 1
    return matches[0] + (8 if negative else 0)


_FP4_TABLE = np.array([[_fp4_index(m, s) for m in range(8)] for s in (False, True)], dtype=np.uint8)


def code4(x, quant_type):
    """4-bit codes (uint8 0..15) of scaled float32 values x."""
    x = np.asarray(x, dtype=np.float32)
    if quant_type == "nf4":
        # number of thresholds strictly below x; NaN compares false everywhere -> 0
        codes = np.searchsorted(NF4_THRESHOLDS, x, side="left")
        return np.where(np.isnan(x), 0, codes).astype(np.uint8)
    magnitude = np.abs(x)
    rank = np.searchsorted(FP4_MAGNITUDE_THRESHOLDS, magnitude, side="left")
    rank = np.where(np.isnan(x), 0, rank)
    return _FP4_TABLE[(x < 0).astype(np.int64), rank]


def _blocks(values, blocksize):
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    return [flat[i : i + blocksize] for i in range(0, flat.size, blocksize)]


def _scale(block):
    absmax = f32(np.max(np.abs(block))) if block.size else f32(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = f32(1) / absmax
        return absmax, (block * inv).astype(np.float32), inv


def quantize_4bit(values, quant_type, blocksize):
    """-> (packed uint8 [(n+1)//2], absmax float32 [blocks])."""
    nibbles, absmax = [], []
    for block in _blocks(values, blocksize):
        amax, scaled, inv = _scale(block)
        absmax.append(amax)
        codes = code4(scaled, quant_type)
        if codes.size % 2:  # the kernel pads with a zero element, scaled like the others
            with np.errstate(invalid="ignore"):
                codes = np.append(codes, code4(f32(0) * inv, quant_type))
        nibbles.append(codes)
    nibbles = np.concatenate(nibbles).astype(np.uint8)
    packed = (nibbles[0::2] << 4) | nibbles[1::2]
    return packed.astype(np.uint8), np.array(absmax, dtype=np.float32)


def dequantize_4bit(packed, absmax, quant_type, blocksize, n):
    nibbles = np.empty(packed.size * 2, dtype=np.uint8)
    nibbles[0::2] = packed >> 4
    nibbles[1::2] = packed & 0x0F
    codes = code_book(quant_type)[nibbles[:n]]
    scale = np.repeat(np.asarray(absmax, dtype=np.float32), blocksize)[:n]
    return (codes * scale).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# 8-bit dynamic maps


def linspace_f32(start, end, steps):
    """torch.linspace(start, end, steps, dtype=float32) by its scalar formula: step in float32,
    start + step*j for the first half, end - step*(steps-1-j) for the second."""
    start, end = f32(start), f32(end)
    step = f32((end - start) / f32(steps - 1))
    return np.array(
        [start + step * f32(j) if j < steps // 2 else end - step * f32(steps - 1 - j) for j in range(steps)],
        dtype=np.float32,
    )


def dynamic_map(signed, max_exponent_bits=7, total_bits=8):
    """create_dynamic_map: per exponent i, the midpoints of linspace(0.1, 1, k+1) (k = 2^i signed,
    2^(i+1) unsigned) times 10^(i - 6) in float32, mirrored when signed; plus 0 and 1; sorted."""
    values = []
    for i in range(max_exponent_bits):
        k = 2 ** i if signed else 2 ** (i + 1)
        bounds = linspace_f32(0.1, 1.0, k + 1)
        means = ((bounds[:-1] + bounds[1:]) / f32(2)).astype(np.float32)
        scaled = (f32(10.0 ** (i - (max_exponent_bits - 1))) * means).astype(np.float32)
        values += list(scaled)
        if signed:
            values += list(-scaled)
    values += [f32(0), f32(1)]
    assert len(values) == 2 ** total_bits
    return np.sort(np.array(values, dtype=np.float32))


def code8(x, code):
    """Nearest map entry: midpoints (code[k] + code[k+1]) * 0.5 in float32; a value exactly on a
    midpoint goes to the even index of the two (where the kernel's binary search over 256 entries
    always ends); NaN -> 0."""
    x = np.asarray(x, dtype=np.float32)
    mids = ((code[:-1] + code[1:]) * f32(0.5)).astype(np.float32)
    below = np.searchsorted(mids, x, side="left")  # midpoints strictly below x
    on_mid = (below < mids.size) & (mids[np.minimum(below, mids.size - 1)] == x)
    codes = below + (on_mid & (below % 2 == 1))
    return np.where(np.isnan(x), 0, codes).astype(np.uint8)


def quantize_blockwise(values, code, blocksize):
    """-> (codes uint8 like values, absmax float32 [blocks])."""
    codes, absmax = [], []
    for block in _blocks(values, blocksize):
        amax, scaled, _ = _scale(block)
        absmax.append(amax)
        codes.append(code8(scaled, code))
    return np.concatenate(codes).reshape(np.shape(values)), np.array(absmax, dtype=np.float32)


def dequantize_blockwise(codes, absmax, code, blocksize):
    flat = np.asarray(codes).reshape(-1)
    scale = np.repeat(np.asarray(absmax, dtype=np.float32), blocksize)[: flat.size]
    return (code[flat] * scale).astype(np.float32).reshape(np.shape(codes))


# ------------------------------------------------------------------------------------------------
# 4-bit with double quantization (compress_statistics)

NESTED_BLOCKSIZE = 256


def quantize_4bit_dq(values, quant_type, blocksize):
    """-> (packed, absmax codes uint8, nested_absmax float32, offset float32)."""
    packed, absmax = quantize_4bit(values, quant_type, blocksize)
    offset = f32(np.mean(absmax, dtype=np.float64))
    nested_codes, nested_absmax = quantize_blockwise((absmax - offset).astype(np.float32), dynamic_map(True),
                                                     NESTED_BLOCKSIZE)
    return packed, nested_codes, nested_absmax, offset


def decode_nested_absmax(nested_codes, nested_absmax, offset):
    decoded = dequantize_blockwise(nested_codes, nested_absmax, dynamic_map(True), NESTED_BLOCKSIZE)
    return (decoded + f32(offset)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Output rounding


def bf16_bits(values):
    """float32 -> bfloat16 bit patterns, round to nearest even; NaN -> 0x7FC0."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(values), np.uint16(0x7FC0), rounded).astype(np.uint16)


# ------------------------------------------------------------------------------------------------
# Self-check


def _kernel_search(code, x):
    """dQuantize<0> of csrc/kernels.cu as described there: a 7-step binary search from pivot 127 over
    the sorted map, then a comparison with the float32 midpoint to the neighbour on x's side. Only
    used to confirm code8's tie rule."""
    pivot, upper_pivot, lower_pivot = 127, 255, 0
    lower, upper = f32(-1), f32(1)
    val = code[pivot]
    step = 64
    while step:
        if x > val:
            lower_pivot, lower, pivot = pivot, val, pivot + step
        else:
            upper_pivot, upper, pivot = pivot, val, pivot - step
        val = code[pivot]
        step //= 2
    if upper_pivot == 255:
        upper = code[255]
    if lower_pivot == 0:
        lower = code[0]
    if x > val:
        return upper_pivot if x > f32((upper + val) * f32(0.5)) else pivot
    return lower_pivot if x < f32((lower + val) * f32(0.5)) else pivot


def self_check():
    assert list(NF4_THRESHOLDS) == [f32(c) for c in NF4_KERNEL_CONSTANTS], "NF4 thresholds"
    assert np.all(np.diff(NF4_THRESHOLDS) > 0) and np.all(np.diff(FP4_MAGNITUDE_THRESHOLDS) > 0)
    assert np.all(FP4_MAGNITUDES[:-1] < FP4_MAGNITUDE_THRESHOLDS) and np.all(FP4_MAGNITUDE_THRESHOLDS < FP4_MAGNITUDES[1:])
    for signed in (True, False):
        code = dynamic_map(signed)
        assert code.size == 256 and np.all(np.diff(code) > 0) and 0 in code and code[-1] == 1
        mids = ((code[:-1] + code[1:]) * f32(0.5)).astype(np.float32)
        probes = np.concatenate([code, mids, np.nextafter(mids, f32(2)), np.nextafter(mids, f32(-2)),
                                 np.array([-1, 1, -2, 2, np.nan], dtype=np.float32)])
        ours = code8(probes, code)
        kernel = [_kernel_search(code, x) for x in probes]
        assert list(ours) == kernel, "8-bit rule differs from the kernel search"
    assert dynamic_map(True)[0] == f32(-0.99296875) and dynamic_map(False)[0] == 0
    print("quant_reference: tables and rounding rules check out")


if __name__ == "__main__":
    self_check()
