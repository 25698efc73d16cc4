// The activations of one micro-batch as our graph holds them: what the forward pass saves for
// backward, tensor by tensor, plus the transient buffers alive at the step's peak. Read it next to
// decoder_layer.cpp (every family's block: q/k norms, Gemma's sandwich norms, GeGLU, soft-capping,
// Phi-3's fused projections, RoPE-free layers), fused_attention.cpp, linear.cpp, rotary.cpp,
// checkpointed_layer.cpp, causal_lm.cpp (hiddenStates) and chunked_loss.cpp: every term names the
// tensor it counts; module shapes come from config/model_layout.h. Shapes use B rows, T tokens per
// row, N = B*T, H hidden, I intermediate, heads/kv heads of head_dim d, V vocab, r LoRA rank, e bytes
// of the compute dtype. Autograd saves a tensor only for the gradients it will compute, so what a
// layer keeps depends on whether gradients flow into it (LayerSaved's flags).
#include "memory/estimate/memory_estimate_internal.h"

#include <algorithm>
#include <set>

#include "config/model_layout.h"
#include "headroom/attention.h"
#include "train/loss_chunk.h"

namespace headroom::detail {

namespace {

constexpr int64_t kFloat32 = 4, kInt64 = 8, kBool = 1;
// torch's default cuBLAS workspace (CublasHandlePool.cpp, CUBLAS_WORKSPACE_CONFIG unset): 32 MiB on
// Hopper and Blackwell (compute capability 9.x to 12.x; torch 2.11 earlier: 9.0 only), else
// 4096 KiB x 2 + 16 KiB x 8; cuBLASLt shares it. It comes from the
// caching allocator, one per handle and stream: the forward's thread and autograd's device thread
// each hold one. (Without the two the H200's measured activations were 47-82 MiB above the estimate.)
constexpr int64_t kHopperCublasWorkspace = 32 << 20, kCublasWorkspace = 4096 * 1024 * 2 + 16 * 1024 * 8;
// The CPU generator's state (mt19937 + normal cache) that a checkpointed layer saves to redraw the
// same dropout masks; measured with Generator::get_state(). On CUDA it is a 16-byte seed + offset.
constexpr int64_t kCpuRngStateBytes = 5056, kCudaRngStateBytes = 16;

struct Dims {
    int64_t b = 0, t = 0, n = 0;
    int64_t hidden = 0, inter = 0, heads = 0, kvHeads = 0, headDim = 0, qOut = 0, kvOut = 0, vocab = 0, layers = 0;
    int64_t r = 0, e = 0;
    int64_t attention = 0; // B*heads*T*T: one attention matrix
    int64_t lossRows = 0; // B*(T-1): positions that predict a label (rows are filled, all count)
    bool cuda = false, dropout = false, quantized = false;
    bool meanKeepsInput = false; // mean's backward keeps its input (LibTorch 1.x; rmsNormSaved)
    // A sliding window shorter than the rows (causal_lm.cpp builds its mask only then).
    bool window = false;
    // attn_implementation sdpa: fused_attention.cpp's chunked form, or torch's flash kernel where
    // flashAttentionRuns(), the mask is plain causal (the estimate's full rows, no window; a window
    // is counted as if every layer had one) and the scores are not soft-capped.
    bool fused = false, flash = false;
    int64_t chunkRows = 0; // query rows per chunk of the chunked form
    int64_t chunk = 0; // B*heads*(rows x keys of its largest chunk): one chunk's scores
    // What the newer families add (headroom/model_config.h).
    bool qkNorm = false, gemmaNorm = false, sandwichNorms = false;
    bool attnSoftcap = false, finalSoftcap = false;
    std::string activation = "SiLU"; // the gated MLP's: SiLU, or Gemma's GELU (tanh)
    int64_t rotaryDim = 0; // head_dim * partial_rotary_factor
    int64_t rotaryPairs = 1; // cos/sin pairs per forward: 2 with Gemma 3's local base
    // The modules that produce q, k, v, gate and up: the same fused module for Phi-3.
    std::string qModule = "q_proj", kModule = "k_proj", vModule = "v_proj", gateModule = "gate_proj",
                upModule = "up_proj";
    // The modules reading the attention's and the MLP's input norm, with their (in, out) shapes.
    std::vector<std::string> attentionInputs, mlpInputs;
    std::vector<std::pair<int64_t, int64_t>> attentionInputShapes, mlpInputShapes;
    std::string attentionInputsName = "q/k/v projections", mlpInputsName = "gate/up projections";
    bool fusedProjections = false;
    bool vViewOfFused = false; // eager attention keeps qkv_proj's output through v (eagerAttentionSaved)
    std::vector<bool> rope; // per layer: whether it turns q and k with RoPE (SmolLM3 skips it in some)
    std::set<std::string> targets;

    bool adapted(const std::string &module) const { return targets.count(module) > 0; }
    bool adaptedAny(const std::vector<std::string> &modules) const {
        return std::any_of(modules.begin(), modules.end(), [this](const std::string &m) { return adapted(m); });
    }
};

Dims dimsOf(const ModelConfig &c, const EstimateSettings &s, const std::vector<std::string> &targets) {
    Dims d;
    d.b = s.microBatch;
    d.t = s.seqLength;
    d.n = d.b * d.t;
    d.hidden = c.hiddenSize;
    d.inter = c.intermediateSize;
    d.heads = c.numHeads;
    d.kvHeads = c.numKvHeads;
    d.headDim = c.headDim;
    d.qOut = c.numHeads * c.headDim;
    d.kvOut = c.numKvHeads * c.headDim;
    d.vocab = c.vocabSize;
    d.layers = c.numLayers;
    d.r = s.loraR;
    d.e = s.computeBytes();
    d.attention = d.b * d.heads * d.t * d.t;
    d.lossRows = d.b * (d.t - 1);
    d.cuda = s.device == "cuda";
    const int libtorch = s.libtorchVersion ? s.libtorchVersion
                         : d.cuda          ? std::max(linkedLibTorchVersion(), 205)
                                           : linkedLibTorchVersion();
    d.meanKeepsInput = libtorch < 200;
    d.dropout = s.loraDropout > 0;
    d.quantized = s.quant != WeightQuant::None;
    d.fused = s.attention == Attention::Sdpa;
    d.window = c.slidingWindow && d.t > *c.slidingWindow;
    d.attnSoftcap = c.attnLogitSoftcap.has_value();
    d.finalSoftcap = c.finalLogitSoftcap.has_value();
    d.flash = d.fused && d.cuda && d.e == 2 && !d.window && !d.attnSoftcap &&
              flashAttentionRuns(s.cudaCapability, d.headDim, true);
    d.chunkRows = attentionChunkRows(d.b, d.heads, d.t, d.t);
    d.chunk = d.b * d.heads * attentionLargestChunk(d.chunkRows, d.t);
    d.qkNorm = c.qkNorm;
    d.gemmaNorm = c.gemmaNorm;
    d.sandwichNorms = c.sandwichNorms;
    d.activation = c.activation == Activation::GeluTanh ? "GELU" : "SiLU";
    d.rotaryDim = c.rotaryDim();
    d.rotaryPairs = c.ropeLocalTheta ? 2 : 1;
    for (int64_t i = 0; i < c.numLayers; ++i)
        d.rope.push_back(c.usesRope(i));
    if (c.fusedProjections) {
        d.qModule = d.kModule = d.vModule = "qkv_proj";
        d.gateModule = d.upModule = "gate_up_proj";
        d.attentionInputs = {"qkv_proj"};
        d.mlpInputs = {"gate_up_proj"};
        d.attentionInputsName = "qkv_proj";
        d.mlpInputsName = "gate_up_proj";
        d.fusedProjections = true;
        d.vViewOfFused = d.b == 1 || d.kvHeads == 1;
    } else {
        d.attentionInputs = {"q_proj", "k_proj", "v_proj"};
        d.mlpInputs = {"gate_proj", "up_proj"};
    }
    for (const auto &m : d.attentionInputs)
        d.attentionInputShapes.push_back(moduleShape(c, m));
    for (const auto &m : d.mlpInputs)
        d.mlpInputShapes.push_back(moduleShape(c, m));
    d.targets.insert(targets.begin(), targets.end());
    return d;
}

int64_t sum(const std::vector<ActivationTerm> &terms) {
    int64_t total = 0;
    for (const auto &t : terms)
        total += t.bytes;
    return total;
}

void add(std::vector<ActivationTerm> &terms, const std::string &name, int64_t bytes) {
    if (bytes > 0)
        terms.push_back({name, bytes});
}

// What one layer saves, in three parts by lifetime: the attention's tensors up to the softmax (alive
// at the forward's attention peak, freed last in backward), those after it (v, probs in the compute
// dtype, o_proj's LoRA input), and the MLP's (freed first in backward; afterDown of them is saved
// from down_proj on, by its adapter and Gemma's post-feedforward norm, and freed before the MLP's
// largest backward moment).
struct LayerSaved {
    std::vector<ActivationTerm> attention, afterSoftmax, mlp;
    int64_t afterDown = 0;
    // Saved before the q/k/v (or qkv) projections run: input_layernorm's tensors; and before gate/up
    // (gate_up) run: everything up to and with the MLP's input norm.
    int64_t beforeAttentionProjections = 0, beforeMlpProjections = 0;
    // Which tensors carry gradients (and so are saved by the ops that read them).
    bool inputGrad = false, qGrad = false, kGrad = false, scoresGrad = false, attentionGrad = false, hiddenGrad = false,
         gateGrad = false, upGrad = false;
    bool outputRequiresGrad = false;
    bool recorded = true; // false: run without gradients (checkpointed forward), nothing saved
    int64_t bytes() const { return sum(attention) + sum(afterSoftmax) + sum(mlp); }
};

// transformers' RMSNorm as rmsNorm() computes it: x.to(float32), x.pow(2).mean(-1), rsqrt, product.
// Backward needs the float32 input (for pow and the product), 1/rms, and in LibTorch 1.x the squared
// input, which mean's backward keeps there (1.13's MeanBackward1 saves self_; 2.x saves its element
// count, and the H200's measurements with torch 2.11 agree within 0.2% only without it). In float32 the
// "copy" is the input itself: it is counted here when nothing else keeps it, and not at all when a
// checkpoint already saves it. Gemma's norm multiplies by (1 + w) in float32, and that product keeps
// the float32 [width] factor for its input's gradient (Llama's keeps the weight itself). A norm over
// `rows` vectors of `width`: [shape, width] (q/k norms: one per token and head over head_dim).
void rmsNormSaved(std::vector<ActivationTerm> &terms, const Dims &d, const std::string &name, int64_t rows,
                  int64_t width, const std::string &shape, const std::string &widthName, bool inputKept) {
    const std::string full = " [" + shape + "," + widthName + "]";
    add(terms, name + ": input in float32" + full, (d.e == kFloat32 && inputKept) ? 0 : kFloat32 * rows * width);
    if (d.meanKeepsInput)
        add(terms, name + ": squared input, float32" + full + " (kept by mean's backward)", kFloat32 * rows * width);
    add(terms, name + ": 1/rms, float32 [" + shape + ",1]", kFloat32 * rows);
    if (d.gemmaNorm)
        add(terms, name + ": 1 + weight, float32 [" + widthName + "]", kFloat32 * width);
}

// A norm over the hidden states [B,T,H].
void hiddenNormSaved(std::vector<ActivationTerm> &terms, const Dims &d, const std::string &name, bool inputKept) {
    rmsNormSaved(terms, d, name, d.n, d.hidden, "B,T", "H", inputKept);
}

// A LoRA branch y += B(A(dropout(x))) * scaling (linear.cpp). Backward of A needs its input: x itself
// without dropout (counted once per shared input by the caller), else the dropped copy, and the
// dropout mask when x needs a gradient (the CPU dropout multiplies by a mask in the compute dtype;
// CUDA's fused dropout keeps a bool mask). Backward of B needs A's output [B,T,r]; A and B cast to
// the compute dtype are saved too.
void loraSaved(std::vector<ActivationTerm> &terms, const Dims &d, const std::string &module, int64_t in, int64_t out,
               bool inputRequiresGrad) {
    if (d.dropout) {
        add(terms, module + " LoRA: dropout mask [B,T,in]", inputRequiresGrad ? (d.cuda ? kBool : d.e) * d.n * in : 0);
        add(terms, module + " LoRA: dropped input [B,T,in]", d.e * d.n * in);
    }
    add(terms, module + " LoRA: A·x [B,T,r]", d.e * d.n * d.r);
    if (d.e != kFloat32)
        add(terms, module + " LoRA: A and B cast to the compute dtype", d.e * d.r * (in + out));
}

// LoRA on `modules` sharing one input of `width` features: the input is saved once (no dropout).
void loraGroupSaved(std::vector<ActivationTerm> &terms, const Dims &d, const std::vector<std::string> &modules,
                    const std::string &inputName, int64_t width, const std::vector<std::pair<int64_t, int64_t>> &shapes,
                    bool inputRequiresGrad) {
    bool any = false;
    for (size_t i = 0; i < modules.size(); ++i) {
        if (!d.adapted(modules[i]))
            continue;
        any = true;
        loraSaved(terms, d, modules[i], shapes[i].first, shapes[i].second, inputRequiresGrad);
    }
    if (any && !d.dropout)
        add(terms, inputName + " (LoRA input)", d.e * d.n * width);
}

// decoder_layer.cpp's eager attention.
void eagerAttentionSaved(std::vector<ActivationTerm> &a, std::vector<ActivationTerm> &after, const Dims &d, bool qGrad,
                         bool kGrad, bool vGrad) {
    const bool scoresGrad = qGrad || kGrad;
    // scores = (q·k^T) with q reshaped to [B,kv,groups*T,d]: matmul saves q and k^T as it uses them,
    // contiguous copies where their layout needs one (attentionLocals), the same bytes either way.
    add(a, "q after rotary, contiguous copy for q·k^T [B,heads,T,d]", kGrad ? d.e * d.n * d.qOut : 0);
    add(a, "k^T after rotary, contiguous copy for q·k^T [B,kv,d,T]", qGrad ? d.e * d.n * d.kvOut : 0);
    // Soft-capping, cap * tanh(scores / cap) in the compute dtype: tanh's backward keeps its output.
    if (d.attnSoftcap && scoresGrad)
        add(a, "soft-capping: tanh of the scores [B,heads,T,T] (kept by tanh's backward)", d.e * d.attention);
    if (scoresGrad) {
        add(a, "mask of disallowed keys, bool [B,1,1,T,T] (kept by masked_fill)", kBool * d.b * d.t * d.t);
        add(a, "softmax output, float32 [B,heads,T,T] (our attention materialises it)", kFloat32 * d.attention);
    }
    // probs·v saves probs for v's gradient (in float32 the softmax output itself) and a contiguous
    // copy of v for probs' gradient.
    if (vGrad && (d.e != kFloat32 || !scoresGrad))
        add(after, "probabilities in the compute dtype for probs·v [B,heads,T,T]", d.e * d.attention);
    // Phi-3's v is a view of qkv_proj's output; where batch or kv heads are 1 it reshapes to probs·v's
    // [B*kv,T,d] without a copy, and the saved view keeps that whole output.
    if (d.vViewOfFused)
        add(after, "qkv_proj output, kept by probs·v through v's view [B,T,(heads+2kv)*d]",
            scoresGrad ? d.e * d.n * (d.qOut + 2 * d.kvOut) : 0);
    else
        add(after, "v, contiguous copy for probs·v [B,kv,T,d]", scoresGrad ? d.e * d.n * d.kvOut : 0);
}

// fused_attention.cpp keeps its inputs: q after rotary, k and v made contiguous. Torch's flash
// kernel also keeps its output ([B,T,heads,d] in memory: o_proj's input is a view of it, which
// o_proj's LoRA may keep already) and a float32 log-sum-exp per query and head.
void fusedAttentionSaved(std::vector<ActivationTerm> &a, const Dims &d, bool attentionGrad) {
    if (!attentionGrad)
        return;
    add(a, "q after rotary [B,heads,T,d] (kept by fused attention)", d.e * d.n * d.qOut);
    add(a, "k after rotary and v, contiguous [B,kv,T,d] (kept by fused attention)", 2 * d.e * d.n * d.kvOut);
    if (d.flash) {
        add(a, "flash attention output [B,T,heads,d]", d.adapted("o_proj") && !d.dropout ? 0 : d.e * d.n * d.qOut);
        add(a, "flash attention log-sum-exp, float32 [B,heads,T]", kFloat32 * d.b * d.heads * d.t);
    }
}

// One decoder layer (decoder_layer.cpp). inputRequiresGrad is false only for the first layer
// without checkpointing (the embedding is frozen); then only what the adapters need is saved.
LayerSaved layerSaved(const Dims &d, bool inputRequiresGrad, bool inputKept) {
    LayerSaved s;
    auto &a = s.attention;
    if (inputRequiresGrad)
        hiddenNormSaved(a, d, "input_layernorm", inputKept);
    s.beforeAttentionProjections = sum(a);
    loraGroupSaved(a, d, d.attentionInputs, "input_layernorm output [B,T,H]", d.hidden, d.attentionInputShapes,
                   inputRequiresGrad);
    // The 4-bit linears save nothing (Quant4LinearFunction dequantizes again in backward); dense
    // frozen linears save nothing either (only the input gradient is computed).
    const bool qGrad = inputRequiresGrad || d.adapted(d.qModule);
    const bool kGrad = inputRequiresGrad || d.adapted(d.kModule);
    const bool vGrad = inputRequiresGrad || d.adapted(d.vModule);
    // Qwen3's and Gemma 3's norms over each head's q and k, before RoPE ([B,T,heads,d], in float32 a
    // view of the projection's output, which is then kept).
    if (d.qkNorm && qGrad)
        rmsNormSaved(a, d, "q_norm", d.n * d.heads, d.headDim, "B,T,heads", "d", false);
    if (d.qkNorm && kGrad)
        rmsNormSaved(a, d, "k_norm", d.n * d.kvHeads, d.headDim, "B,T,kv", "d", false);
    const bool scoresGrad = qGrad || kGrad;
    const bool attentionGrad = scoresGrad || vGrad;
    if (d.fused)
        fusedAttentionSaved(a, d, attentionGrad);
    else
        eagerAttentionSaved(a, s.afterSoftmax, d, qGrad, kGrad, vGrad);
    auto &after = s.afterSoftmax;
    loraGroupSaved(after, d, {"o_proj"}, "attention output [B,T,heads*d]", d.qOut, {{d.qOut, d.hidden}}, attentionGrad);
    const bool hiddenGrad = attentionGrad || d.adapted("o_proj");
    // Gemma's sandwich: the attention output is normed before the residual sum, and the MLP's input
    // norm is pre_feedforward_layernorm.
    if (d.sandwichNorms && hiddenGrad)
        hiddenNormSaved(after, d, "post_attention_layernorm (attention output)", false);

    auto &m = s.mlp;
    const std::string mlpNorm = d.sandwichNorms ? "pre_feedforward_layernorm" : "post_attention_layernorm";
    if (hiddenGrad)
        hiddenNormSaved(m, d, mlpNorm, false);
    s.beforeMlpProjections = sum(s.attention) + sum(s.afterSoftmax) + sum(m);
    loraGroupSaved(m, d, d.mlpInputs, mlpNorm + " output [B,T,H]", d.hidden, d.mlpInputShapes, hiddenGrad);
    const bool gateGrad = hiddenGrad || d.adapted(d.gateModule);
    const bool upGrad = hiddenGrad || d.adapted(d.upModule);
    // down(act(gate) * up), act SiLU or GELU (tanh): either keeps its input, the product keeps both
    // factors. Phi-3's gate and up are views of gate_up_proj's output, which they keep whole: the
    // same bytes.
    add(m, "gate output (" + d.activation + " input) [B,T,I]", gateGrad ? d.e * d.n * d.inter : 0);
    add(m, d.activation + " output [B,T,I]", upGrad ? d.e * d.n * d.inter : 0);
    add(m, "up output [B,T,I]", gateGrad ? d.e * d.n * d.inter : 0);
    const int64_t beforeDown = sum(m);
    loraGroupSaved(m, d, {"down_proj"}, d.activation + "(gate)·up [B,T,I]", d.inter, {{d.inter, d.hidden}},
                   gateGrad || upGrad);
    const bool mlpOutputGrad = hiddenGrad || gateGrad || upGrad || d.adapted("down_proj");
    if (d.sandwichNorms && mlpOutputGrad)
        hiddenNormSaved(m, d, "post_feedforward_layernorm (MLP output)", false);
    s.afterDown = sum(m) - beforeDown;
    s.inputGrad = inputRequiresGrad;
    s.qGrad = qGrad;
    s.kGrad = kGrad;
    s.scoresGrad = scoresGrad;
    s.attentionGrad = attentionGrad;
    s.hiddenGrad = hiddenGrad;
    s.gateGrad = gateGrad;
    s.upGrad = upGrad;
    s.outputRequiresGrad = mlpOutputGrad;
    return s;
}

// chunkedCrossEntropySum: rows = final hidden states of the positions that predict a label; the
// rows are gathered (a copy; the narrowed [B,T-1,H] view is copied first when B > 1), d(loss)/d(rows)
// is filled chunk by chunk and saved (gradRows). A chunk peaks in its last matmul: its logits and
// their softmax in float32, below float32 the softmax cast back, and the result [chunk,H]
// (measured on the CPU for bf16: 10.0-10.3 bytes per logit of a chunk over a 49k vocabulary).
struct LossWork {
    int64_t saved = 0; // kept until backward: gradRows [rows,H] + the gathered row indices
    int64_t peak = 0; // the loss forward's working set on top of `saved`
};

LossWork lossWork(const Dims &d) {
    const int64_t rows = d.lossRows;
    const int64_t chunk = std::min(lossChunkTokens(d.vocab), rows);
    LossWork w;
    w.saved = d.e * rows * d.hidden + kInt64 * rows;
    const int64_t rowCopies = d.e * rows * d.hidden * (d.b > 1 ? 2 : 1);
    const int64_t labelWork = kInt64 * rows * (d.b > 1 ? 2 : 1) + kBool * rows;
    if (d.finalSoftcap) {
        // Final soft-capping keeps tanh(logits / cap) beside the capped logits, and the gradient's
        // factor 1 - tanh^2 is two more float32 temporaries (square, then 1 - square) while the
        // softmax is multiplied by it: five float32 [chunk,V] at once, more than at the last matmul.
        w.peak = rowCopies + labelWork + 5 * kFloat32 * chunk * d.vocab;
        return w;
    }
    const int64_t chunkLogits = (2 * kFloat32 + (d.e == kFloat32 ? 0 : d.e)) * chunk * d.vocab;
    w.peak = rowCopies + labelWork + chunkLogits + d.e * chunk * d.hidden;
    return w;
}

// The chunked form takes a chunk's query rows as [B,kv,groups*R,d]: a view when one group shares
// each kv head, or when q is contiguous [B,heads,T,d] (partial RoPE's concatenation) and the chunk
// has every row; otherwise a copy (q after full RoPE keeps the projection's [B,T,heads,d] order).
bool chunkQRowsCopied(const Dims &d, bool rope) {
    const bool contiguous = rope && d.rotaryDim < d.headDim;
    return d.heads > d.kvHeads && !(contiguous && d.chunkRows >= d.t);
}

// attention() in decoder_layer.cpp holds its locals until it returns: the projections' outputs qp,
// kp and vp (Phi-3: views of one qkv_proj output), and q and k after RoPE or a q/k norm (new
// tensors; a RoPE-free layer without norms uses views of qp and kp). What of them is alive at the
// attention op beyond the layer's saved tensors, in a layer with or without RoPE. Whether a tensor
// is saved as it is or as a copy follows from its memory layout: RoPE's product keeps the [B,T,heads,d]
// order of the projection (partial RoPE's concatenation is contiguous [B,heads,T,d]).
// - eager: q·k^T reshapes q to [B*kv, groups*T, d] and k^T to [B*kv, d, T], probs·v v to
//   [B*kv, T, d], and saves views where the layout allows (no groups and B or kv 1 for q; B or kv 1
//   for k), else copies; the original stays a local beside a copy.
// - fused: k and v are made contiguous (a copy replaces the local unless kv is 1 and the tensor is
//   not a view into a wider row), and fusedAttention saves what it gets.
int64_t attentionLocals(const Dims &d, const LayerSaved &layer, bool rope) {
    const int64_t q = d.e * d.n * d.qOut, kv = d.e * d.n * d.kvOut;
    const bool qNew = rope || d.qkNorm, kNew = qNew;
    const bool partial = rope && d.rotaryDim < d.headDim;
    const bool oneKv = d.kvHeads == 1, rowsAlone = d.b == 1 || oneKv;
    // In float32 a q/k norm's saved input is the projection's output itself.
    const bool qpByNorm = layer.recorded && d.e == kFloat32 && d.qkNorm && layer.qGrad;
    const bool kpByNorm = layer.recorded && d.e == kFloat32 && d.qkNorm && layer.kGrad;
    int64_t bytes = 0;
    if (d.fused) {
        const bool saved = layer.recorded && layer.attentionGrad;
        const bool kAsIs = kNew ? (partial || oneKv) : (oneKv && !d.fusedProjections);
        const bool vAsIs = oneKv && !d.fusedProjections;
        bytes += (qpByNorm || (!qNew && saved)) ? 0 : q; // qp
        bytes += (kpByNorm || (!kNew && kAsIs && saved)) ? 0 : kv; // kp
        bytes += (vAsIs && saved) ? 0 : kv; // vp
        bytes += (qNew && !saved) ? q : 0; // q after RoPE / norm
        bytes += ((kNew || !kAsIs) && !saved) ? kv : 0; // k after RoPE / norm, or its contiguous copy
        bytes += (!vAsIs && !saved) ? kv : 0; // v's contiguous copy
        return bytes;
    }
    const bool qAsIs = partial || (d.heads == d.kvHeads && rowsAlone), kAsIs = partial || rowsAlone;
    const bool qSaved = layer.recorded && layer.kGrad && qAsIs, kSaved = layer.recorded && layer.qGrad && kAsIs;
    bytes += (qpByNorm || (!qNew && qSaved)) ? 0 : q; // qp
    bytes += (kpByNorm || (!kNew && kSaved)) ? 0 : kv; // kp
    bytes += kv; // vp (probs·v comes after the softmax)
    bytes += (qNew && !qSaved) ? q : 0;
    bytes += (kNew && !kSaved) ? kv : 0;
    return bytes;
}

// Eager attention's working set at the end of its softmax statement, beyond what the layer has
// saved by then: the attention's locals, the scaled scores (a local), the masked scores and, below
// float32, the float32 copy of the scores and the probabilities cast back (temporaries of the
// statement); the softmax output and the mask when nothing saves them. With soft-capping, the
// statement scores = tanh(scores / cap) * cap holds four [B,heads,T,T] in the compute dtype (the
// scores, their quotient, tanh, the capped scores): more than the softmax when tanh is not saved.
int64_t eagerForwardTransient(const Dims &d, const LayerSaved &layer, bool rope) {
    const int64_t locals = attentionLocals(d, layer, rope);
    int64_t bytes = locals + d.e * d.attention + kFloat32 * d.attention;
    if (d.e != kFloat32)
        bytes += kFloat32 * d.attention + d.e * d.attention; // the float32 scores, probs cast back
    if (!layer.scoresGrad)
        bytes += kFloat32 * d.attention + kBool * d.b * d.t * d.t; // softmax output, mask
    if (d.attnSoftcap && !layer.scoresGrad)
        bytes = std::max(bytes, locals + 4 * d.e * d.attention);
    return bytes;
}

// Fused attention's forward working set beyond what it saves: the attention's locals (q, k and v
// among them unless saved); the chunked form's output [B,heads,T,d] (filled chunk by chunk), and in
// its largest chunk (R rows over the K keys up to its last row) the copy of q's rows, the masked
// float32 scores and their softmax [B,heads,R,K] and the chunk's inverted mask [B,1,R,K]; flash's
// output and log-sum-exp unless saved.
int64_t fusedForwardTransient(const Dims &d, const LayerSaved &layer, bool rope) {
    const bool saved = layer.recorded && layer.attentionGrad;
    const int64_t bytes = attentionLocals(d, layer, rope);
    if (d.flash) {
        // The output is in the attention's saved part only when o_proj's LoRA does not keep it.
        const bool outputSaved = saved && !(d.adapted("o_proj") && !d.dropout);
        return bytes + (outputSaved ? 0 : d.e * d.n * d.qOut) + (saved ? 0 : kFloat32 * d.b * d.heads * d.t);
    }
    // Soft-capping keeps tanh(scores / cap) of the chunk, in the compute dtype, through the chunk.
    const int64_t capped = d.attnSoftcap ? d.e * d.chunk : 0;
    const int64_t qRows = chunkQRowsCopied(d, rope) ? d.e * d.b * d.heads * d.chunkRows * d.headDim : 0;
    return bytes + d.e * d.n * d.qOut + qRows + 2 * kFloat32 * d.chunk + capped + kBool * d.chunk / d.heads;
}

// One call of a projection (Linear::operator() in linear.cpp) beyond its input and what was saved
// before it: the base output [B,T,out]; while the base matmul runs, a 4-bit weight dequantized to
// the compute dtype; with LoRA, after the base: the dropped copy of the input (while dropout runs,
// its mask, which stays when saved), A·x, A and B cast, B·(A·x), its scaled copy and the sum (three
// [B,T,out] beside the base output).
int64_t projectionCall(const Dims &d, const std::string &module, int64_t in, int64_t out, bool maskSaved) {
    const int64_t dequant = d.quantized ? d.e * in * out : 0;
    int64_t lora = 0;
    if (d.adapted(module)) {
        const int64_t dropped = d.dropout ? d.e * d.n * in : 0;
        const int64_t mask = d.dropout ? (d.cuda ? kBool : d.e) * d.n * in : 0;
        lora = std::max(dropped + mask, dropped + (maskSaved ? mask : 0) + d.e * d.n * d.r +
                                            (d.e != kFloat32 ? d.e * d.r * (in + out) : 0) + 3 * d.e * d.n * out);
    }
    return d.e * d.n * out + std::max(dequant, lora);
}

// The largest moment among the calls of a group of projections reading one input (q, k, v; gate,
// up; Phi-3's qkv_proj or gate_up_proj alone): each call also holds the earlier ones' outputs (the
// locals qp, kp, ...) and what their adapters saved.
int64_t projectionsTransient(const Dims &d, const std::vector<std::string> &modules,
                             const std::vector<std::pair<int64_t, int64_t>> &shapes, bool recorded,
                             bool inputRequiresGrad) {
    int64_t held = 0, largest = 0;
    for (size_t i = 0; i < modules.size(); ++i) {
        const auto [in, out] = shapes[i];
        largest = std::max(largest, held + projectionCall(d, modules[i], in, out, recorded && inputRequiresGrad));
        std::vector<ActivationTerm> saved;
        if (recorded && d.adapted(modules[i]))
            loraSaved(saved, d, modules[i], in, out, inputRequiresGrad);
        held += d.e * d.n * out + sum(saved);
    }
    return largest;
}

// The forward's working set while the q/k/v projections run, beyond input_layernorm's saved
// tensors: the layer input (unless saved), the norm's output and the projections' calls.
int64_t forwardAttentionProjections(const Dims &d, const LayerSaved &layer, bool inputSaved) {
    const int64_t row = d.e * d.n * d.hidden;
    return (inputSaved ? 0 : row) + row +
           projectionsTransient(d, d.attentionInputs, d.attentionInputShapes, layer.recorded, layer.inputGrad);
}

// The forward's working set at attention's peak beyond what the layer has saved by then: the
// attention's own, the layer input (unless saved: in float32 by the norm, or by a checkpoint) and
// the norm's output (unless LoRA saves it).
int64_t forwardAttentionTransient(const Dims &d, const LayerSaved &layer, bool inputSaved, bool rope) {
    const int64_t bytes = d.fused ? fusedForwardTransient(d, layer, rope) : eagerForwardTransient(d, layer, rope);
    const bool normKept = layer.recorded && !d.dropout && d.adaptedAny(d.attentionInputs);
    const int64_t row = d.e * d.n * d.hidden;
    return bytes + (inputSaved ? 0 : row) + (normKept ? 0 : row);
}

// The [B,T,H] tensors alive through the MLP's forward beside its own: the layer input (unless
// saved), the attention output (a local of DecoderLayer::forward; with Gemma's sandwich saved by
// its norm in float32), the residual sum (saved by the MLP's norm in float32) and that norm's output
// (the MLP's input; once gate and up have run, saved as their adapters' input).
int64_t mlpRows(const Dims &d, const LayerSaved &layer, bool inputSaved, bool normOutputSaved) {
    const int64_t row = d.e * d.n * d.hidden;
    const bool savedInFloat32 = layer.recorded && layer.hiddenGrad && d.e == kFloat32;
    return (inputSaved ? 0 : row) + (d.sandwichNorms && savedInFloat32 ? 0 : row) + (savedInFloat32 ? 0 : row) +
           (normOutputSaved ? 0 : row);
}

// The forward's working set while gate and up (gate_up) run, beyond what the layer saved up to the
// MLP's norm: mlpRows and the projections' calls.
int64_t forwardMlpProjections(const Dims &d, const LayerSaved &layer, bool inputSaved) {
    return mlpRows(d, layer, inputSaved, false) +
           projectionsTransient(d, d.mlpInputs, d.mlpInputShapes, layer.recorded, layer.hiddenGrad);
}

// The forward's working set while down_proj runs, beyond what the layer saves before it: the
// statement down(act(gate(h)) * up(h)) holds all its temporaries (gate, the activation, up, their
// product [B,T,I]) to its end, and down_proj's call (projectionCall); mlpRows.
int64_t forwardMlpTransient(const Dims &d, const LayerSaved &layer, bool inputSaved) {
    const int64_t inter = d.e * d.n * d.inter;
    int64_t bytes = inter; // the product
    bytes += (layer.gateGrad ? 0 : 2 * inter) + (layer.upGrad ? 0 : inter); // gate and up; the activation
    const bool maskSaved = layer.recorded && (layer.gateGrad || layer.upGrad);
    const bool normOutputSaved = layer.recorded && !d.dropout && d.adaptedAny(d.mlpInputs);
    return bytes + mlpRows(d, layer, inputSaved, normOutputSaved) +
           projectionCall(d, "down_proj", d.inter, d.hidden, maskSaved);
}

// The MLP's largest backward moment on top of its saved tensors, the larger of: down_proj's input
// gradient from the frozen weight (dequantized for it in the compute dtype) while LoRA's share of
// that gradient waits (autograd runs the adapter's branch first, which then releases what it saved),
// and the product's backward, which holds the incoming gradient and both factor gradients [B,T,I].
// Under Gemma's post-feedforward norm, down_proj's output gradient is that norm's input gradient
// [B,T,H], a tensor of its own beside the residual gradient (without it, the same tensor), until
// down_proj's backward is done.
int64_t mlpBackwardTransient(const Dims &d, const LayerSaved &layer) {
    const int64_t dequant = d.quantized ? d.e * d.hidden * d.inter : 0;
    const int64_t outputGrad = d.sandwichNorms ? d.e * d.n * d.hidden : 0;
    const int64_t atDown =
        dequant + (d.adapted("down_proj") ? 2 : 1) * d.e * d.n * d.inter + outputGrad - layer.afterDown;
    const int64_t atProduct = 3 * d.e * d.n * d.inter - layer.afterDown;
    return std::max(atDown, atProduct);
}

// Eager: softmax backward holds the incoming gradient and its result, both float32 [B,heads,T,T].
// Chunked fused form: the incoming gradient and q's [B,heads,T,d], k's and v's in float32
// [B,kv,T,d], and in its largest chunk the copies of q's and the gradient's rows (chunkQRowsCopied)
// and three float32 [B,heads,R,K] (probabilities, their gradient, softmax backward's result).
// Flash (assumed from flash-attention 2's backward, not measured): the incoming gradient, q's
// gradient and its float32 accumulator, k's and v's expanded to every head and summed back to the
// kv heads, a float32 row sum.
int64_t attentionBackwardTransient(const Dims &d, bool rope) {
    if (!d.fused)
        return 2 * kFloat32 * d.attention;
    const int64_t gradients = 2 * d.e * d.n * d.qOut; // incoming, q's
    if (d.flash)
        return gradients + kFloat32 * d.n * d.qOut + (d.heads > d.kvHeads ? 2 * d.e * d.n * d.qOut : 0) +
               2 * d.e * d.n * d.kvOut + kFloat32 * d.b * d.heads * d.t;
    // The incoming gradient is a transposed view of o_proj's input gradient, [B,T,heads,d] in memory.
    const int64_t rows = d.e * d.b * d.heads * d.chunkRows * d.headDim;
    const int64_t copies = (chunkQRowsCopied(d, rope) ? rows : 0) + (d.heads > d.kvHeads ? rows : 0);
    // Soft-capping: the recomputed tanh(scores / cap) of the chunk, for the gradient's 1 - tanh^2.
    const int64_t capped = d.attnSoftcap ? d.e * d.chunk : 0;
    return gradients + 2 * kFloat32 * d.n * d.kvOut + copies + 3 * kFloat32 * d.chunk + capped;
}

// A norm's backward over [B,T,H]: float32 temporaries for the products' gradients, mean's expanded
// gradient and pow's terms, at most four at once beside the incoming gradient (measured for
// Llama's and Gemma's norm, float32 and bf16, with LibTorch 1.13: 4.00 x 4·N·H).
int64_t normBackwardTransient(const Dims &d) { return 4 * kFloat32 * d.n * d.hidden; }

struct Phase {
    std::string name;
    std::vector<ActivationTerm> parts;
    int64_t bytes() const { return sum(parts); }
};

// Terms that several phases share.
struct Shared {
    LayerSaved full; // a layer that gradients flow through
    ActivationTerm allowed; // the boolean attention mask(s) [B,1,T,T]
    ActivationTerm finalNorm, hidden, residualGrad, lossSaved, lossPeak, mlpTransient;
};

Shared sharedTerms(const Dims &d, bool checkpointing) {
    Shared s;
    s.full = layerSaved(d, true, checkpointing);
    // hiddenStates() builds the mask once per forward (twice with a window); the layers'
    // inputs keep it while they run, a checkpoint keeps it until its backward.
    s.allowed = {d.window ? "attention masks, full and sliding window, bool [B,1,T,T]"
                          : "attention mask, bool [B,1,T,T]",
                 (d.window ? 2 : 1) * kBool * d.b * d.t * d.t};
    std::vector<ActivationTerm> finalNorm;
    hiddenNormSaved(finalNorm, d, "final norm", false);
    s.finalNorm = {"final norm saved", sum(finalNorm)};
    s.hidden = {"final hidden states [B,T,H]", d.e * d.n * d.hidden};
    s.residualGrad = {"gradient of the hidden states [B,T,H]", d.e * d.n * d.hidden};
    const LossWork loss = lossWork(d);
    s.lossSaved = {"loss: gradRows and row indices", loss.saved};
    s.lossPeak = {"loss: row copies and one chunk of logits", loss.peak};
    s.mlpTransient = {"MLP backward temporaries", mlpBackwardTransient(d, s.full)};
    return s;
}

ActivationTerm attentionBackwardTerm(const Dims &d, bool rope) {
    return {"attention backward temporaries", attentionBackwardTransient(d, rope)};
}

// Without checkpointing every layer keeps its saved tensors until backward reaches it; the peak is
// in the last layer's forward, the loss, or the last layer's backward.
std::vector<Phase> phasesWithoutCheckpointing(const Dims &d, const Shared &s) {
    int64_t keptBefore = 0; // by the layers before the last
    bool requiresGrad = false;
    LayerSaved last;
    for (int64_t i = 0; i < d.layers; ++i) {
        last = i == 0 ? layerSaved(d, requiresGrad, false) : s.full;
        requiresGrad = last.outputRequiresGrad;
        if (i + 1 < d.layers)
            keptBefore += last.bytes();
    }
    const bool rope = d.rope.back();
    const ActivationTerm before{"saved by the layers before the last", keptBefore};
    const ActivationTerm kept{"saved by the " + std::to_string(d.layers) + " layers", keptBefore + last.bytes()};
    // In float32 the last layer's input is its input_layernorm's saved float32 input.
    const bool inputSaved = d.e == kFloat32 && last.inputGrad;
    std::vector<Phase> forward = {
        {"forward of the last layer's " + d.attentionInputsName,
         {s.allowed,
          before,
          {"saved by the last layer before them", last.beforeAttentionProjections},
          {"projection temporaries", forwardAttentionProjections(d, last, inputSaved)}}},
        {"forward of the last layer's attention",
         {s.allowed,
          before,
          {"saved by the last layer's attention so far", sum(last.attention)},
          {"attention forward temporaries", forwardAttentionTransient(d, last, inputSaved, rope)}}},
        {"forward of the last layer's " + d.mlpInputsName,
         {s.allowed,
          before,
          {"saved by the last layer before them", last.beforeMlpProjections},
          {"projection temporaries", forwardMlpProjections(d, last, inputSaved)}}},
        {"forward of the last layer's MLP",
         {s.allowed,
          before,
          {"saved by the last layer before down_proj", last.bytes() - last.afterDown},
          {"MLP forward temporaries", forwardMlpTransient(d, last, inputSaved)}}},
    };
    std::vector<Phase> later = {
        {"loss forward", {kept, s.finalNorm, s.hidden, s.lossSaved, s.lossPeak}},
        {"backward of the final norm",
         {kept, s.finalNorm, s.residualGrad, {"norm backward temporaries", normBackwardTransient(d)}}},
        {"backward of the last layer's MLP", {kept, s.residualGrad, s.mlpTransient}},
        {"backward of the last layer's attention",
         {{"saved by the other layers and the last layer's attention", keptBefore + sum(last.attention)},
          s.residualGrad,
          attentionBackwardTerm(d, rope)}},
    };
    // Gemma's post-feedforward norm runs its backward first, with the whole layer's saved tensors.
    if (d.sandwichNorms)
        later.push_back({"backward of the last layer's post-feedforward norm",
                         {kept, s.residualGrad, {"norm backward temporaries", normBackwardTransient(d)}}});
    // The forward frees its mask, except where the chunked fused attention keeps it for backward
    // (eager attention keeps copies of it, counted per layer).
    for (auto &phase : later)
        if (d.fused && !d.flash)
            phase.parts.push_back({"attention mask, kept by fused attention for backward", s.allowed.bytes});
    forward.insert(forward.end(), later.begin(), later.end());
    return forward;
}

// With checkpointing each layer keeps only its input (checkpointed_layer.cpp), the random state
// that redraws its dropout masks and the attention mask; backward recomputes each layer with
// gradients on, so its saved tensors, its output and the backward's temporaries exist at once. The
// inputs and random states of the layers after it were freed by their backward: the last layer is
// the largest, unless another has more locals (a RoPE layer below SmolLM3's RoPE-free last one):
// then the phases of the last layer of that kind count too.
std::vector<Phase> phasesWithCheckpointing(const Dims &d, const Shared &s) {
    const ActivationTerm rowOfOutput{"the recomputed layer's output [B,T,H]", d.e * d.n * d.hidden};
    LayerSaved unrecorded;
    unrecorded.recorded = false;
    const auto &full = s.full;
    std::vector<Phase> phases = {
        {"loss forward",
         {{"layer inputs [B,T,H], one per layer", d.layers * d.e * d.n * d.hidden},
          {"random-number state, one per layer", d.layers * (d.cuda ? kCudaRngStateBytes : kCpuRngStateBytes)},
          s.allowed,
          s.finalNorm,
          s.hidden,
          s.lossSaved,
          s.lossPeak}}};
    std::vector<int64_t> layers = {d.layers - 1};
    for (int64_t i = d.layers - 2; i >= 0; --i)
        if (d.rope[i] != d.rope.back()) {
            layers.push_back(i);
            break;
        }
    for (const int64_t i : layers) {
        const bool rope = d.rope[i];
        const std::string layer = i + 1 == d.layers ? "the last layer" : "layer " + std::to_string(i);
        const std::string recomputed =
            i + 1 == d.layers ? "the recomputed last layer" : "the recomputed layer " + std::to_string(i);
        const std::string upTo = i + 1 == d.layers ? "one per layer" : "layers 0 to " + std::to_string(i);
        const ActivationTerm inputs{"layer inputs [B,T,H], " + upTo, (i + 1) * d.e * d.n * d.hidden};
        const ActivationTerm rng{"random-number state, " + upTo,
                                 (i + 1) * (d.cuda ? kCudaRngStateBytes : kCpuRngStateBytes)};
        std::vector<Phase> more = {
            {"forward of " + layer + "'s " + d.attentionInputsName + " (no gradients)",
             {inputs, rng, s.allowed, {"projection temporaries", forwardAttentionProjections(d, unrecorded, true)}}},
            {"forward of " + layer + "'s attention (no gradients)",
             {inputs,
              rng,
              s.allowed,
              {"attention forward temporaries", forwardAttentionTransient(d, unrecorded, true, rope)}}},
            {"forward of " + layer + "'s " + d.mlpInputsName + " (no gradients)",
             {inputs, rng, s.allowed, {"projection temporaries", forwardMlpProjections(d, unrecorded, true)}}},
            {"forward of " + layer + "'s MLP (no gradients)",
             {inputs, rng, s.allowed, {"MLP forward temporaries", forwardMlpTransient(d, unrecorded, true)}}},
            {"recomputing " + layer + "'s " + d.attentionInputsName,
             {inputs,
              rng,
              s.allowed,
              s.residualGrad,
              {"saved by the recomputed layer before them", full.beforeAttentionProjections},
              {"projection temporaries", forwardAttentionProjections(d, full, true)}}},
            {"recomputing " + layer + "'s attention",
             {inputs,
              rng,
              s.allowed,
              s.residualGrad,
              {"saved by the recomputed attention so far", sum(full.attention)},
              {"attention forward temporaries", forwardAttentionTransient(d, full, true, rope)}}},
            {"recomputing " + layer + "'s " + d.mlpInputsName,
             {inputs,
              rng,
              s.allowed,
              s.residualGrad,
              {"saved by the recomputed layer before them", full.beforeMlpProjections},
              {"projection temporaries", forwardMlpProjections(d, full, true)}}},
            {"recomputing " + layer + "'s MLP",
             {inputs,
              rng,
              s.allowed,
              s.residualGrad,
              {"saved by the recomputed layer before down_proj", full.bytes() - full.afterDown},
              {"MLP forward temporaries", forwardMlpTransient(d, full, true)}}},
            {"backward of " + recomputed + "'s MLP",
             {inputs,
              rng,
              s.allowed,
              s.residualGrad,
              {"saved by the recomputed layer", full.bytes()},
              rowOfOutput,
              s.mlpTransient}},
            // The checkpoint's incoming gradient stays held while the recomputed layer's backward
            // sums it with the MLP's into the gradient of the attention block's output.
            {"backward of " + recomputed + "'s attention",
             {inputs,
              rng,
              s.allowed,
              s.residualGrad,
              {"saved by the recomputed attention", sum(full.attention)},
              rowOfOutput,
              {"gradient of the attention block's output [B,T,H]", d.e * d.n * d.hidden},
              attentionBackwardTerm(d, rope)}},
        };
        if (d.sandwichNorms)
            more.push_back({"backward of " + recomputed + "'s post-feedforward norm",
                            {inputs,
                             rng,
                             s.allowed,
                             s.residualGrad,
                             {"saved by the recomputed layer", full.bytes()},
                             rowOfOutput,
                             {"norm backward temporaries", normBackwardTransient(d)}}});
        phases.insert(phases.end(), more.begin(), more.end());
    }
    return phases;
}

} // namespace

ActivationEstimate estimateActivations(const ModelConfig &config, const EstimateSettings &settings,
                                       const std::vector<std::string> &targets) {
    const Dims d = dimsOf(config, settings, targets);
    const Shared shared = sharedTerms(d, settings.gradientCheckpointing);
    const auto phases =
        settings.gradientCheckpointing ? phasesWithCheckpointing(d, shared) : phasesWithoutCheckpointing(d, shared);
    const auto peak = std::max_element(phases.begin(), phases.end(),
                                       [](const Phase &a, const Phase &b) { return a.bytes() < b.bytes(); });
    ActivationEstimate out;
    for (const auto *part : {&shared.full.attention, &shared.full.afterSoftmax, &shared.full.mlp})
        out.perLayer.insert(out.perLayer.end(), part->begin(), part->end());
    // Alive through every phase: the batch (ids, attention mask, labels) and the rotary tables,
    // which the graph saves.
    out.peakParts = {{"batch: ids, attention mask, labels, int64 [B,T]", 3 * kInt64 * d.n},
                     {d.rotaryPairs == 2 ? "rotary cos and sin, global and local base [B,1,T,rotary dims]"
                                         : "rotary cos and sin [B,1,T,rotary dims]",
                      d.rotaryPairs * 2 * d.e * d.b * d.t * d.rotaryDim}};
    if (d.cuda) // capability unknown: the larger
        out.peakParts.push_back(
            {"cuBLAS workspaces of the forward and backward threads",
             2 * (settings.cudaCapability >= 90 || settings.cudaCapability == 0 ? kHopperCublasWorkspace
                                                                                : kCublasWorkspace)});
    out.peakParts.insert(out.peakParts.end(), peak->parts.begin(), peak->parts.end());
    out.peakPhase = peak->name;
    out.peakBytes = sum(out.peakParts);
    return out;
}

} // namespace headroom::detail
