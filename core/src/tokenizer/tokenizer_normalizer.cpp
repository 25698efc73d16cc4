// The normalizers of tokenizer.json: text -> text before pre-tokenization.
#include "tokenizer/tokenizer_pipeline.h"

#include "headroom/error.h"

namespace headroom {

namespace {

using Json = nlohmann::json;

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(unicode::NormalForm form) : m_form(form) {}
    std::string apply(std::string text) const override { return unicode::normalize(text, m_form); }

private:
    unicode::NormalForm m_form;
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string prefix) : m_prefix(std::move(prefix)) {}
    std::string apply(std::string text) const override {
        return text.empty() ? text : m_prefix + text; // as in `tokenizers`: nothing to prepend to
    }

private:
    std::string m_prefix;
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(const Json &config, const std::string &context)
        : m_pattern(requireField(config, "pattern", Json::value_t::object, context), context + ".pattern"),
          m_content(requireField(config, "content", Json::value_t::string, context).get<std::string>()) {}
    std::string apply(std::string text) const override { return m_pattern.replaceAll(text, m_content); }

private:
    TokenizerPattern m_pattern;
    std::string m_content;
};

class LowercaseNormalizer final : public Normalizer {
public:
    std::string apply(std::string text) const override { return unicode::toLowerCase(text); }
};

class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : m_left(left), m_right(right) {}
    std::string apply(std::string text) const override {
        return std::string(unicode::trimWhitespace(text, m_left, m_right));
    }

private:
    bool m_left, m_right;
};

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> stages) : m_stages(std::move(stages)) {}
    std::string apply(std::string text) const override {
        for (const auto &stage : m_stages)
            text = stage->apply(std::move(text));
        return text;
    }

private:
    std::vector<std::unique_ptr<Normalizer>> m_stages;
};

} // namespace

std::unique_ptr<Normalizer> makeNormalizer(const Json &config, const std::string &context) {
    if (config.is_null())
        return nullptr;
    const std::string type = requireField(config, "type", Json::value_t::string, context).get<std::string>();
    auto icuForm = [&](unicode::NormalForm form) -> std::unique_ptr<Normalizer> {
        if (!unicode::haveIcu())
            throw invalidInput(context + ": the " + type +
                               " normalizer needs ICU, and this build of Headroom "
                               "has none (libicu-dev was not found when it was configured)");
        return std::make_unique<UnicodeNormalizer>(form);
    };
    if (type == "NFC")
        return icuForm(unicode::NormalForm::Nfc);
    if (type == "NFD")
        return icuForm(unicode::NormalForm::Nfd);
    if (type == "NFKC")
        return icuForm(unicode::NormalForm::Nfkc);
    if (type == "NFKD")
        return icuForm(unicode::NormalForm::Nfkd);
    if (type == "Prepend")
        return std::make_unique<PrependNormalizer>(
            requireField(config, "prepend", Json::value_t::string, context).get<std::string>());
    if (type == "Replace")
        return std::make_unique<ReplaceNormalizer>(config, context);
    if (type == "Lowercase")
        return std::make_unique<LowercaseNormalizer>();
    if (type == "Strip")
        return std::make_unique<StripNormalizer>(config.value("strip_left", true), config.value("strip_right", true));
    if (type == "Sequence") {
        const Json &list = requireField(config, "normalizers", Json::value_t::array, context);
        std::vector<std::unique_ptr<Normalizer>> stages;
        for (size_t i = 0; i < list.size(); ++i)
            if (auto stage = makeNormalizer(list[i], context + ".normalizers[" + std::to_string(i) + "]"))
                stages.push_back(std::move(stage));
        return std::make_unique<SequenceNormalizer>(std::move(stages));
    }
    throw invalidInput(context + ": normalizer type \"" + type +
                       "\" is not supported; supported: NFC, NFD, NFKC, NFKD, Prepend, Replace, Lowercase, "
                       "Strip, Sequence");
}

} // namespace headroom
