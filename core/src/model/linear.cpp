#include "model/linear.h"

#include "cuda/cuda_kernels.h"

namespace headroom {

namespace {

// y = x W^T with W rebuilt from 4 bits in forward and again in backward. The weight is frozen, so
// backward needs only the input gradient dL/dx = dL/dy W: nothing but the quantized blocks is saved.
class Quant4LinearFunction : public torch::autograd::Function<Quant4LinearFunction> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                                 const Quant4Tensor *weight) {
        ctx->saved_data["weight"] = reinterpret_cast<int64_t>(weight);
        ctx->saved_data["dtype"] = int64_t(x.scalar_type());
        return torch::matmul(x, dequantize4(*weight, x.scalar_type()).t());
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list gradOutputs) {
        const auto *weight = reinterpret_cast<const Quant4Tensor *>(ctx->saved_data["weight"].toInt());
        const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
        auto gradInput = torch::matmul(gradOutputs[0].to(dtype), dequantize4(*weight, dtype));
        return {gradInput, torch::Tensor()};
    }
};

} // namespace

torch::Tensor linearForward(const torch::Tensor &x, const torch::Tensor &weight, const torch::Tensor &bias) {
    constexpr int64_t kGemvMinElements = 1 << 18; // below this, gemv's set-up costs more than it saves
    if (x.numel() == x.size(-1) && x.device().is_cpu() && weight.numel() >= kGemvMinElements && !x.requires_grad() &&
        !weight.requires_grad()) {
        auto sizes = x.sizes().vec();
        sizes.back() = weight.size(0);
        auto y = torch::mv(weight, x.reshape({-1})).view(sizes);
        return bias.defined() ? y + bias : y;
    }
    return torch::linear(x, weight, bias);
}

torch::Tensor Linear::operator()(const torch::Tensor &x, bool training) const {
    torch::Tensor y;
    if (m_quantized) {
        // One row on CUDA (token-by-token generation): the 4-bit gemv reads the weight once.
        if (!x.requires_grad() && cuda::gemv4Applies(*m_quantized, x))
            y = cuda::gemv4(*m_quantized, x);
        else
            y = x.requires_grad() ? Quant4LinearFunction::apply(x, &*m_quantized)
                                  : torch::matmul(x, dequantize4(*m_quantized, x.scalar_type()).t());
        if (m_bias.defined())
            y = y + m_bias;
    } else {
        y = linearForward(x, m_weight, m_bias);
    }
    if (m_lora) {
        const auto dtype = x.scalar_type();
        auto h = m_lora->dropout > 0 ? torch::dropout(x, m_lora->dropout, training) : x;
        auto update = torch::linear(torch::linear(h, m_lora->a.to(dtype)), m_lora->b.to(dtype));
        y = y + update * m_lora->scaling;
    }
    return y;
}

int64_t Linear::inFeatures() const { return m_quantized ? m_quantized->shape[1] : m_weight.size(1); }
int64_t Linear::outFeatures() const { return m_quantized ? m_quantized->shape[0] : m_weight.size(0); }

void Linear::quantize(Quant4Type type, int64_t blocksize, bool doubleQuant) {
    m_quantized = quantize4(m_weight, type, blocksize, doubleQuant);
    m_weight = torch::Tensor();
}

void Linear::setQuantized(Quant4Tensor quantized) {
    m_quantized = std::move(quantized);
    m_weight = torch::Tensor();
}

torch::Tensor Linear::denseWeight(torch::ScalarType dtype) const {
    return m_quantized ? dequantize4(*m_quantized, dtype) : m_weight.to(dtype);
}

int64_t Linear::baseBytes() const {
    int64_t bytes = m_quantized ? m_quantized->bytes() : m_weight.numel() * int64_t(m_weight.element_size());
    if (m_bias.defined())
        bytes += m_bias.numel() * int64_t(m_bias.element_size());
    return bytes;
}

} // namespace headroom
