#include "headroom/demo.h"

#include <array>

namespace headroom {

namespace {

const char *const kInstruction = "Is this review positive or negative?";

const std::array<const char *, 12> kSubjects = {"the food",   "the service", "the staff",  "the room",
                                                "the coffee", "the pizza",   "the music",  "the view",
                                                "the bread",  "the soup",    "the waiter", "the price"};
const std::array<const char *, 12> kPositive = {"delicious", "wonderful", "friendly", "great",   "fresh",    "lovely",
                                                "excellent", "cozy",      "tasty",    "perfect", "charming", "superb"};
const std::array<const char *, 12> kNegative = {"awful", "bland",  "rude",   "terrible", "stale",  "noisy",
                                                "dirty", "boring", "greasy", "slow",     "broken", "dreadful"};
const std::array<const char *, 4> kTemplates = {"{s} was {a}.", "Honestly, {s} felt {a}.", "I found {s} {a}.",
                                                "We thought {s} was really {a}."};

std::string capitalised(std::string text) {
    if (!text.empty() && text[0] >= 'a' && text[0] <= 'z')
        text[0] = char(text[0] - 'a' + 'A');
    return text;
}

std::string fill(const std::string &pattern, const std::string &subject, const std::string &adjective) {
    std::string out = pattern;
    out.replace(out.find("{s}"), 3, subject);
    out.replace(out.find("{a}"), 3, adjective);
    return capitalised(out);
}

// A (subject, adjective) pair is held out when (subject + 5 * adjective) % 7 == 0: about one pair in
// seven, spread over all subjects and adjectives, so every word is still seen in training.
bool isHeldOutPair(size_t subject, size_t adjective) { return (subject + 5 * adjective) % 7 == 0; }

} // namespace

std::vector<DemoExample> demoExamples(bool heldOut) {
    std::vector<DemoExample> out;
    for (size_t s = 0; s < kSubjects.size(); ++s) {
        for (size_t a = 0; a < kPositive.size(); ++a) {
            if (isHeldOutPair(s, a) != heldOut)
                continue;
            const size_t t = (s + a) % kTemplates.size();
            out.push_back({kInstruction, fill(kTemplates[t], kSubjects[s], kPositive[a]), "positive"});
            out.push_back(
                {kInstruction, fill(kTemplates[(t + 1) % kTemplates.size()], kSubjects[s], kNegative[a]), "negative"});
        }
    }
    return out;
}

} // namespace headroom
