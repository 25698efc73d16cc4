// ChatRequest: a conversation and the keyword arguments of apply_chat_template.
#include "headroom/chat_template.h"

#include "headroom/error.h"

namespace headroom {

ChatRequest ChatRequest::of(const std::vector<ChatMessage> &messages, bool addGenerationPrompt) {
    ChatRequest request;
    for (const ChatMessage &m : messages)
        request.messages.push_back({{"role", m.role}, {"content", m.content}});
    request.addGenerationPrompt = addGenerationPrompt;
    return request;
}

ChatRequest ChatRequest::fromJson(const nlohmann::ordered_json &line) {
    if (!line.is_object())
        throw invalidInput("expected a JSON object with \"messages\" (and optionally \"add_generation_prompt\", "
                           "\"tools\", keyword arguments such as \"enable_thinking\"), got " +
                           line.dump().substr(0, 80));
    ChatRequest request;
    for (const auto &[key, value] : line.items()) {
        if (key == "messages") {
            if (!value.is_array() || value.empty())
                throw invalidInput("\"messages\" must be a non-empty list of message objects");
            for (size_t i = 0; i < value.size(); ++i)
                if (!value[i].is_object())
                    throw invalidInput("\"messages\"[" + std::to_string(i) +
                                       "] must be an object such as "
                                       "{\"role\": \"user\", \"content\": \"...\"}");
            request.messages = value;
        } else if (key == "add_generation_prompt") {
            if (!value.is_boolean())
                throw invalidInput("\"add_generation_prompt\" must be true or false");
            request.addGenerationPrompt = value.get<bool>();
        } else if (key == "tools" || key == "documents") {
            if (!value.is_null() && !value.is_array())
                throw invalidInput("\"" + key + "\" must be a list (or null)");
            (key == "tools" ? request.tools : request.documents) = value;
        } else {
            request.kwargs[key] = value; // enable_thinking, reasoning_effort, date_string...
        }
    }
    if (request.messages.empty())
        throw invalidInput("missing \"messages\": each line is {\"messages\": [...], \"add_generation_prompt\": bool}");
    return request;
}

} // namespace headroom
