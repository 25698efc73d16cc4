// libheadroom_sentencepiece.so: sentencepiece behind the C interface of tokenizer/tokenizer_spm_api.h.
//
// This is the only code that links libsentencepiece. It is loaded at run time by headroom_base
// (tokenizer_spm.cpp) with RTLD_LOCAL | RTLD_DEEPBIND, which keeps sentencepiece's bundled
// protobuf away from LibTorch's (docs/architecture.md). Everything here is built with hidden visibility
// except the functions of the interface, and no exception leaves a function: failures come back
// as nullptr / -1 plus a message in headroom_spm_last_error().
#include "tokenizer/tokenizer_spm_api.h"

#include <sentencepiece_processor.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

struct HeadroomSpmModel {
    sentencepiece::SentencePieceProcessor processor;
};

namespace {

// Per-thread result buffers: valid until the same thread calls in again (see the header).
thread_local std::string tlError;
thread_local std::vector<int> tlIds;
thread_local std::vector<int32_t> tlIds32;
thread_local std::string tlText;

bool validId(const HeadroomSpmModel *model, int32_t id) {
    return model && id >= 0 && id < model->processor.GetPieceSize();
}

} // namespace

int headroom_spm_abi_version(void) { return HEADROOM_SPM_ABI_VERSION; }

const char *headroom_spm_last_error(void) { return tlError.c_str(); }

HeadroomSpmModel *headroom_spm_load(const char *path) {
    try {
        auto model = std::make_unique<HeadroomSpmModel>();
        const auto status = model->processor.Load(path);
        if (!status.ok()) {
            tlError = status.ToString();
            return nullptr;
        }
        return model.release();
    } catch (const std::exception &e) {
        tlError = e.what();
    } catch (...) {
        tlError = "unknown error while loading the sentencepiece model";
    }
    return nullptr;
}

void headroom_spm_free(HeadroomSpmModel *model) { delete model; }

const int32_t *headroom_spm_encode(const HeadroomSpmModel *model, const char *text, size_t length, size_t *count) {
    try {
        tlIds.clear();
        const auto status = model->processor.Encode(absl::string_view(text, length), &tlIds);
        if (!status.ok()) {
            tlError = status.ToString();
            return nullptr;
        }
        tlIds32.assign(tlIds.begin(), tlIds.end());
        *count = tlIds32.size();
        // A non-null pointer even for no ids, so that nullptr always means failure.
        static const int32_t kNoIds = 0;
        return tlIds32.empty() ? &kNoIds : tlIds32.data();
    } catch (const std::exception &e) {
        tlError = e.what();
    } catch (...) {
        tlError = "unknown error while encoding";
    }
    return nullptr;
}

const char *headroom_spm_decode(const HeadroomSpmModel *model, const int32_t *ids, size_t count, size_t *length) {
    try {
        tlIds.assign(ids, ids + count);
        for (int id : tlIds) {
            if (!validId(model, id)) {
                tlError = "id " + std::to_string(id) + " is outside the vocabulary (size " +
                          std::to_string(model->processor.GetPieceSize()) + ")";
                return nullptr;
            }
        }
        tlText.clear();
        const auto status = model->processor.Decode(tlIds, &tlText);
        if (!status.ok()) {
            tlError = status.ToString();
            return nullptr;
        }
        *length = tlText.size();
        return tlText.c_str();
    } catch (const std::exception &e) {
        tlError = e.what();
    } catch (...) {
        tlError = "unknown error while decoding";
    }
    return nullptr;
}

int32_t headroom_spm_vocab_size(const HeadroomSpmModel *model) { return model->processor.GetPieceSize(); }

int32_t headroom_spm_piece_to_id(const HeadroomSpmModel *model, const char *piece, size_t length) {
    try {
        const absl::string_view wanted(piece, length);
        const int id = model->processor.PieceToId(wanted);
        // PieceToId answers the unknown id for anything it does not know: check the way back.
        if (!validId(model, id) || model->processor.IdToPiece(id) != std::string(wanted))
            return -1;
        return id;
    } catch (...) {
        return -1;
    }
}

const char *headroom_spm_id_to_piece(const HeadroomSpmModel *model, int32_t id, size_t *length) {
    if (!validId(model, id))
        return nullptr;
    try {
        tlText = model->processor.IdToPiece(id);
        *length = tlText.size();
        return tlText.c_str();
    } catch (...) {
        return nullptr;
    }
}

int headroom_spm_is_special(const HeadroomSpmModel *model, int32_t id) {
    if (!validId(model, id))
        return 0;
    const auto &p = model->processor;
    return p.IsControl(id) || p.IsUnknown(id) || p.IsUnused(id) ? 1 : 0;
}

int32_t headroom_spm_bos_id(const HeadroomSpmModel *model) { return model->processor.bos_id(); }
int32_t headroom_spm_eos_id(const HeadroomSpmModel *model) { return model->processor.eos_id(); }
int32_t headroom_spm_unk_id(const HeadroomSpmModel *model) { return model->processor.unk_id(); }
int32_t headroom_spm_pad_id(const HeadroomSpmModel *model) { return model->processor.pad_id(); }
