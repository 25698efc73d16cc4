// Strict JSON parsing for safetensors headers and shard indexes.
#include "io/safetensors_util.h"

#include "headroom/error.h"

#include <set>

namespace headroom::safetensors_detail {

namespace {

constexpr size_t kMaxReasonChars = 300;

// nlohmann's message, made fit to print: "[json.exception.parse_error.101] " dropped, bytes that
// are not printable ASCII (its "last read" may quote broken UTF-8) escaped, and length capped.
std::string parseErrorReason(const std::string &message) {
    size_t start = 0;
    if (!message.empty() && message[0] == '[') {
        size_t close = message.find("] ");
        if (close != std::string::npos)
            start = close + 2;
    }
    std::string reason;
    for (size_t i = start; i < message.size() && reason.size() < kMaxReasonChars; ++i) {
        const unsigned char c = static_cast<unsigned char>(message[i]);
        if (c >= 0x20 && c < 0x7f) {
            reason += static_cast<char>(c);
        } else {
            static const char kHex[] = "0123456789abcdef";
            reason += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
        }
    }
    return reason.size() < kMaxReasonChars ? reason : reason + "...";
}

} // namespace

StrictJson parseJsonStrict(const char *begin, const char *end, const std::string &context, const std::string &what) {
    StrictJson result;
    std::vector<std::set<std::string>> openObjects;
    auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json &parsed) {
        using Event = nlohmann::json::parse_event_t;
        if (event == Event::object_start) {
            openObjects.emplace_back();
        } else if (event == Event::object_end) {
            openObjects.pop_back();
        } else if (event == Event::key && !openObjects.empty() && !result.duplicateKey) {
            const std::string &key = parsed.get_ref<const std::string &>();
            if (!openObjects.back().insert(key).second) {
                result.duplicateKey = key;
                result.duplicateAtTopLevel = openObjects.size() == 1;
            }
        }
        return true;
    };
    try {
        result.value = nlohmann::json::parse(begin, end, callback);
    } catch (const nlohmann::json::exception &e) {
        throw invalidInput(context + ": " + what + " is not valid JSON (" + parseErrorReason(e.what()) + ")");
    }
    return result;
}

} // namespace headroom::safetensors_detail
