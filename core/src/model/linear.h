// A frozen linear layer of the base model, optionally 4-bit quantized, with an optional LoRA adapter.
//
// Dense base: weight in the compute dtype, no gradient. Quantized base: only the 4-bit blocks are
// held; forward dequantizes to the compute dtype, and backward dequantizes again for the input
// gradient (Quant4LinearFunction), so no full-precision copy of the weight outlives a call.
// LoRA (PEFT's formulation): y = base(x) + B(A(dropout(x))) * scaling, with A [r, in] and B [out, r]
// kept as float32 masters and cast to the compute dtype for the matmuls, as autocast would.
#pragma once

#include <optional>
#include <string>

#include <torch/torch.h>

#include "headroom/quantization.h"

namespace headroom {

struct LoraWeights {
    torch::Tensor a; // [r, in] float32, requires grad
    torch::Tensor b; // [out, r] float32, requires grad
    double scaling = 1.0; // lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA
    double dropout = 0.0;
};

// x W^T + b. A single row without gradient (decoding with a KV cache) against a large W goes
// through BLAS gemv on W, which OpenBLAS runs several times faster than the gemm against W^T that
// torch::linear issues for it (measured: 1B model, fp32 decoding 0.48 -> 4.7 tokens/s).
torch::Tensor linearForward(const torch::Tensor &x, const torch::Tensor &weight, const torch::Tensor &bias);

class Linear {
public:
    Linear() = default;
    Linear(torch::Tensor weight, torch::Tensor bias) : m_weight(std::move(weight)), m_bias(std::move(bias)) {}

    torch::Tensor operator()(const torch::Tensor &x, bool training = false) const;

    int64_t inFeatures() const;
    int64_t outFeatures() const;
    bool isQuantized() const { return m_quantized.has_value(); }

    // Replaces the dense weight with its 4-bit quantization (the dense tensor is released).
    void quantize(Quant4Type type, int64_t blocksize, bool doubleQuant);
    void setQuantized(Quant4Tensor quantized);
    // The base weight in `dtype` (dequantized when quantized): for merging and tests.
    torch::Tensor denseWeight(torch::ScalarType dtype) const;
    const torch::Tensor &bias() const { return m_bias; }

    void setLora(LoraWeights lora) { m_lora = std::move(lora); }
    LoraWeights *lora() { return m_lora ? &*m_lora : nullptr; }
    const LoraWeights *lora() const { return m_lora ? &*m_lora : nullptr; }

    // Bytes held by the frozen base (4-bit blocks + scales, or the dense weight) and bias.
    int64_t baseBytes() const;

private:
    torch::Tensor m_weight; // dense [out, in], undefined when quantized
    torch::Tensor m_bias;
    std::optional<Quant4Tensor> m_quantized;
    std::optional<LoraWeights> m_lora;
};

} // namespace headroom
