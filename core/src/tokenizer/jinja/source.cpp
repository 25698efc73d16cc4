#include "tokenizer/jinja/source.h"

#include "headroom/error.h"

#include <algorithm>

namespace headroom::jinja {

std::string Source::position(size_t offset) const {
    offset = std::min(offset, text.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) { // not a UTF-8 continuation byte
            ++column;
        }
    }
    return std::to_string(line) + ":" + std::to_string(column);
}

void Source::fail(size_t offset, const std::string &message) const {
    throw invalidInput(locate(offset) + ": " + message);
}

} // namespace headroom::jinja
