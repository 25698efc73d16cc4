// UTF-8 and Unicode helpers shared by the tokenizer pipeline (tokenizer_*.cpp) and the chat
// templates: code point iteration that survives invalid bytes, lossy decoding with the WHATWG
// replacement rules (what the reference tokenizers' TextDecoder does), GPT-2's byte <-> character
// table for byte-level BPE, Unicode normalization forms via ICU, whitespace sets.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace headroom::unicode {

// Decodes the code point at text[pos] and advances pos past it. An invalid or truncated sequence
// yields kInvalid and advances by one byte, so loops always make progress.
constexpr char32_t kInvalid = 0xFFFFFFFF;
char32_t nextCodePoint(std::string_view text, size_t &pos);
// Byte length of the valid sequence starting at text[pos], or 0 when it is not valid UTF-8.
size_t validSequenceLength(std::string_view text, size_t pos);
void appendUtf8(std::string &out, char32_t cp);

// Bytes -> text, every ill-formed subsequence replaced by U+FFFD (maximal-subpart rule).
std::string decodeLossy(std::string_view bytes);
bool isValidUtf8(std::string_view text);

// GPT-2's reversible byte -> printable character map used by ByteLevel pre-tokenizers/decoders:
// byteToChar()[b] is the UTF-8 of the character standing for byte b; charToByte() inverts it
// (-1 for characters that stand for no byte).
const std::array<std::string, 256> &byteToChar();
int charToByte(char32_t cp);

enum class NormalForm { Nfc, Nfd, Nfkc, Nfkd };
// Throws headroom::Error when this build has no ICU (the caller adds the file name).
std::string normalize(std::string_view text, NormalForm form);
bool haveIcu();
std::string toLowerCase(std::string_view text);

// Unicode White_Space (Rust's char::is_whitespace, Python's str.strip() for these characters).
bool isWhitespace(char32_t cp);
std::string_view trimWhitespace(std::string_view text, bool left, bool right);
// Only the given ASCII characters (Python's str.strip(chars)).
std::string_view trimChars(std::string_view text, std::string_view chars, bool left, bool right);

// Replaces every occurrence of `from` (non-empty) with `to`, left to right.
std::string replaceAll(std::string_view text, std::string_view from, std::string_view to);

} // namespace headroom::unicode
