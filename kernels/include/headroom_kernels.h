// Headroom's CUDA kernels behind a plain C interface: raw device pointers and a cudaStream_t, no
// LibTorch, so they compile with nvcc alone (CI builds them on machines without a GPU) and the torch
// glue in core/src/cuda/ stays a thin wrapper. Layouts are bitsandbytes' (docs/kernels.md):
//   4-bit weights  packed uint8, element 2j in the high nibble and 2j+1 in the low one, flattened
//                  row-major; one float32 absmax per block of `blocksize` elements, or with double
//                  quantization one uint8 code per block decoded as
//                  nested_map[code] * nested_absmax[block / nested_blocksize] + nested_offset
//                  (two float32 roundings in that order); element = codebook[nibble] * absmax
//   8-bit states   one uint8 code per element into a 256-entry dynamic map, one float32 absmax per
//                  block of HR_ADAMW8BIT_BLOCKSIZE elements; value = map[code] * absmax
// Every function checks its arguments (cudaErrorInvalidValue when they are wrong), launches on
// `stream` and returns the launch's error; none synchronizes.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HR_FLOAT32 = 0, HR_BFLOAT16 = 1, HR_FLOAT16 = 2 } hr_dtype;
typedef enum { HR_NF4 = 0, HR_FP4 = 1 } hr_quant4_type;

// A 4-bit tensor on the device. absmax is used when absmax_codes is NULL (no double quantization);
// otherwise absmax_codes, nested_absmax, nested_map (256 float32) and nested_offset are.
typedef struct {
    hr_quant4_type type;
    int64_t numel; // elements of the original tensor
    int64_t blocksize; // a power of two in 32..4096
    const uint8_t *packed; // (numel + 1) / 2 bytes
    const float *absmax; // ceil(numel / blocksize) scales, or NULL with double quantization
    const uint8_t *absmax_codes;
    const float *nested_absmax; // ceil(blocks / nested_blocksize)
    const float *nested_map;
    float nested_offset;
    int64_t nested_blocksize; // a positive power of two (bitsandbytes: 256)
} hr_quant4;

// The 16 float32 values a nibble decodes to, as bitsandbytes defines them (host memory).
const float *hr_quant4_codebook(hr_quant4_type type);

// out[i] = codebook[nibble(i)] * absmax(block of i), rounded once (to nearest even) into out_dtype:
// bit for bit what core/src/quant's CPU kernel writes. out: q->numel elements on the device.
cudaError_t hr_dequantize4(const hr_quant4 *q, hr_dtype out_dtype, void *out, cudaStream_t stream);

// Batch-1 product with a 4-bit [rows, cols] weight (q->numel == rows * cols): y = W x, x [cols] and
// y [rows] in `dtype`, accumulated in float32 from the unrounded float32 weights (the decode hot
// path: the weight is read once, 4 bits an element, and never written out dense).
cudaError_t hr_gemv4(const hr_quant4 *q, int64_t rows, int64_t cols, hr_dtype dtype, const void *x, void *y,
                     cudaStream_t stream);

#define HR_ADAMW8BIT_BLOCKSIZE 256

// One AdamW step of bitsandbytes' blockwise 8-bit optimizer, fused: per block of 256 elements the
// moments are decoded (first moment: signed dynamic map; second: unsigned), updated with
//   p = p * (1 - lr * weight_decay)                      (decoupled decay, skipped when 0)
//   m = m * beta1 + (1 - beta1) * g;  v = v * beta2 + ((1 - beta2) * g) * g
//   p = p + (-lr / (1 - beta1^step)) * (m / (sqrt(v) / sqrt(1 - beta2^step) + eps))
// (each operation rounded to float32; the scalars computed in double and rounded once), and encoded
// again with a fresh absmax: code = the map entry nearest to value * (1 / absmax), ties to the even
// index, NaN (an all-zero block) to 0. param/grad: n elements of param_dtype (a bfloat16 or float16
// parameter is updated in float32 and rounded once). Maps: 256 float32 each, on the device.
typedef struct {
    double lr, beta1, beta2, eps, weight_decay; // lr >= 0 (0 during a warmup's first step)
    int64_t step; // 1 for the first update
} hr_adamw_params;

cudaError_t hr_adamw8bit_step(hr_dtype param_dtype, void *param, const void *grad, int64_t n, uint8_t *m_codes,
                              float *m_absmax, uint8_t *v_codes, float *v_absmax, const float *signed_map,
                              const float *unsigned_map, const hr_adamw_params *params, cudaStream_t stream);

// Paged (unified) memory for optimizer states: cudaMallocManaged, preferred location the current
// device, readable by the host when the driver pages it out. Refuses (cudaErrorMemoryAllocation,
// *ptr = NULL) a request larger than cudaMemGetInfo's free bytes, so paging never starts from an
// over-committed card.
cudaError_t hr_managed_alloc(size_t bytes, void **ptr);
// Moves the pages to `device` ahead of a step (a no-op where the device cannot access managed
// memory concurrently, as bitsandbytes does).
cudaError_t hr_managed_prefetch(const void *ptr, size_t bytes, int device, cudaStream_t stream);
cudaError_t hr_managed_free(void *ptr);

#ifdef __cplusplus
}
#endif
