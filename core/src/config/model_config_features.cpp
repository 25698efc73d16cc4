// ModelConfig::features(): what a model adds to the plain Llama block, in the words inspect and
// the studio's Model page show.
#include "headroom/model_config.h"

#include "config/format_number.h"

namespace headroom {

std::vector<std::string> ModelConfig::features() const {
    std::vector<std::string> out;
    if (numKvHeads != numHeads)
        out.push_back("grouped-query attention (" + std::to_string(numHeads) + " query heads, " +
                      std::to_string(numKvHeads) + " key/value)");
    if (numHeads * headDim != hiddenSize)
        out.push_back("head_dim " + std::to_string(headDim) + " (hidden / heads would be " +
                      std::to_string(hiddenSize / numHeads) + ")");
    if (qkvBias || oBias || mlpBias)
        out.push_back(std::string("biases on ") + (qkvBias ? "q/k/v" : "") + (oBias ? " o" : "") +
                      (mlpBias ? " mlp" : ""));
    if (fusedProjections)
        out.push_back("fused qkv_proj and gate_up_proj");
    if (qkNorm)
        out.push_back("q/k RMSNorm over head_dim before RoPE");
    if (gemmaNorm)
        out.push_back("Gemma RMSNorm (x * (1 + w), float32)");
    if (sandwichNorms)
        out.push_back("sandwich norms (after attention and MLP, before MLP)");
    if (scaleEmbeddings)
        out.push_back("embeddings x sqrt(hidden_size)");
    if (activation == Activation::GeluTanh)
        out.push_back("GeGLU MLP (gelu, tanh approximation)");
    if (queryPreAttnScalar)
        out.push_back("attention scale query_pre_attn_scalar^-0.5 = 1/sqrt(" +
                      detail::formatNumber(*queryPreAttnScalar) + ")");
    if (attnLogitSoftcap)
        out.push_back("attention soft-capping " + detail::formatNumber(*attnLogitSoftcap));
    if (finalLogitSoftcap)
        out.push_back("final logit soft-capping " + detail::formatNumber(*finalLogitSoftcap));
    if (slidingWindow) {
        int64_t sliding = 0;
        for (int64_t i = 0; i < numLayers; ++i)
            sliding += slidingLayer(i);
        out.push_back("sliding window " + std::to_string(*slidingWindow) + " on " + std::to_string(sliding) + " of " +
                      std::to_string(numLayers) + " layers");
    }
    if (ropeLocalTheta)
        out.push_back("sliding layers: RoPE base " + detail::formatNumber(*ropeLocalTheta) + ", unscaled");
    if (rotaryDim() != headDim)
        out.push_back("partial RoPE (" + std::to_string(rotaryDim()) + " of " + std::to_string(headDim) + " dims)");
    switch (ropeScaling.type) {
    case RopeScaling::Type::None: break;
    case RopeScaling::Type::Linear:
        out.push_back("RoPE linear scaling x" + detail::formatNumber(ropeScaling.factor));
        break;
    case RopeScaling::Type::Llama3:
        out.push_back("RoPE llama3 scaling x" + detail::formatNumber(ropeScaling.factor));
        break;
    case RopeScaling::Type::LongRope:
        out.push_back("RoPE longrope (long factors past " + std::to_string(ropeScaling.originalMaxPositions) +
                      " positions, attention factor " + detail::formatNumber(ropeScaling.attentionFactor) + ")");
        break;
    }
    int64_t withoutRope = 0;
    for (int64_t i = 0; i < numLayers; ++i)
        withoutRope += !usesRope(i);
    if (withoutRope > 0)
        out.push_back("no RoPE in " + std::to_string(withoutRope) + " of " + std::to_string(numLayers) + " layers");
    if (tieWordEmbeddings)
        out.push_back("tied embeddings and lm_head");
    if (!unusedTensorPrefixes.empty()) {
        std::string prefixes;
        for (const auto &p : unusedTensorPrefixes)
            prefixes += (prefixes.empty() ? "" : ", ") + p + "*";
        out.push_back("text model only (not loaded: " + prefixes + ")");
    }
    return out;
}

} // namespace headroom
