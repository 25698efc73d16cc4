// Records to token ids and labels through the chat template; truncation.
#include "headroom/dataset.h"

#include "data/chat_tokens.h"

#include "headroom/tokenizer.h"
#include "headroom/train_config.h"

#include <algorithm>
#include <numeric>

namespace headroom {

namespace {

void fillPositions(TokenizedExample &example) {
    example.positions.resize(example.ids.size());
    std::iota(example.positions.begin(), example.positions.end(), 0);
    example.segments.assign(example.ids.size(), 0);
}

} // namespace

ChatTemplate chatTemplateFor(const DatasetSettings &settings, const Tokenizer &tokenizer) {
    if (settings.chatTemplate == "auto")
        return ChatTemplate::forModel(tokenizer.modelDir());
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

TokenizedChat RecordTokenizer::tokenizeChat(const ChatRequest &request) const {
    TokenizedChat chat = detail::tokenizeSegments(m_tokenizer, m_chatTemplate.render(request));
    if (m_chatTemplate.isJinja())
        return chat;
    // Without markup nothing else ends a reply: EOS after the last one teaches the model to stop.
    const auto eos = m_tokenizer.eosId();
    if (m_chatTemplate.family() == ChatTemplate::Family::Plain && eos) {
        const auto lastReply = std::find(chat.trainable.rbegin(), chat.trainable.rend(), 1);
        if (lastReply != chat.trainable.rend()) {
            const auto at = lastReply.base() - chat.trainable.begin();
            chat.ids.insert(chat.ids.begin() + at, *eos);
            chat.trainable.insert(chat.trainable.begin() + at, 1);
        }
    }
    putBosFirst(chat, chat.text);
    return chat;
}

void RecordTokenizer::putBosFirst(TokenizedChat &chat, const std::string &text) const {
    if (m_addsBos && (m_bosText.empty() || text.find(m_bosText) == std::string::npos)) {
        chat.ids.insert(chat.ids.begin(), *m_tokenizer.bosId());
        chat.trainable.insert(chat.trainable.begin(), 0);
    }
}

TokenizedExample RecordTokenizer::tokenize(const DatasetRecord &record) const {
    TokenizedChat chat;
    if (record.format == DatasetFormat::Text) {
        chat.ids = m_tokenizer.encode(record.text, false);
        if (const auto eos = m_tokenizer.eosId())
            chat.ids.push_back(*eos);
        chat.trainable.assign(chat.ids.size(), 1);
        putBosFirst(chat, record.text);
    } else {
        chat = tokenizeChat(ChatRequest::of(record.messages, /*addGenerationPrompt=*/false));
    }
    TokenizedExample example;
    example.ids = std::move(chat.ids);
    example.labels.resize(example.ids.size());
    for (size_t i = 0; i < example.ids.size(); ++i)
        example.labels[i] = chat.trainable[i] || m_trainOnPrompt ? example.ids[i] : kIgnoreLabel;
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
