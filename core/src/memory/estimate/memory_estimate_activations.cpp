// The activations of one micro-batch as our graph holds them: what the forward pass saves for
// backward, tensor by tensor, plus the transient buffers alive at the step's peak. Read it next to
// decoder_layer.cpp, linear.cpp, rotary.cpp, checkpointed_layer.cpp, causal_lm.cpp (hiddenStates)
// and chunked_loss.cpp: every term names the tensor it counts. Shapes use B rows, T tokens per row,
// N = B*T, H hidden, I intermediate, heads/kv heads of head_dim d, V vocab, r LoRA rank, e bytes of
// the compute dtype. Autograd saves a tensor only for the gradients it will compute, so what a
// layer keeps depends on whether gradients flow into it (LayerSaved's flags).
#include "memory/estimate/memory_estimate_internal.h"

#include <algorithm>
#include <set>

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
    // flashAttentionRuns() and the mask is plain causal (the estimate's full rows, no window; a
    // window is counted as if every layer had one).
    bool fused = false, flash = false;
    int64_t chunkRows = 0; // query rows per chunk of the chunked form
    int64_t chunk = 0; // B*heads*(rows x keys of its largest chunk): one chunk's scores
    std::set<std::string> targets;

    bool adapted(const std::string &module) const { return targets.count(module) > 0; }
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
    d.flash = d.fused && d.cuda && d.e == 2 && !d.window && flashAttentionRuns(s.cudaCapability, d.headDim, true);
    d.chunkRows = attentionChunkRows(d.b, d.heads, d.t, d.t);
    d.chunk = d.b * d.heads * attentionLargestChunk(d.chunkRows, d.t);
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
// dtype, o_proj's LoRA input), and the MLP's (freed first in backward; downLora of them belongs to
// down_proj's adapter, freed before the MLP's largest backward moment).
struct LayerSaved {
    std::vector<ActivationTerm> attention, afterSoftmax, mlp;
    int64_t downLora = 0;
    // Which tensors carry gradients (and so are saved by the ops that read them).
    bool inputGrad = false, scoresGrad = false, attentionGrad = false, hiddenGrad = false, gateGrad = false,
         upGrad = false;
    bool outputRequiresGrad = false;
    bool recorded = true; // false: run without gradients (checkpointed forward), nothing saved
    int64_t bytes() const { return sum(attention) + sum(afterSoftmax) + sum(mlp); }
};

// transformers' RMSNorm as rmsNorm() computes it: x.to(float32), x.pow(2).mean(-1), rsqrt, product.
// Backward needs the float32 input (for pow and the product), 1/rms, and in LibTorch 1.x the squared
// input, which mean's backward keeps there (1.13's MeanBackward1 saves self_; 2.x saves its element
// count, and the H200's measurements with torch 2.11 agree within 0.2% only without it). In float32 the
// "copy" is the input itself: it is counted here when nothing else keeps it, and not at all when a
// checkpoint already saves it.
void rmsNormSaved(std::vector<ActivationTerm> &terms, const Dims &d, const std::string &name, bool inputKept) {
    add(terms, name + ": input in float32 [B,T,H]", (d.e == kFloat32 && inputKept) ? 0 : kFloat32 * d.n * d.hidden);
    if (d.meanKeepsInput)
        add(terms, name + ": squared input, float32 [B,T,H] (kept by mean's backward)", kFloat32 * d.n * d.hidden);
    add(terms, name + ": 1/rms, float32 [B,T,1]", kFloat32 * d.n);
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
    // scores = (q·k^T) with q reshaped to [B,kv,groups*T,d]: the rotary output is not contiguous in
    // that shape, so matmul works on (and saves) contiguous copies of q and of k^T.
    add(a, "q after rotary, contiguous copy for q·k^T [B,heads,T,d]", kGrad ? d.e * d.n * d.qOut : 0);
    add(a, "k^T after rotary, contiguous copy for q·k^T [B,kv,d,T]", qGrad ? d.e * d.n * d.kvOut : 0);
    if (scoresGrad) {
        add(a, "mask of disallowed keys, bool [B,1,1,T,T] (kept by masked_fill)", kBool * d.b * d.t * d.t);
        add(a, "softmax output, float32 [B,heads,T,T] (our attention materialises it)", kFloat32 * d.attention);
    }
    // probs·v saves probs for v's gradient (in float32 the softmax output itself) and a contiguous
    // copy of v for probs' gradient.
    if (vGrad && (d.e != kFloat32 || !scoresGrad))
        add(after, "probabilities in the compute dtype for probs·v [B,heads,T,T]", d.e * d.attention);
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
        rmsNormSaved(a, d, "input_layernorm", inputKept);
    loraGroupSaved(a, d, {"q_proj", "k_proj", "v_proj"}, "input_layernorm output [B,T,H]", d.hidden,
                   {{d.hidden, d.qOut}, {d.hidden, d.kvOut}, {d.hidden, d.kvOut}}, inputRequiresGrad);
    // The 4-bit linears save nothing (Quant4LinearFunction dequantizes again in backward); dense
    // frozen linears save nothing either (only the input gradient is computed).
    const bool qGrad = inputRequiresGrad || d.adapted("q_proj");
    const bool kGrad = inputRequiresGrad || d.adapted("k_proj");
    const bool vGrad = inputRequiresGrad || d.adapted("v_proj");
    const bool scoresGrad = qGrad || kGrad;
    const bool attentionGrad = scoresGrad || vGrad;
    if (d.fused)
        fusedAttentionSaved(a, d, attentionGrad);
    else
        eagerAttentionSaved(a, s.afterSoftmax, d, qGrad, kGrad, vGrad);
    auto &after = s.afterSoftmax;
    loraGroupSaved(after, d, {"o_proj"}, "attention output [B,T,heads*d]", d.qOut, {{d.qOut, d.hidden}}, attentionGrad);
    const bool hiddenGrad = attentionGrad || d.adapted("o_proj");

    auto &m = s.mlp;
    if (hiddenGrad)
        rmsNormSaved(m, d, "post_attention_layernorm", false);
    loraGroupSaved(m, d, {"gate_proj", "up_proj"}, "post_attention_layernorm output [B,T,H]", d.hidden,
                   {{d.hidden, d.inter}, {d.hidden, d.inter}}, hiddenGrad);
    const bool gateGrad = hiddenGrad || d.adapted("gate_proj");
    const bool upGrad = hiddenGrad || d.adapted("up_proj");
    // down(silu(gate) * up): silu keeps its input, the product keeps both factors.
    add(m, "gate output (SiLU input) [B,T,I]", gateGrad ? d.e * d.n * d.inter : 0);
    add(m, "SiLU output [B,T,I]", upGrad ? d.e * d.n * d.inter : 0);
    add(m, "up output [B,T,I]", gateGrad ? d.e * d.n * d.inter : 0);
    const int64_t beforeDown = sum(m);
    loraGroupSaved(m, d, {"down_proj"}, "SiLU(gate)·up [B,T,I]", d.inter, {{d.inter, d.hidden}}, gateGrad || upGrad);
    s.downLora = sum(m) - beforeDown;
    s.inputGrad = inputRequiresGrad;
    s.scoresGrad = scoresGrad;
    s.attentionGrad = attentionGrad;
    s.hiddenGrad = hiddenGrad;
    s.gateGrad = gateGrad;
    s.upGrad = upGrad;
    s.outputRequiresGrad = hiddenGrad || gateGrad || upGrad || d.adapted("down_proj");
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
    const int64_t chunkLogits = (2 * kFloat32 + (d.e == kFloat32 ? 0 : d.e)) * chunk * d.vocab;
    w.peak = rowCopies + labelWork + chunkLogits + d.e * chunk * d.hidden;
    return w;
}

// Eager attention's working set at the end of its softmax statement, beyond what the layer has
// saved by then: q and k after rotary and v (locals), the scaled scores (a local), the masked scores
// and, below float32, the float32 copy of the scores and the probabilities cast back (temporaries of
// the statement); the softmax output and the mask when nothing saves them.
int64_t eagerForwardTransient(const Dims &d, const LayerSaved &layer) {
    int64_t bytes = d.e * d.n * (d.qOut + 2 * d.kvOut) + d.e * d.attention + kFloat32 * d.attention;
    if (d.e != kFloat32)
        bytes += kFloat32 * d.attention + d.e * d.attention; // the float32 scores, probs cast back
    if (!layer.scoresGrad)
        bytes += kFloat32 * d.attention + kBool * d.b * d.t * d.t; // softmax output, mask
    return bytes;
}

// Fused attention's forward working set beyond what it saves: q, k and v unless saved; the chunked
// form's output [B,heads,T,d] (filled chunk by chunk), and in its largest chunk (R rows over the K
// keys up to its last row) the copy of q's rows, the masked float32 scores and their softmax
// [B,heads,R,K] and the chunk's inverted mask [B,1,R,K]; flash's output and log-sum-exp unless
// saved.
int64_t fusedForwardTransient(const Dims &d, const LayerSaved &layer) {
    const bool saved = layer.recorded && layer.attentionGrad;
    int64_t bytes = saved ? 0 : d.e * d.n * (d.qOut + 2 * d.kvOut);
    if (d.flash) {
        // The output is in the attention's saved part only when o_proj's LoRA does not keep it.
        const bool outputSaved = saved && !(d.adapted("o_proj") && !d.dropout);
        return bytes + (outputSaved ? 0 : d.e * d.n * d.qOut) + (saved ? 0 : kFloat32 * d.b * d.heads * d.t);
    }
    return bytes + d.e * d.n * d.qOut + d.e * d.b * d.heads * d.chunkRows * d.headDim + 2 * kFloat32 * d.chunk +
           kBool * d.chunk / d.heads;
}

// The forward's working set at attention's peak beyond what the layer has saved by then: the
// attention's own, the layer input (unless saved: in float32 by the norm, or by a checkpoint) and
// the norm's output (unless LoRA saves it).
int64_t forwardAttentionTransient(const Dims &d, const LayerSaved &layer, bool inputSaved) {
    const int64_t bytes = d.fused ? fusedForwardTransient(d, layer) : eagerForwardTransient(d, layer);
    const bool normKept =
        layer.recorded && !d.dropout && (d.adapted("q_proj") || d.adapted("k_proj") || d.adapted("v_proj"));
    const int64_t row = d.e * d.n * d.hidden;
    return bytes + (inputSaved ? 0 : row) + (normKept ? 0 : row);
}

// The forward's working set while down_proj runs, beyond what the layer saves: the statement
// down(silu(gate(h)) * up(h)) holds all its temporaries (gate, SiLU, up, their product [B,T,I]) to
// its end; down_proj's output; then either the dequantized weight (frozen matmul) or its LoRA
// branch. The layer input, the residual sum and the norm's output [B,T,H] count when nothing saves
// them.
int64_t forwardMlpTransient(const Dims &d, const LayerSaved &layer, bool inputSaved) {
    const int64_t inter = d.e * d.n * d.inter, row = d.e * d.n * d.hidden;
    int64_t bytes = inter + row; // the product and down_proj's output
    bytes += (layer.gateGrad ? 0 : 2 * inter) + (layer.upGrad ? 0 : inter); // gate and up; SiLU output
    const bool normKept = layer.recorded && !d.dropout && (d.adapted("gate_proj") || d.adapted("up_proj"));
    bytes += (inputSaved ? 0 : row) + (layer.hiddenGrad && d.e == kFloat32 ? 0 : row) + (normKept ? 0 : row);
    const int64_t dequant = d.quantized ? d.e * d.hidden * d.inter : 0;
    // LoRA: the dropped copy of the product (and its mask, freed at once unless saved), A·x, A and B
    // cast, B·(A·x), its scaled copy and the new sum.
    int64_t lora = 0;
    if (d.adapted("down_proj")) {
        const bool maskSaved = layer.recorded && (layer.gateGrad || layer.upGrad);
        const int64_t dropped = d.dropout ? inter : 0, mask = d.dropout && maskSaved ? inter : 0;
        lora = std::max(dropped + (d.dropout ? inter : 0),
                        dropped + mask + d.e * d.n * d.r + (d.e != kFloat32 ? d.e * d.r * (d.inter + d.hidden) : 0) +
                            3 * row);
    }
    return bytes + std::max(dequant, lora);
}

// The MLP's largest backward moment on top of its saved tensors, the larger of: down_proj's input
// gradient from the frozen weight (dequantized for it in the compute dtype) while LoRA's share of
// that gradient waits (autograd runs the adapter's branch first, which then releases what it saved),
// and the product's backward, which holds the incoming gradient and both factor gradients [B,T,I].
int64_t mlpBackwardTransient(const Dims &d, const LayerSaved &layer) {
    const int64_t dequant = d.quantized ? d.e * d.hidden * d.inter : 0;
    const int64_t atDown = dequant + (d.adapted("down_proj") ? 2 : 1) * d.e * d.n * d.inter - layer.downLora;
    const int64_t atProduct = 3 * d.e * d.n * d.inter - layer.downLora;
    return std::max(atDown, atProduct);
}

// Eager: softmax backward holds the incoming gradient and its result, both float32 [B,heads,T,T].
// Chunked fused form: the incoming gradient and q's [B,heads,T,d], k's and v's in float32
// [B,kv,T,d], and in its largest chunk the copies of q's and the gradient's rows and three float32
// [B,heads,R,K] (probabilities, their gradient, softmax backward's result).
// Flash (assumed from flash-attention 2's backward, not measured): the incoming gradient, q's
// gradient and its float32 accumulator, k's and v's expanded to every head and summed back to the
// kv heads, a float32 row sum.
int64_t attentionBackwardTransient(const Dims &d) {
    if (!d.fused)
        return 2 * kFloat32 * d.attention;
    const int64_t gradients = 2 * d.e * d.n * d.qOut; // incoming, q's
    if (d.flash)
        return gradients + kFloat32 * d.n * d.qOut + (d.heads > d.kvHeads ? 2 * d.e * d.n * d.qOut : 0) +
               2 * d.e * d.n * d.kvOut + kFloat32 * d.b * d.heads * d.t;
    return gradients + 2 * kFloat32 * d.n * d.kvOut + 2 * d.e * d.b * d.heads * d.chunkRows * d.headDim +
           3 * kFloat32 * d.chunk;
}

// The final norm's backward: float32 temporaries of [B,T,H] for the product, mean and pow terms.
int64_t normBackwardTransient(const Dims &d) { return 3 * kFloat32 * d.n * d.hidden; }

struct Phase {
    std::string name;
    std::vector<ActivationTerm> parts;
    int64_t bytes() const { return sum(parts); }
};

// Terms that several phases share.
struct Shared {
    LayerSaved full; // a layer that gradients flow through
    ActivationTerm allowed; // the boolean attention mask(s) [B,1,T,T]
    ActivationTerm finalNorm, hidden, residualGrad, lossSaved, lossPeak, mlpTransient, attentionTransient;
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
    rmsNormSaved(finalNorm, d, "final norm", false);
    s.finalNorm = {"final norm saved", sum(finalNorm)};
    s.hidden = {"final hidden states [B,T,H]", d.e * d.n * d.hidden};
    s.residualGrad = {"gradient of the hidden states [B,T,H]", d.e * d.n * d.hidden};
    const LossWork loss = lossWork(d);
    s.lossSaved = {"loss: gradRows and row indices", loss.saved};
    s.lossPeak = {"loss: row copies and one chunk of logits", loss.peak};
    s.mlpTransient = {"MLP backward temporaries", mlpBackwardTransient(d, s.full)};
    s.attentionTransient = {"attention backward temporaries", attentionBackwardTransient(d)};
    return s;
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
    const ActivationTerm before{"saved by the layers before the last", keptBefore};
    const ActivationTerm kept{"saved by the " + std::to_string(d.layers) + " layers", keptBefore + last.bytes()};
    // In float32 the last layer's input is its input_layernorm's saved float32 input.
    const bool inputSaved = d.e == kFloat32 && last.inputGrad;
    std::vector<Phase> phases = {
        {"forward of the last layer's attention",
         {s.allowed,
          before,
          {"saved by the last layer's attention so far", sum(last.attention)},
          {"attention forward temporaries", forwardAttentionTransient(d, last, inputSaved)}}},
        {"forward of the last layer's MLP",
         {s.allowed,
          before,
          {"saved by the last layer before down_proj", last.bytes() - last.downLora},
          {"MLP forward temporaries", forwardMlpTransient(d, last, inputSaved)}}},
        {"loss forward", {kept, s.finalNorm, s.hidden, s.lossSaved, s.lossPeak}},
        {"backward of the final norm",
         {kept, s.finalNorm, s.residualGrad, {"norm backward temporaries", normBackwardTransient(d)}}},
        {"backward of the last layer's MLP", {kept, s.residualGrad, s.mlpTransient}},
        {"backward of the last layer's attention",
         {{"saved by the other layers and the last layer's attention", keptBefore + sum(last.attention)},
          s.residualGrad,
          s.attentionTransient}},
    };
    // The forward frees its mask, except where the chunked fused attention keeps it for backward
    // (eager attention keeps copies of it, counted per layer).
    if (d.fused && !d.flash)
        for (size_t i = 2; i < phases.size(); ++i)
            phases[i].parts.push_back({"attention mask, kept by fused attention for backward", s.allowed.bytes});
    return phases;
}

// With checkpointing each layer keeps only its input (checkpointed_layer.cpp), the random state
// that redraws its dropout masks and the attention mask; backward recomputes the last layer with
// gradients on, so its saved tensors, its output and the backward's temporaries exist at once.
std::vector<Phase> phasesWithCheckpointing(const Dims &d, const Shared &s) {
    const ActivationTerm inputs{"layer inputs [B,T,H], one per layer", d.layers * d.e * d.n * d.hidden};
    const ActivationTerm rng{"random-number state per layer",
                             d.layers * (d.cuda ? kCudaRngStateBytes : kCpuRngStateBytes)};
    const ActivationTerm output{"the recomputed layer's output [B,T,H]", d.e * d.n * d.hidden};
    LayerSaved unrecorded;
    unrecorded.recorded = false;
    const auto &full = s.full;
    return {
        {"forward of the last layer's attention (no gradients)",
         {inputs, rng, s.allowed, {"attention forward temporaries", forwardAttentionTransient(d, unrecorded, true)}}},
        {"forward of the last layer's MLP (no gradients)",
         {inputs, rng, s.allowed, {"MLP forward temporaries", forwardMlpTransient(d, unrecorded, true)}}},
        {"loss forward", {inputs, rng, s.allowed, s.finalNorm, s.hidden, s.lossSaved, s.lossPeak}},
        {"recomputing the last layer's attention",
         {inputs,
          rng,
          s.allowed,
          s.residualGrad,
          {"saved by the recomputed attention so far", sum(full.attention)},
          {"attention forward temporaries", forwardAttentionTransient(d, full, true)}}},
        {"recomputing the last layer's MLP",
         {inputs,
          rng,
          s.allowed,
          s.residualGrad,
          {"saved by the recomputed layer before down_proj", full.bytes() - full.downLora},
          {"MLP forward temporaries", forwardMlpTransient(d, full, true)}}},
        {"backward of the recomputed last layer's MLP",
         {inputs,
          rng,
          s.allowed,
          s.residualGrad,
          {"saved by the recomputed layer", full.bytes()},
          output,
          s.mlpTransient}},
        // The checkpoint's incoming gradient stays held while the recomputed layer's backward sums
        // it with the MLP's into the gradient of the attention block's output.
        {"backward of the recomputed last layer's attention",
         {inputs,
          rng,
          s.allowed,
          s.residualGrad,
          {"saved by the recomputed attention", sum(full.attention)},
          output,
          {"gradient of the attention block's output [B,T,H]", d.e * d.n * d.hidden},
          s.attentionTransient}},
    };
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
                     {"rotary cos and sin [B,1,T,d]", 2 * d.e * d.b * d.t * d.headDim}};
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
