// The decoders of tokenizer.json: token strings -> text. Each stage rewrites the list of token
// strings; the tokenizer joins what is left.
#include "tokenizer/tokenizer_pipeline.h"

#include "headroom/error.h"

namespace headroom {

namespace {

using Json = nlohmann::json;

// Maps GPT-2 byte characters back to bytes. Runs of ordinary tokens are decoded together (a
// character's bytes may span tokens); added tokens pass through as written, as in transformers.
class ByteLevelDecoder final : public Decoder {
public:
    explicit ByteLevelDecoder(const std::unordered_set<std::string> &addedTokens) : m_addedTokens(addedTokens) {}
    void apply(std::vector<std::string> &tokens) const override {
        std::vector<std::string> out;
        std::string bytes;
        auto flush = [&] {
            if (!bytes.empty())
                out.push_back(unicode::decodeLossy(bytes));
            bytes.clear();
        };
        for (const std::string &token : tokens) {
            if (m_addedTokens.count(token)) {
                flush();
                out.push_back(token);
                continue;
            }
            appendBytes(token, bytes);
        }
        flush();
        tokens.swap(out);
    }

private:
    // A token with a character outside the byte alphabet is taken as its own UTF-8 bytes, as
    // `tokenizers` does.
    static void appendBytes(const std::string &token, std::string &bytes) {
        const size_t mark = bytes.size();
        for (size_t pos = 0; pos < token.size();) {
            const int b = unicode::charToByte(unicode::nextCodePoint(token, pos));
            if (b < 0) {
                bytes.resize(mark);
                bytes += token;
                return;
            }
            bytes += static_cast<char>(b);
        }
    }

    const std::unordered_set<std::string> &m_addedTokens;
};

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(std::string replacement, bool stripFirstSpace)
        : m_replacement(std::move(replacement)), m_stripFirstSpace(stripFirstSpace) {}
    void apply(std::vector<std::string> &tokens) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            tokens[i] = unicode::replaceAll(tokens[i], m_replacement, " ");
            if (i == 0 && m_stripFirstSpace && !tokens[i].empty() && tokens[i][0] == ' ')
                tokens[i].erase(0, 1);
        }
    }

private:
    std::string m_replacement;
    bool m_stripFirstSpace;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(const Json &config, const std::string &context)
        : m_pattern(requireField(config, "pattern", Json::value_t::object, context), context + ".pattern"),
          m_content(requireField(config, "content", Json::value_t::string, context).get<std::string>()) {}
    void apply(std::vector<std::string> &tokens) const override {
        for (std::string &token : tokens)
            token = m_pattern.replaceAll(token, m_content);
    }

private:
    TokenizerPattern m_pattern;
    std::string m_content;
};

// Runs of "<0xNN>" tokens become the text of their bytes (invalid UTF-8 -> U+FFFD, decoded the
// way the reference's TextDecoder does).
class ByteFallbackDecoder final : public Decoder {
public:
    void apply(std::vector<std::string> &tokens) const override {
        std::vector<std::string> out;
        std::string bytes;
        for (std::string &token : tokens) {
            const int b = byteOf(token);
            if (b >= 0) {
                bytes += static_cast<char>(b);
                continue;
            }
            if (!bytes.empty()) {
                out.push_back(unicode::decodeLossy(bytes));
                bytes.clear();
            }
            out.push_back(std::move(token));
        }
        if (!bytes.empty())
            out.push_back(unicode::decodeLossy(bytes));
        tokens.swap(out);
    }

private:
    static int hexDigit(char c) {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    }
    static int byteOf(const std::string &token) {
        if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>')
            return -1;
        const int hi = hexDigit(token[3]), lo = hexDigit(token[4]);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }
};

class FuseDecoder final : public Decoder {
public:
    void apply(std::vector<std::string> &tokens) const override {
        std::string joined;
        for (const std::string &token : tokens)
            joined += token;
        tokens.assign(1, std::move(joined));
    }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class StripDecoder final : public Decoder {
public:
    StripDecoder(std::string content, int start, int stop)
        : m_content(std::move(content)), m_start(start), m_stop(stop) {}
    void apply(std::vector<std::string> &tokens) const override {
        if (m_content.empty())
            return;
        for (std::string &token : tokens) {
            size_t begin = 0, end = token.size();
            for (int i = 0; i < m_start && token.compare(begin, m_content.size(), m_content) == 0; ++i)
                begin += m_content.size();
            for (int i = 0; i < m_stop && end >= begin + m_content.size() &&
                            token.compare(end - m_content.size(), m_content.size(), m_content) == 0;
                 ++i)
                end -= m_content.size();
            token = token.substr(begin, end - begin);
        }
    }

private:
    std::string m_content;
    int m_start, m_stop;
};

class SequenceDecoder final : public Decoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> stages) : m_stages(std::move(stages)) {}
    void apply(std::vector<std::string> &tokens) const override {
        for (const auto &stage : m_stages)
            stage->apply(tokens);
    }

private:
    std::vector<std::unique_ptr<Decoder>> m_stages;
};

bool metaspaceStripsFirstSpace(const Json &config) {
    if (config.contains("prepend_scheme") && config["prepend_scheme"].is_string())
        return config["prepend_scheme"].get<std::string>() != "never";
    return config.value("add_prefix_space", true);
}

} // namespace

std::unique_ptr<Decoder> makeDecoder(const Json &config, const std::string &context,
                                     const std::unordered_set<std::string> &addedTokens) {
    if (config.is_null())
        return nullptr;
    const std::string type = requireField(config, "type", Json::value_t::string, context).get<std::string>();
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelDecoder>(addedTokens);
    if (type == "Metaspace")
        return std::make_unique<MetaspaceDecoder>(config.value("replacement", std::string("\u2581")),
                                                  metaspaceStripsFirstSpace(config));
    if (type == "Replace")
        return std::make_unique<ReplaceDecoder>(config, context);
    if (type == "ByteFallback")
        return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse")
        return std::make_unique<FuseDecoder>();
    if (type == "Strip")
        return std::make_unique<StripDecoder>(
            requireField(config, "content", Json::value_t::string, context).get<std::string>(),
            config.value("start", 0), config.value("stop", 0));
    if (type == "Sequence") {
        const Json &list = requireField(config, "decoders", Json::value_t::array, context);
        std::vector<std::unique_ptr<Decoder>> stages;
        for (size_t i = 0; i < list.size(); ++i)
            if (auto stage = makeDecoder(list[i], context + ".decoders[" + std::to_string(i) + "]", addedTokens))
                stages.push_back(std::move(stage));
        return std::make_unique<SequenceDecoder>(std::move(stages));
    }
    throw invalidInput(context + ": decoder type \"" + type +
                       "\" is not supported; supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, "
                       "Sequence");
}

} // namespace headroom
