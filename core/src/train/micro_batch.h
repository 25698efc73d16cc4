// Collates dataset rows into the padded tensors of one micro-batch (right padding, labels -100 and
// attention mask 0 on padding; positions and segment ids kept for packed rows).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "headroom/dataset.h"

namespace headroom {

struct MicroBatch {
    torch::Tensor ids, mask, labels, positions, segments; // [B, L]; positions/segments only when packed
    int64_t tokens = 0; // non-padding tokens
    int64_t targetTokens = 0; // tokens the loss counts (labels != -100 after the shift)
};

MicroBatch collateMicroBatch(const std::vector<const TokenizedExample *> &rows, bool packed,
                             const torch::Device &device);
// Target tokens of one row: labels other than -100 (label 0 is always -100: nothing predicts it).
int64_t targetTokens(const TokenizedExample &row);

} // namespace headroom
