// A small byte-level BPE trainer, for the bundled demo model (make-demo), not for production
// vocabularies.
//
// trainByteLevelBpe() learns merges GPT-2 style (the GPT-2 regex splits words, every byte is a base
// symbol, so any text can be encoded) and writes a Hugging Face tokenizer folder that
// Tokenizer::load reads:
//   tokenizer.json         BPE model (256 byte symbols + learned merges), ByteLevel pre-tokenizer
//                          and decoder, the special tokens as added tokens, a post-processor that
//                          adds "<|begin_of_text|>" for addSpecialTokens
//   tokenizer_config.json  bos "<|begin_of_text|>", eos "<|end_of_text|>", pad "<|pad|>" when given
//                          (else the eos), and the Llama 3 chat template, so ChatTemplate::detect
//                          picks "llama3"
// The Llama 3 chat tokens (<|begin_of_text|>, <|end_of_text|>, <|start_header_id|>,
// <|end_header_id|>, <|eot_id|>) are always added first; specialTokens adds more after them. The
// special tokens take the last ids. Deterministic: the same input gives the same files.
// Sized for a demo: ~2k vocabulary on ~100 KB of text trains in well under a second.
#pragma once

#include <string>
#include <vector>

namespace headroom {

// vocabSize counts everything (256 bytes + merges + special tokens); training stops earlier when
// no pair occurs twice. Throws invalidInput when vocabSize leaves no room for the 256 bytes and the
// special tokens, runtimeFailure when outDir cannot be written.
void trainByteLevelBpe(const std::vector<std::string> &texts, int vocabSize,
                       const std::vector<std::string> &specialTokens, const std::string &outDir);

} // namespace headroom
