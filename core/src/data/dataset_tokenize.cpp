// Records to token ids and labels through the chat template; truncation.
#include "headroom/dataset.h"

#include "headroom/tokenizer.h"
#include "headroom/train_config.h"

#include <algorithm>
#include <numeric>

namespace headroom {

namespace {

// Ids that are all trained or all prompt.
struct Piece {
    std::vector<int32_t> ids;
    bool trainable = false;
};

void fillPositions(TokenizedExample &example) {
    example.positions.resize(example.ids.size());
    std::iota(example.positions.begin(), example.positions.end(), 0);
    example.segments.assign(example.ids.size(), 0);
}

} // namespace

ChatTemplate chatTemplateFor(const DatasetSettings &settings, const Tokenizer &tokenizer) {
    if (settings.chatTemplate == "auto")
        return ChatTemplate::detect(tokenizer.chatTemplateSource());
    return ChatTemplate::fromName(settings.chatTemplate);
}

RecordTokenizer::RecordTokenizer(const Tokenizer &tokenizer, ChatTemplate chatTemplate, bool trainOnPrompt)
    : m_tokenizer(tokenizer), m_chatTemplate(chatTemplate), m_trainOnPrompt(trainOnPrompt) {
    // What encode(text, true) puts around a text tells whether this tokenizer adds BOS.
    const auto bos = tokenizer.bosId();
    const std::vector<int32_t> specials = tokenizer.encode("", true);
    m_addsBos = bos && std::find(specials.begin(), specials.end(), *bos) != specials.end();
    if (m_addsBos)
        m_bosText = tokenizer.idToToken(*bos).value_or("");
}

TokenizedExample RecordTokenizer::tokenize(const DatasetRecord &record) const {
    const auto eos = m_tokenizer.eosId();
    std::vector<Piece> pieces;
    std::string renderedText;
    if (record.format == DatasetFormat::Text) {
        renderedText = record.text;
        pieces.push_back({m_tokenizer.encode(record.text, false), true});
        if (eos)
            pieces.push_back({{*eos}, true});
    } else {
        const auto segments = m_chatTemplate.render(record.messages, /*addGenerationPrompt=*/false);
        for (const auto &segment : segments) {
            renderedText += segment.text;
            pieces.push_back({m_tokenizer.encode(segment.text, false), segment.trainable});
        }
        // Without markup nothing else ends a reply: EOS after the last one teaches the model to stop.
        if (m_chatTemplate.family() == ChatTemplate::Family::Plain && eos) {
            const auto lastReply =
                std::find_if(pieces.rbegin(), pieces.rend(), [](const Piece &p) { return p.trainable; });
            if (lastReply != pieces.rend())
                lastReply->ids.push_back(*eos);
        }
    }
    if (m_addsBos && (m_bosText.empty() || renderedText.find(m_bosText) == std::string::npos))
        pieces.insert(pieces.begin(), Piece{{*m_tokenizer.bosId()}, false});

    TokenizedExample example;
    for (const Piece &piece : pieces) {
        const bool trained = piece.trainable || m_trainOnPrompt;
        for (int32_t id : piece.ids) {
            example.ids.push_back(id);
            example.labels.push_back(trained ? id : kIgnoreLabel);
        }
    }
    if (!example.labels.empty())
        example.labels[0] = kIgnoreLabel; // nothing precedes the first token to predict it
    fillPositions(example);
    return example;
}

std::vector<ChatTemplate::Segment> RecordTokenizer::trainedAndMasked(const TokenizedExample &example) const {
    std::vector<ChatTemplate::Segment> segments;
    size_t start = 0;
    for (size_t i = 1; i <= example.ids.size(); ++i) {
        const bool trained = example.labels[start] != kIgnoreLabel;
        if (i < example.ids.size() && (example.labels[i] != kIgnoreLabel) == trained &&
            example.segments[i] == example.segments[start])
            continue;
        const std::vector<int32_t> run(example.ids.begin() + start, example.ids.begin() + i);
        segments.push_back({m_tokenizer.decode(run, /*skipSpecialTokens=*/false), trained});
        start = i;
    }
    return segments;
}

bool truncateExample(TokenizedExample &example, int64_t maxLength) {
    const auto length = static_cast<size_t>(std::max<int64_t>(maxLength, 0));
    if (example.ids.size() <= length)
        return false;
    example.ids.resize(length);
    example.labels.resize(length);
    example.positions.resize(length);
    example.segments.resize(length);
    return true;
}

} // namespace headroom
