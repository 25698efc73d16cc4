// Throughput of the CUDA kernels on shapes of a Llama-3-8B-sized layer: 4-bit dequantization and
// the batch-1 gemv (memory-bound: bytes moved / time, against the card's nominal bandwidth where
// known), and the fused 8-bit AdamW step (time per step). Inputs are random bytes: the kernels'
// speed does not depend on the values. Usage: kernels_bench [--repeats N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "headroom_kernels.h"

namespace {

void checkCuda(cudaError_t e, const char *what) {
    if (e != cudaSuccess) {
        std::fprintf(stderr, "kernels_bench: %s: %s\n", what, cudaGetErrorString(e));
        std::exit(1);
    }
}

// Nominal memory bandwidth (GB/s) of cards we have figures for; 0 when unknown.
double nominalBandwidth(const std::string &name) {
    if (name.find("H200") != std::string::npos)
        return 4800;
    if (name.find("H100") != std::string::npos)
        return name.find("PCIe") != std::string::npos ? 2000 : 3350;
    return 0;
}

void *deviceRandom(size_t bytes) {
    void *p = nullptr;
    checkCuda(cudaMalloc(&p, bytes), "cudaMalloc");
    std::vector<unsigned char> host(bytes);
    unsigned state = 12345;
    for (auto &b : host) {
        state = state * 1103515245u + 12345u;
        b = (unsigned char)(state >> 16);
    }
    checkCuda(cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    return p;
}

void *deviceFloats(size_t count, float value) {
    std::vector<float> host(count, value);
    void *p = nullptr;
    checkCuda(cudaMalloc(&p, count * 4), "cudaMalloc");
    checkCuda(cudaMemcpy(p, host.data(), count * 4, cudaMemcpyHostToDevice), "cudaMemcpy");
    return p;
}

// Median milliseconds of `repeats` timed runs after two warm-ups.
double medianMs(int repeats, const std::function<cudaError_t()> &run) {
    cudaEvent_t start, stop;
    checkCuda(cudaEventCreate(&start), "cudaEventCreate");
    checkCuda(cudaEventCreate(&stop), "cudaEventCreate");
    for (int i = 0; i < 2; ++i)
        checkCuda(run(), "warm-up");
    std::vector<float> times;
    for (int i = 0; i < repeats; ++i) {
        checkCuda(cudaEventRecord(start), "cudaEventRecord");
        checkCuda(run(), "launch");
        checkCuda(cudaEventRecord(stop), "cudaEventRecord");
        checkCuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0;
        checkCuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        times.push_back(ms);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

void report(const char *what, double ms, double bytes, double nominal) {
    const double gbs = bytes / (ms * 1e-3) / 1e9;
    if (nominal > 0)
        std::printf("%-52s %9.1f us %8.0f GB/s  %5.1f%% of %.0f GB/s\n", what, ms * 1e3, gbs, 100 * gbs / nominal,
                    nominal);
    else
        std::printf("%-52s %9.1f us %8.0f GB/s\n", what, ms * 1e3, gbs);
}

} // namespace

int main(int argc, char **argv) {
    int repeats = 20;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) {
            repeats = std::max(1, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: kernels_bench [--repeats N]\n");
            return 2;
        }
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::fprintf(stderr, "kernels_bench: no CUDA device\n");
        return 1;
    }
    cudaDeviceProp prop{};
    checkCuda(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    const double nominal = nominalBandwidth(prop.name);
    std::printf("device: %s; median of %d runs; GB/s = bytes read + written / time\n", prop.name, repeats);

    // One 4-bit weight of 14336 x 4096 (an 8B model's MLP projection), NF4, blocksize 64, double quant.
    const int64_t rows = 14336, cols = 4096, n = rows * cols, blocks = n / 64;
    hr_quant4 q{};
    q.type = HR_NF4;
    q.numel = n;
    q.blocksize = 64;
    q.packed = static_cast<const uint8_t *>(deviceRandom(n / 2));
    q.absmax_codes = static_cast<const uint8_t *>(deviceRandom(blocks));
    q.nested_absmax = static_cast<const float *>(deviceFloats((blocks + 255) / 256, 0.02f));
    q.nested_map = static_cast<const float *>(deviceFloats(256, 0.5f));
    q.nested_offset = 0.01f;
    q.nested_blocksize = 256;
    const double quantBytes = double(n) / 2 + blocks + 4.0 * (blocks / 256);

    void *out = nullptr;
    checkCuda(cudaMalloc(&out, n * 4), "cudaMalloc");
    for (hr_dtype d : {HR_BFLOAT16, HR_FLOAT16, HR_FLOAT32}) {
        const double ms = medianMs(repeats, [&] { return hr_dequantize4(&q, d, out, nullptr); });
        char what[96];
        std::snprintf(what, sizeof what, "dequantize4 nf4+dq [%lld x %lld] -> %s", (long long)rows, (long long)cols,
                      d == HR_FLOAT32    ? "float32"
                      : d == HR_BFLOAT16 ? "bfloat16"
                                         : "float16");
        report(what, ms, quantBytes + double(n) * (d == HR_FLOAT32 ? 4 : 2), nominal);
    }

    void *x = deviceRandom(cols * 2), *y = nullptr;
    checkCuda(cudaMemset(x, 0, cols * 2), "cudaMemset"); // zeros are valid bfloat16 values
    checkCuda(cudaMalloc(&y, rows * 2), "cudaMalloc");
    const double gemvMs = medianMs(repeats, [&] { return hr_gemv4(&q, rows, cols, HR_BFLOAT16, x, y, nullptr); });
    report("gemv4 nf4+dq [14336 x 4096] x bfloat16 (batch 1)", gemvMs, quantBytes + 2.0 * (cols + rows), nominal);

    // AdamW over 64M float32 parameters (beyond any LoRA adapter: the state traffic dominates).
    const int64_t params = int64_t(1) << 26, stateBlocks = params / HR_ADAMW8BIT_BLOCKSIZE;
    void *p = deviceFloats(params, 0.5f), *g = deviceFloats(params, 0.001f);
    auto *m = static_cast<uint8_t *>(deviceRandom(params)), *v = static_cast<uint8_t *>(deviceRandom(params));
    auto *ma = static_cast<float *>(deviceFloats(stateBlocks, 0.01f)),
         *va = static_cast<float *>(deviceFloats(stateBlocks, 0.0001f));
    auto *smap = static_cast<float *>(deviceFloats(256, 0.1f)), *umap = static_cast<float *>(deviceFloats(256, 0.1f));
    int64_t step = 1;
    const double adamMs = medianMs(repeats, [&] {
        const hr_adamw_params h{1e-4, 0.9, 0.999, 1e-8, 0.01, step++};
        return hr_adamw8bit_step(HR_FLOAT32, p, g, params, m, ma, v, va, smap, umap, &h, nullptr);
    });
    // Reads p, g, both codes and absmax; writes p, both codes and absmax.
    const double adamBytes = double(params) * (4 + 4 + 2 + 4 + 2) + 16.0 * stateBlocks;
    report("adamw8bit step, 64M float32 parameters", adamMs, adamBytes, nominal);
    checkCuda(cudaDeviceSynchronize(), "synchronize");
    return 0;
}
