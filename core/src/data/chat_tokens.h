// Token ids and trainable flags of a rendered conversation (private to headroom_base).
#pragma once

#include "headroom/dataset.h"

namespace headroom::detail {

// The segments' text tokenized as one string, as apply_chat_template(tokenize=True) tokenizes it
// (encode(text, false): the ids the reference gives for the text, with no merge cut at a segment
// edge), each id flagged trainable when its text lies in a trainable segment. A token that
// straddles a segment's edge goes to the trainable side.
TokenizedChat tokenizeSegments(const Tokenizer &tokenizer, const std::vector<ChatTemplate::Segment> &segments);

} // namespace headroom::detail
