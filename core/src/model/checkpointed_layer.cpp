#include "model/checkpointed_layer.h"

namespace headroom {

namespace {

at::Generator defaultGenerator(const torch::Device &device) { return at::globalContext().defaultGenerator(device); }

torch::Tensor generatorState(at::Generator generator) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    return generator.get_state();
}

void setGeneratorState(at::Generator generator, const torch::Tensor &state) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
}

class CheckpointedLayerFunction : public torch::autograd::Function<CheckpointedLayerFunction> {
public:
    // The layer and config belong to the model, which outlives every graph built from it; the
    // per-call tensors (rotary tables, masks) are saved by value.
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, const torch::Tensor &x,
                                 const DecoderLayer *layer, const LayerInputs *inputs, const ModelConfig *config) {
        ctx->save_for_backward({x});
        ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
        ctx->saved_data["config"] = reinterpret_cast<int64_t>(config);
        ctx->saved_data["cos"] = inputs->cos;
        ctx->saved_data["sin"] = inputs->sin;
        // Gemma 3's sliding layers turn with their own RoPE base: without these tables the
        // recomputation in backward would rotate them with the global one (wrong gradients).
        ctx->saved_data["cos_local"] = inputs->cosLocal;
        ctx->saved_data["sin_local"] = inputs->sinLocal;
        ctx->saved_data["allowed"] = inputs->allowed;
        ctx->saved_data["allowed_window"] = inputs->allowedWindow;
        ctx->saved_data["training"] = inputs->training;
        ctx->saved_data["fused_attention"] = inputs->fusedAttention;
        ctx->saved_data["causal"] = inputs->causal;
        ctx->saved_data["rng"] = generatorState(defaultGenerator(x.device()));
        torch::NoGradGuard noGrad;
        return layer->forward(x, *inputs, *config);
    }

    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::tensor_list gradOutputs) {
        const auto *layer = reinterpret_cast<const DecoderLayer *>(ctx->saved_data["layer"].toInt());
        const auto *config = reinterpret_cast<const ModelConfig *>(ctx->saved_data["config"].toInt());
        LayerInputs inputs;
        inputs.cos = ctx->saved_data["cos"].toTensor();
        inputs.sin = ctx->saved_data["sin"].toTensor();
        inputs.allowed = ctx->saved_data["allowed"].toTensor();
        const auto &cosLocal = ctx->saved_data["cos_local"];
        if (cosLocal.isTensor()) {
            inputs.cosLocal = cosLocal.toTensor();
            inputs.sinLocal = ctx->saved_data["sin_local"].toTensor();
        }
        const auto &window = ctx->saved_data["allowed_window"];
        if (window.isTensor())
            inputs.allowedWindow = window.toTensor();
        inputs.training = ctx->saved_data["training"].toBool();
        inputs.fusedAttention = ctx->saved_data["fused_attention"].toBool();
        inputs.causal = ctx->saved_data["causal"].toBool();

        auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
        auto generator = defaultGenerator(x.device());
        const auto currentState = generatorState(generator);
        setGeneratorState(generator, ctx->saved_data["rng"].toTensor());
        torch::Tensor y;
        {
            torch::AutoGradMode enableGrad(true);
            y = layer->forward(x, inputs, *config);
        }
        setGeneratorState(generator, currentState);
        torch::autograd::backward({y}, {gradOutputs[0]});
        return {x.grad(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
};

} // namespace

torch::Tensor checkpointedLayerForward(const DecoderLayer &layer, const torch::Tensor &x, const LayerInputs &inputs,
                                       const ModelConfig &config) {
    return CheckpointedLayerFunction::apply(x, &layer, &inputs, &config);
}

} // namespace headroom
