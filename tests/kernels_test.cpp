// Parity of the CUDA kernels (kernels/include/headroom_kernels.h) with the plain C++ references in
// kernels_test_reference.cpp, on random inputs that cover every code, partial blocks, odd sizes and
// misaligned buffers. Needs no LibTorch and no Qt (it also runs on GPU servers without them).
// The references' own checks run everywhere; without a CUDA device the kernel checks are skipped:
// exit code 77, which ctest reports as skipped.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "headroom_kernels.h"
#include "kernels_test_reference.h"

namespace ref = kernels_reference;

namespace {

int g_failures = 0;

void check(bool ok, const std::string &what) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
    g_failures += ok ? 0 : 1;
}

void checkCuda(cudaError_t e, const char *call) {
    if (e != cudaSuccess) {
        std::printf("FAIL %s: %s\n", call, cudaGetErrorString(e));
        std::exit(1);
    }
}

// A device array (a copy of a host vector), freed on scope exit; `offset` leading elements misalign it.
template <typename T>
struct DeviceArray {
    T *base = nullptr;
    T *data = nullptr;
    size_t size = 0;
    explicit DeviceArray(size_t n, size_t offset = 0) : size(n) {
        checkCuda(cudaMalloc(reinterpret_cast<void **>(&base), (n + offset) * sizeof(T) + 1), "cudaMalloc");
        data = base + offset;
    }
    explicit DeviceArray(const std::vector<T> &host, size_t offset = 0) : DeviceArray(host.size(), offset) {
        checkCuda(cudaMemcpy(data, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
    }
    DeviceArray(const DeviceArray &) = delete;
    DeviceArray &operator=(const DeviceArray &) = delete;
    ~DeviceArray() { cudaFree(base); }
    std::vector<T> host() const {
        std::vector<T> out(size);
        checkCuda(cudaMemcpy(out.data(), data, size * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy");
        return out;
    }
};

const char *dtypeName(hr_dtype d) { return d == HR_FLOAT32 ? "float32" : d == HR_BFLOAT16 ? "bfloat16" : "float16"; }
size_t dtypeSize(hr_dtype d) { return d == HR_FLOAT32 ? 4 : 2; }

// The float32 bits of v rounded into dtype d, as the kernels store them.
uint32_t storedBits(float v, hr_dtype d) {
    if (d == HR_BFLOAT16)
        return ref::bf16Bits(v);
    if (d == HR_FLOAT16)
        return ref::f16Bits(v);
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return bits;
}

float storedValue(const std::vector<uint8_t> &bytes, int64_t i, hr_dtype d) {
    if (d == HR_FLOAT32) {
        float v;
        std::memcpy(&v, bytes.data() + 4 * i, 4);
        return v;
    }
    uint16_t bits;
    std::memcpy(&bits, bytes.data() + 2 * i, 2);
    return d == HR_BFLOAT16 ? ref::bf16Value(bits) : ref::f16Value(bits);
}

std::vector<uint8_t> encodeValues(const std::vector<float> &values, hr_dtype d) {
    std::vector<uint8_t> bytes(values.size() * dtypeSize(d));
    for (size_t i = 0; i < values.size(); ++i) {
        const uint32_t bits = storedBits(values[i], d);
        std::memcpy(bytes.data() + i * dtypeSize(d), &bits, dtypeSize(d));
    }
    return bytes;
}

// Random packed nibbles and scales: every code appears; scales positive, as absmax values are.
ref::Quant4 randomQuant4(std::mt19937 &rng, bool fp4, int64_t numel, int64_t blocksize, bool doubleQuant) {
    ref::Quant4 q;
    q.fp4 = fp4;
    q.numel = numel;
    q.blocksize = blocksize;
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(0.01f, 2.0f);
    q.packed.resize((numel + 1) / 2);
    for (auto &b : q.packed)
        b = uint8_t(byte(rng));
    const int64_t blocks = (numel + blocksize - 1) / blocksize;
    if (!doubleQuant) {
        for (int64_t b = 0; b < blocks; ++b)
            q.absmax.push_back(scale(rng));
        return q;
    }
    q.nestedMap = ref::dynamicMap(true);
    q.nestedOffset = 0.37f;
    for (int64_t b = 0; b < blocks; ++b)
        q.absmaxCodes.push_back(uint8_t(byte(rng)));
    for (int64_t b = 0; b < (blocks + q.nestedBlocksize - 1) / q.nestedBlocksize; ++b)
        q.nestedAbsmax.push_back(scale(rng));
    return q;
}

// The device buffers of a reference Quant4 and the hr_quant4 pointing into them.
struct DeviceQuant4 {
    DeviceArray<uint8_t> packed, codes;
    DeviceArray<float> absmax, nestedAbsmax, nestedMap;
    hr_quant4 view{};
    explicit DeviceQuant4(const ref::Quant4 &q)
        : packed(q.packed), codes(std::max<size_t>(q.absmaxCodes.size(), 1)),
          absmax(std::max<size_t>(q.absmax.size(), 1)), nestedAbsmax(std::max<size_t>(q.nestedAbsmax.size(), 1)),
          nestedMap(std::max<size_t>(q.nestedMap.size(), 1)) {
        auto upload = [](auto &device, const auto &host) {
            if (!host.empty())
                checkCuda(cudaMemcpy(device.data, host.data(), host.size() * sizeof(host[0]), cudaMemcpyHostToDevice),
                          "cudaMemcpy");
        };
        upload(codes, q.absmaxCodes);
        upload(absmax, q.absmax);
        upload(nestedAbsmax, q.nestedAbsmax);
        upload(nestedMap, q.nestedMap);
        view.type = q.fp4 ? HR_FP4 : HR_NF4;
        view.numel = q.numel;
        view.blocksize = q.blocksize;
        view.packed = packed.data;
        const bool doubleQuant = !q.absmaxCodes.empty();
        view.absmax = doubleQuant ? nullptr : absmax.data;
        view.absmax_codes = doubleQuant ? codes.data : nullptr;
        view.nested_absmax = nestedAbsmax.data;
        view.nested_map = nestedMap.data;
        view.nested_offset = q.nestedOffset;
        view.nested_blocksize = q.nestedBlocksize;
    }
};

// ------------------------------------------------------------------------------ references (CPU)

void referenceChecks() {
    const auto s = ref::dynamicMap(true), u = ref::dynamicMap(false);
    bool increasing = true;
    for (size_t k = 1; k < 256; ++k)
        increasing = increasing && s[k - 1] < s[k] && u[k - 1] < u[k];
    check(s.size() == 256 && u.size() == 256 && increasing, "reference dynamic maps: 256 strictly increasing entries");
    check(s.front() == -0.99296875f && s.back() == 1.0f && u.front() == 0.0f && u.back() == 1.0f,
          "reference dynamic maps: signed from -0.99296875, unsigned from 0, both up to 1");
    const float *nf4 = hr_quant4_codebook(HR_NF4), *fp4 = hr_quant4_codebook(HR_FP4);
    check(std::memcmp(nf4, ref::nf4Codebook().data(), 64) == 0 && std::memcmp(fp4, ref::fp4Codebook().data(), 64) == 0,
          "the kernels' NF4 and FP4 code books equal the published values");
    check(ref::bf16Bits(1.00390625f) == 0x3F80 && ref::bf16Bits(1.01171875f) == 0x3F82,
          "reference bfloat16 rounding: ties to even");
    check(ref::f16Bits(1.0f) == 0x3C00 && ref::f16Bits(1.00048828125f) == 0x3C00 &&
              ref::f16Bits(1.00146484375f) == 0x3C02 && ref::f16Value(0x7BFF) == 65504.0f,
          "reference float16 rounding: ties to even, largest finite 65504");
}

// ------------------------------------------------------------------------------ kernels (GPU)

void dequantizeCase(std::mt19937 &rng, bool fp4, int64_t numel, int64_t blocksize, bool doubleQuant, hr_dtype d,
                    size_t misalign) {
    const ref::Quant4 q = randomQuant4(rng, fp4, numel, blocksize, doubleQuant);
    DeviceQuant4 dq(q);
    DeviceArray<uint8_t> out(numel * dtypeSize(d), misalign * dtypeSize(d)); // whole elements off
    checkCuda(hr_dequantize4(&dq.view, d, out.data, nullptr), "hr_dequantize4");
    checkCuda(cudaDeviceSynchronize(), "hr_dequantize4 (run)");
    const std::vector<uint8_t> got = out.host();
    int64_t mismatches = 0, first = -1;
    for (int64_t i = 0; i < numel; ++i) {
        uint32_t bits = 0;
        std::memcpy(&bits, got.data() + i * dtypeSize(d), dtypeSize(d));
        if (bits != storedBits(ref::dequantizeElement(q, i), d) && mismatches++ == 0)
            first = i;
    }
    char what[256];
    std::snprintf(what, sizeof what,
                  "dequantize4 %s%s blocksize %lld, %lld elements -> %s%s: bit-exact (%lld mismatches, first at %lld)",
                  fp4 ? "fp4" : "nf4", doubleQuant ? " double-quant" : "", (long long)blocksize, (long long)numel,
                  dtypeName(d), misalign ? " (misaligned output)" : "", (long long)mismatches, (long long)first);
    check(mismatches == 0, what);
}

void gemvCase(std::mt19937 &rng, bool fp4, int64_t rows, int64_t cols, bool doubleQuant, hr_dtype d) {
    const ref::Quant4 q = randomQuant4(rng, fp4, rows * cols, 64, doubleQuant);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(cols);
    for (auto &v : x)
        v = storedValue(encodeValues({normal(rng)}, d), 0, d); // representable in d
    DeviceQuant4 dq(q);
    DeviceArray<uint8_t> dx(encodeValues(x, d)), dy(rows * dtypeSize(d));
    checkCuda(hr_gemv4(&dq.view, rows, cols, d, dx.data, dy.data, nullptr), "hr_gemv4");
    checkCuda(cudaDeviceSynchronize(), "hr_gemv4 (run)");
    const std::vector<uint8_t> got = dy.host();
    const std::vector<double> want = ref::gemv(q, rows, cols, x);
    // float32 accumulation in another order, then one rounding into d.
    const double unit = d == HR_FLOAT32 ? 0x1p-24 : d == HR_BFLOAT16 ? 0x1p-8 : 0x1p-11;
    double worst = 0;
    bool ok = true;
    for (int64_t r = 0; r < rows; ++r) {
        double magnitude = 0;
        for (int64_t c = 0; c < cols; ++c)
            magnitude += std::fabs(double(ref::dequantizeElement(q, r * cols + c)) * x[c]);
        const double err = std::fabs(double(storedValue(got, r, d)) - want[r]);
        const double bound = 1e-5 * magnitude + unit * std::fabs(want[r]) + 1e-30;
        worst = std::max(worst, err / bound);
        ok = ok && err <= bound;
    }
    char what[256];
    std::snprintf(
        what, sizeof what,
        "gemv4 %s%s [%lld x %lld] %s: within float32 accumulation + output rounding (worst %.2f of the bound)",
        fp4 ? "fp4" : "nf4", doubleQuant ? " double-quant" : "", (long long)rows, (long long)cols, dtypeName(d), worst);
    check(ok, what);
}

// Steps of hr_adamw8bit_step against the reference on the same inputs; the states live in memory
// from `allocate` (cudaMalloc or the paged allocator).
void adamwCase(std::mt19937 &rng, int64_t n, hr_dtype d, int steps, double weightDecay, bool paged, double lr = -1) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> param(n);
    for (auto &p : param)
        p = storedValue(encodeValues({normal(rng)}, d), 0, d);
    const int64_t blocks = (n + 255) / 256;
    ref::AdamW8bitState state{std::vector<uint8_t>(n, 0), std::vector<uint8_t>(n, 0), std::vector<float>(blocks, 0.0f),
                              std::vector<float>(blocks, 0.0f)};
    ref::AdamWSettings settings;
    settings.weightDecay = weightDecay;
    if (lr >= 0)
        settings.lr = lr;

    const size_t stateBytes = 2 * n + 2 * blocks * sizeof(float);
    void *stateMemory = nullptr;
    if (paged)
        checkCuda(hr_managed_alloc(stateBytes, &stateMemory), "hr_managed_alloc");
    else
        checkCuda(cudaMalloc(&stateMemory, stateBytes), "cudaMalloc");
    checkCuda(cudaMemset(stateMemory, 0, stateBytes), "cudaMemset");
    auto *mAbsmax = static_cast<float *>(stateMemory);
    float *vAbsmax = mAbsmax + blocks;
    auto *mCodes = reinterpret_cast<uint8_t *>(vAbsmax + blocks);
    uint8_t *vCodes = mCodes + n;
    DeviceArray<float> signedMap(ref::dynamicMap(true)), unsignedMap(ref::dynamicMap(false));
    DeviceArray<uint8_t> dParam(encodeValues(param, d)), dGrad(n * dtypeSize(d));

    for (int step = 1; step <= steps; ++step) {
        std::vector<float> grad(n);
        for (auto &g : grad)
            g = storedValue(encodeValues({normal(rng) * 0.1f}, d), 0, d);
        checkCuda(cudaMemcpy(dGrad.data, encodeValues(grad, d).data(), n * dtypeSize(d), cudaMemcpyHostToDevice),
                  "cudaMemcpy");
        if (paged)
            checkCuda(hr_managed_prefetch(stateMemory, stateBytes, 0, nullptr), "hr_managed_prefetch");
        const hr_adamw_params h{settings.lr, settings.beta1, settings.beta2, settings.eps, settings.weightDecay, step};
        checkCuda(hr_adamw8bit_step(d, dParam.data, dGrad.data, n, mCodes, mAbsmax, vCodes, vAbsmax, signedMap.data,
                                    unsignedMap.data, &h, nullptr),
                  "hr_adamw8bit_step");
        ref::adamw8bitStep(param, grad, state, settings, step);
        for (auto &p : param) // a 16-bit parameter is stored rounded after each step
            p = storedValue(encodeValues({p}, d), 0, d);
    }
    checkCuda(cudaDeviceSynchronize(), "hr_adamw8bit_step (run)");
    std::vector<uint8_t> got(stateBytes);
    checkCuda(cudaMemcpy(got.data(), stateMemory, stateBytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
    const std::vector<uint8_t> gotParam = dParam.host();
    checkCuda(paged ? hr_managed_free(stateMemory) : cudaFree(stateMemory), "free");

    const bool absmaxSame = std::memcmp(got.data(), state.mAbsmax.data(), blocks * 4) == 0 &&
                            std::memcmp(got.data() + blocks * 4, state.vAbsmax.data(), blocks * 4) == 0;
    const uint8_t *codes = got.data() + 2 * blocks * 4;
    int64_t codeMismatches = 0, paramMismatches = 0;
    for (int64_t i = 0; i < n; ++i) {
        codeMismatches += codes[i] != state.mCodes[i];
        codeMismatches += codes[n + i] != state.vCodes[i];
        paramMismatches +=
            std::memcmp(gotParam.data() + i * dtypeSize(d), encodeValues({param[i]}, d).data(), dtypeSize(d)) != 0;
    }
    char what[256];
    std::snprintf(what, sizeof what,
                  "adamw8bit %d steps, %lld %s parameters, lr %g, weight decay %g%s: bit-exact "
                  "(absmax %s, %lld code and %lld parameter mismatches)",
                  steps, (long long)n, dtypeName(d), settings.lr, weightDecay, paged ? ", paged states" : "",
                  absmaxSame ? "equal" : "DIFFER", (long long)codeMismatches, (long long)paramMismatches);
    check(absmaxSame && codeMismatches == 0 && paramMismatches == 0, what);
}

void argumentChecks() {
    std::mt19937 rng(5);
    const ref::Quant4 q = randomQuant4(rng, false, 256, 64, false);
    DeviceQuant4 dq(q);
    DeviceArray<float> out(256);
    hr_quant4 bad = dq.view;
    bad.blocksize = 48;
    check(hr_dequantize4(&bad, HR_FLOAT32, out.data, nullptr) == cudaErrorInvalidValue,
          "hr_dequantize4 refuses a blocksize that is not a power of two");
    check(hr_gemv4(&dq.view, 3, 100, HR_FLOAT32, out.data, out.data, nullptr) == cudaErrorInvalidValue,
          "hr_gemv4 refuses rows * cols != numel");
    size_t freeBytes = 0, total = 0;
    checkCuda(cudaMemGetInfo(&freeBytes, &total), "cudaMemGetInfo");
    void *ptr = reinterpret_cast<void *>(1);
    check(hr_managed_alloc(freeBytes + (size_t(1) << 30), &ptr) == cudaErrorMemoryAllocation && ptr == nullptr,
          "hr_managed_alloc refuses more than the card has free");
    cudaGetLastError();
}

void kernelChecks() {
    std::mt19937 rng(1);
    for (bool fp4 : {false, true})
        for (bool doubleQuant : {false, true})
            for (hr_dtype d : {HR_FLOAT32, HR_BFLOAT16, HR_FLOAT16}) {
                dequantizeCase(rng, fp4, 64 * 1000, 64, doubleQuant, d, 0);
                dequantizeCase(rng, fp4, 12345, 32, doubleQuant, d, 0);
            }
    dequantizeCase(rng, false, 3 * 4096 + 5, 4096, true, HR_BFLOAT16, 0);
    dequantizeCase(rng, false, 300 * 256 * 2 + 8, 128, true, HR_FLOAT32, 0); // several nested blocks
    dequantizeCase(rng, false, 1000, 64, true, HR_BFLOAT16, 1);
    dequantizeCase(rng, true, 1000, 64, false, HR_FLOAT32, 3);

    for (hr_dtype d : {HR_FLOAT32, HR_BFLOAT16, HR_FLOAT16}) {
        gemvCase(rng, false, 300, 2048, true, d); // aligned path
        gemvCase(rng, false, 37, 100, true, d); // element path, rows start mid-block
    }
    gemvCase(rng, true, 65, 33, false, HR_BFLOAT16); // odd width: rows start mid-byte

    adamwCase(rng, 256 * 40 + 77, HR_FLOAT32, 3, 0.0, false);
    adamwCase(rng, 256 * 40 + 77, HR_FLOAT32, 3, 0.01, false);
    adamwCase(rng, 256 * 7 + 3, HR_BFLOAT16, 2, 0.01, false, 0.0); // a warmup's first step: moments move, p stays
    adamwCase(rng, 256 * 9 + 1, HR_BFLOAT16, 2, 0.01, false);
    adamwCase(rng, 256 * 9, HR_FLOAT16, 2, 0.0, false);
    adamwCase(rng, 256 * 64 + 13, HR_FLOAT32, 3, 0.01, true);
    argumentChecks();
}

} // namespace

int main() {
    referenceChecks();
    int devices = 0;
    const cudaError_t e = cudaGetDeviceCount(&devices);
    if (e != cudaSuccess || devices == 0) {
        std::printf("SKIP kernel parity: no CUDA device (cudaGetDeviceCount: %s, %d devices); only the references were "
                    "checked\n",
                    e == cudaSuccess ? "no error" : cudaGetErrorString(e), devices);
        return g_failures ? 1 : 77;
    }
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    std::printf("device 0: %s (compute capability %d.%d)\n", prop.name, prop.major, prop.minor);
    kernelChecks();
    std::printf("%d failure(s)\n", g_failures);
    return g_failures ? 1 : 0;
}
