// The host copy of the 4-bit code books and the shared argument check.
#include "kernels_common.cuh"

namespace hr {

namespace {
constexpr float kHostCodebooks[32] = {HR_CODEBOOKS};
} // namespace

bool validQuant4(const hr_quant4 *q) {
    if (q == nullptr || q->numel <= 0 || q->packed == nullptr || (q->type != HR_NF4 && q->type != HR_FP4))
        return false;
    if (!isPowerOfTwo(q->blocksize) || q->blocksize < 32 || q->blocksize > 4096)
        return false;
    if (q->absmax_codes == nullptr)
        return q->absmax != nullptr;
    return q->nested_absmax != nullptr && q->nested_map != nullptr && isPowerOfTwo(q->nested_blocksize);
}

} // namespace hr

extern "C" const float *hr_quant4_codebook(hr_quant4_type type) {
    return type == HR_FP4 ? hr::kHostCodebooks + 16 : hr::kHostCodebooks;
}
