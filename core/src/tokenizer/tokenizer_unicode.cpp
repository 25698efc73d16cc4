#include "tokenizer/tokenizer_unicode.h"

#include "headroom/error.h"

#ifdef HEADROOM_HAVE_ICU
#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#endif

namespace headroom::unicode {

namespace {

// The continuation-byte range allowed right after a lead byte (Unicode table 3-7); the rest of
// the continuation bytes are always 80..BF.
struct LeadInfo {
    int continuationBytes; // -1: not a lead byte
    unsigned char low, high;
};

LeadInfo leadInfo(unsigned char b) {
    if (b >= 0xC2 && b <= 0xDF)
        return {1, 0x80, 0xBF};
    if (b == 0xE0)
        return {2, 0xA0, 0xBF};
    if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF)
        return {2, 0x80, 0xBF};
    if (b == 0xED)
        return {2, 0x80, 0x9F}; // no surrogates
    if (b == 0xF0)
        return {3, 0x90, 0xBF};
    if (b >= 0xF1 && b <= 0xF3)
        return {3, 0x80, 0xBF};
    if (b == 0xF4)
        return {3, 0x80, 0x8F}; // nothing above U+10FFFF
    return {-1, 0, 0};
}

// Length of the valid sequence at pos (>0), or the negated length of its maximal ill-formed
// subpart (<0): the number of bytes one U+FFFD replaces.
int scanSequence(std::string_view text, size_t pos) {
    const auto b = static_cast<unsigned char>(text[pos]);
    if (b < 0x80)
        return 1;
    const LeadInfo info = leadInfo(b);
    if (info.continuationBytes < 0)
        return -1;
    for (int k = 1; k <= info.continuationBytes; ++k) {
        if (pos + k >= text.size())
            return -k;
        const auto c = static_cast<unsigned char>(text[pos + k]);
        const unsigned char low = k == 1 ? info.low : 0x80, high = k == 1 ? info.high : 0xBF;
        if (c < low || c > high)
            return -k;
    }
    return info.continuationBytes + 1;
}

} // namespace

size_t validSequenceLength(std::string_view text, size_t pos) {
    const int n = scanSequence(text, pos);
    return n > 0 ? static_cast<size_t>(n) : 0;
}

char32_t nextCodePoint(std::string_view text, size_t &pos) {
    const int n = scanSequence(text, pos);
    if (n <= 0) {
        ++pos;
        return kInvalid;
    }
    const auto *p = reinterpret_cast<const unsigned char *>(text.data() + pos);
    pos += n;
    switch (n) {
    case 1: return p[0];
    case 2: return (char32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    case 3: return (char32_t(p[0] & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    default:
        return (char32_t(p[0] & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) | (char32_t(p[2] & 0x3F) << 6) |
               (p[3] & 0x3F);
    }
}

void appendUtf8(std::string &out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string decodeLossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t pos = 0;
    while (pos < bytes.size()) {
        const int n = scanSequence(bytes, pos);
        if (n > 0) {
            out.append(bytes.data() + pos, n);
            pos += n;
        } else {
            out += "\xEF\xBF\xBD"; // U+FFFD
            pos += -n;
        }
    }
    return out;
}

bool isValidUtf8(std::string_view text) {
    for (size_t pos = 0; pos < text.size();) {
        const int n = scanSequence(text, pos);
        if (n <= 0)
            return false;
        pos += n;
    }
    return true;
}

namespace {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes
// map to U+0100 upwards in byte order.
struct ByteTables {
    std::array<std::string, 256> toChar;
    std::array<int16_t, 324> toByte; // indexed by code point; all mapped code points are < 324

    ByteTables() {
        toByte.fill(-1);
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t cp = printable ? char32_t(b) : char32_t(next++);
            appendUtf8(toChar[b], cp);
            toByte[cp] = static_cast<int16_t>(b);
        }
    }
};

const ByteTables &byteTables() {
    static const ByteTables tables;
    return tables;
}

} // namespace

const std::array<std::string, 256> &byteToChar() { return byteTables().toChar; }

int charToByte(char32_t cp) {
    const auto &t = byteTables().toByte;
    return cp < t.size() ? t[cp] : -1;
}

bool haveIcu() {
#ifdef HEADROOM_HAVE_ICU
    return true;
#else
    return false;
#endif
}

namespace {

bool isAscii(std::string_view text) {
    for (char c : text)
        if (static_cast<unsigned char>(c) >= 0x80)
            return false;
    return true;
}

#ifdef HEADROOM_HAVE_ICU
const icu::Normalizer2 &normalizer(NormalForm form) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2 *n = nullptr;
    switch (form) {
    case NormalForm::Nfc: n = icu::Normalizer2::getNFCInstance(status); break;
    case NormalForm::Nfd: n = icu::Normalizer2::getNFDInstance(status); break;
    case NormalForm::Nfkc: n = icu::Normalizer2::getNFKCInstance(status); break;
    case NormalForm::Nfkd: n = icu::Normalizer2::getNFKDInstance(status); break;
    }
    if (U_FAILURE(status) || !n)
        throw runtimeFailure(std::string("ICU normalizer unavailable: ") + u_errorName(status));
    return *n;
}

void normalizeValid(std::string_view text, const icu::Normalizer2 &n, std::string &out) {
    UErrorCode status = U_ZERO_ERROR;
    icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
    n.normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, nullptr, status);
    if (U_FAILURE(status))
        throw runtimeFailure(std::string("ICU normalization failed: ") + u_errorName(status));
}
#endif

} // namespace

std::string normalize(std::string_view text, NormalForm form) {
    if (isAscii(text)) // ASCII is invariant under all four forms
        return std::string(text);
#ifdef HEADROOM_HAVE_ICU
    const icu::Normalizer2 &n = normalizer(form);
    std::string out;
    out.reserve(text.size());
    // Normalize the valid runs and keep any invalid bytes as they are, so nothing is lost.
    size_t runStart = 0, pos = 0;
    while (pos < text.size()) {
        const int len = scanSequence(text, pos);
        if (len > 0) {
            pos += len;
            continue;
        }
        normalizeValid(text.substr(runStart, pos - runStart), n, out);
        out.append(text.data() + pos, -len);
        pos += -len;
        runStart = pos;
    }
    normalizeValid(text.substr(runStart), n, out);
    return out;
#else
    (void)form;
    throw invalidInput("Unicode normalization needs ICU, and this build of Headroom has none "
                       "(libicu-dev was not found when it was configured)");
#endif
}

std::string toLowerCase(std::string_view text) {
    if (isAscii(text)) {
        std::string out(text);
        for (char &c : out)
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        return out;
    }
#ifdef HEADROOM_HAVE_ICU
    auto s = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
    std::string out;
    s.toLower(icu::Locale::getRoot()).toUTF8String(out);
    return out;
#else
    throw invalidInput("lowercasing non-ASCII text needs ICU, and this build of Headroom has none");
#endif
}

bool isWhitespace(char32_t cp) {
    switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
    }
}

std::string_view trimWhitespace(std::string_view text, bool left, bool right) {
    size_t begin = 0, end = text.size();
    if (left) {
        while (begin < end) {
            size_t pos = begin;
            if (!isWhitespace(nextCodePoint(text, pos)))
                break;
            begin = pos;
        }
    }
    if (right) {
        while (end > begin) {
            size_t start = end - 1; // step back to the lead byte of the last character
            while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
                --start;
            size_t pos = start;
            const char32_t cp = nextCodePoint(text, pos);
            if (pos != end || !isWhitespace(cp))
                break;
            end = start;
        }
    }
    return text.substr(begin, end - begin);
}

std::string_view trimChars(std::string_view text, std::string_view chars, bool left, bool right) {
    size_t begin = 0, end = text.size();
    if (left)
        while (begin < end && chars.find(text[begin]) != std::string_view::npos)
            ++begin;
    if (right)
        while (end > begin && chars.find(text[end - 1]) != std::string_view::npos)
            --end;
    return text.substr(begin, end - begin);
}

std::string replaceAll(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (true) {
        const size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos)
            break;
        out.append(text.data() + pos, hit - pos);
        out.append(to);
        pos = hit + from.size();
    }
    out.append(text.data() + pos, text.size() - pos);
    return out;
}

} // namespace headroom::unicode
