// The narrow C interface between headroom_base and the sentencepiece plug-in
// (core/spm_plugin/sentencepiece_plugin.cpp, built as libheadroom_sentencepiece.so).
//
// Why a plug-in: Debian's libsentencepiece carries its own protobuf and cannot be linked into a
// process that also links LibTorch (docs/architecture.md). headroom_base dlopen()s the plug-in with
// RTLD_LOCAL | RTLD_DEEPBIND and looks these C functions up by name, so nothing else crosses the
// boundary: no C++ types, no exceptions, no memory freed on the other side.
//
// Buffers returned by the plug-in (encode, decode, id_to_piece, last_error) belong to the calling
// thread and stay valid until that thread's next call into the plug-in. A model handle may be used
// from several threads at once (sentencepiece's processor is read-only after loading).
#pragma once

#include <cstddef>
#include <cstdint>

#define HEADROOM_SPM_EXPORT extern "C" __attribute__((visibility("default")))

// Bumped whenever a signature below changes; the loader refuses a plug-in of another version.
#define HEADROOM_SPM_ABI_VERSION 1

typedef struct HeadroomSpmModel HeadroomSpmModel;

HEADROOM_SPM_EXPORT int headroom_spm_abi_version(void);

// nullptr on failure; headroom_spm_last_error() then says why.
HEADROOM_SPM_EXPORT HeadroomSpmModel *headroom_spm_load(const char *path);
HEADROOM_SPM_EXPORT void headroom_spm_free(HeadroomSpmModel *model);
HEADROOM_SPM_EXPORT const char *headroom_spm_last_error(void);

// Ids of the text, no BOS/EOS added; nullptr on failure. *count receives the number of ids.
HEADROOM_SPM_EXPORT const int32_t *headroom_spm_encode(const HeadroomSpmModel *model, const char *text, size_t length,
                                                       size_t *count);
// Text of the ids (control ids decode to nothing); nullptr on failure. *length receives its size.
HEADROOM_SPM_EXPORT const char *headroom_spm_decode(const HeadroomSpmModel *model, const int32_t *ids, size_t count,
                                                    size_t *length);

HEADROOM_SPM_EXPORT int32_t headroom_spm_vocab_size(const HeadroomSpmModel *model);
// -1 when the piece is not in the vocabulary (sentencepiece's own PieceToId answers unk instead).
HEADROOM_SPM_EXPORT int32_t headroom_spm_piece_to_id(const HeadroomSpmModel *model, const char *piece, size_t length);
// nullptr for an id out of range.
HEADROOM_SPM_EXPORT const char *headroom_spm_id_to_piece(const HeadroomSpmModel *model, int32_t id, size_t *length);
// 1 for control pieces (<s>, </s>), the unknown piece and unused pieces; 0 otherwise.
HEADROOM_SPM_EXPORT int headroom_spm_is_special(const HeadroomSpmModel *model, int32_t id);
// -1 when the model defines none.
HEADROOM_SPM_EXPORT int32_t headroom_spm_bos_id(const HeadroomSpmModel *model);
HEADROOM_SPM_EXPORT int32_t headroom_spm_eos_id(const HeadroomSpmModel *model);
HEADROOM_SPM_EXPORT int32_t headroom_spm_unk_id(const HeadroomSpmModel *model);
HEADROOM_SPM_EXPORT int32_t headroom_spm_pad_id(const HeadroomSpmModel *model);
