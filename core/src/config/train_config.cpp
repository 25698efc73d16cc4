// TrainConfig: reading, writing, overriding and validating, all by walking TrainConfig::fields().
#include "headroom/train_config.h"

#include "headroom/gpu_presets.h"

#include "headroom/error.h"

#include "io/json_text.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

namespace headroom {

namespace {

namespace fs = std::filesystem;

// The objects that hold fields ("dataset", "training", ...), from the fields' paths.
std::set<std::string> sectionNames() {
    std::set<std::string> sections;
    for (const auto &field : TrainConfig::fields()) {
        for (size_t dot = field.path.find('.'); dot != std::string::npos; dot = field.path.find('.', dot + 1))
            sections.insert(field.path.substr(0, dot));
    }
    return sections;
}

size_t editDistance(const std::string &a, const std::string &b) {
    std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        previous[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        current[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
        }
        std::swap(previous, current);
    }
    return previous[b.size()];
}

std::string sectionOf(const std::string &path) {
    const size_t dot = path.rfind('.');
    return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string leafOf(const std::string &path) {
    const size_t dot = path.rfind('.');
    return dot == std::string::npos ? path : path.substr(dot + 1);
}

// "learning_rate" -> "lr".
std::string initialsOf(const std::string &name) {
    std::string initials;
    for (size_t i = 0; i < name.size(); ++i) {
        if (i == 0 || name[i - 1] == '_')
            initials += name[i];
    }
    return initials;
}

// The valid name closest to `path`, tried in this order: the same name in another section
// ("training.lora_alpha" -> "lora.lora_alpha"); an abbreviation ("training.lr" ->
// "training.learning_rate"); the smallest edit distance, among the fields of the same section
// when that section exists, else among all names.
std::string nearestName(const std::string &path) {
    const auto sections = sectionNames();
    const std::string section = sectionOf(path);
    const std::string leaf = leafOf(path);
    std::vector<std::string> candidates;
    for (const auto &field : TrainConfig::fields()) {
        if (leafOf(field.path) == leaf)
            return field.path;
        if (section.empty() || !sections.count(section) || sectionOf(field.path) == section)
            candidates.push_back(field.path);
    }
    for (const auto &candidate : candidates) {
        if (sectionOf(candidate) == section && initialsOf(leafOf(candidate)) == leaf)
            return candidate;
    }
    if (section.empty() || !sections.count(section))
        candidates.insert(candidates.end(), sections.begin(), sections.end());
    const std::string &compared = sections.count(section) ? leaf : path;
    return *std::min_element(candidates.begin(), candidates.end(), [&](const auto &a, const auto &b) {
        const auto key = [&](const std::string &name) { return sections.count(section) ? leafOf(name) : name; };
        return editDistance(compared, key(a)) < editDistance(compared, key(b));
    });
}

Error unknownField(const std::string &context, const std::string &path) {
    return invalidInput((context.empty() ? "" : context + ": ") + path + ": unknown field; did you mean " +
                        nearestName(path) + "?");
}

void readObject(TrainConfig &config, const nlohmann::json &object, const std::string &prefix,
                const std::string &context, const std::set<std::string> &sections) {
    if (!object.is_object())
        throw invalidInput(context + ": " + (prefix.empty() ? "the configuration" : prefix) +
                           " must be a JSON object, got " + detail::quoteForError(object));
    for (const auto &[key, value] : object.items()) {
        const std::string path = prefix.empty() ? key : prefix + "." + key;
        if (const FieldDescriptor *field = TrainConfig::field(path)) {
            try {
                field->set(config, value);
            } catch (const Error &error) {
                throw invalidInput(context + ": " + error.what());
            }
        } else if (sections.count(path)) {
            readObject(config, value, path, context, sections);
        } else {
            throw unknownField(context, path);
        }
    }
}

std::string resolvedAgainst(const fs::path &folder, const std::string &path) {
    if (path.empty() || fs::path(path).is_absolute() || folder.empty())
        return path;
    return (folder / path).lexically_normal().string();
}

} // namespace

TrainConfig TrainConfig::fromJson(const nlohmann::json &json, const std::string &context) {
    TrainConfig config;
    readObject(config, json, "", context, sectionNames());
    return config;
}

TrainConfig TrainConfig::fromFile(const std::string &path) {
    TrainConfig config = fromJson(detail::readJsonFile(path, "a training configuration is a JSON file"), path);
    const fs::path folder = fs::path(path).parent_path();
    config.model = resolvedAgainst(folder, config.model);
    config.dataset.path = resolvedAgainst(folder, config.dataset.path);
    return config;
}

nlohmann::json TrainConfig::toJson() const {
    nlohmann::json json = nlohmann::json::object();
    for (const auto &field : fields()) {
        std::string pointer = "/" + field.path;
        std::replace(pointer.begin(), pointer.end(), '.', '/');
        json[nlohmann::json::json_pointer(pointer)] = field.get(*this);
    }
    return json;
}

void TrainConfig::applyOverride(const std::string &assignment) {
    const size_t equals = assignment.find('=');
    if (equals == std::string::npos || equals == 0)
        throw invalidInput("--set " + assignment +
                           ": expected KEY=VALUE with a dotted key, e.g. "
                           "training.learning_rate=1e-4");
    const std::string path = assignment.substr(0, equals);
    const FieldDescriptor *field = TrainConfig::field(path);
    if (!field)
        throw unknownField("--set " + assignment, path);
    try {
        field->set(*this, field->parseText(assignment.substr(equals + 1)));
    } catch (const Error &error) {
        throw invalidInput("--set " + assignment + ": " + error.what());
    }
}

void TrainConfig::applyOverrides(const nlohmann::json &overrides) {
    for (const auto &[path, value] : overrides.items())
        applyOverride(path + "=" + value.dump());
}

void TrainConfig::validate(const std::string &context) const {
    const std::string prefix = context.empty() ? "" : context + ": ";
    for (const auto &field : fields()) {
        const std::string problem = field.problem(field.get(*this));
        if (!problem.empty())
            throw invalidInput(prefix + field.path + ": " + problem);
    }
    static const std::regex kDevice("auto|cpu|cuda(:[0-9]+)?");
    if (!std::regex_match(device, kDevice))
        throw invalidInput(prefix + "device: must be auto, cpu, cuda or cuda:N, got \"" + device + "\"");
    if (training.bf16 && training.fp16)
        throw invalidInput(prefix + "training.fp16 and training.bf16 are both true; choose one (bf16 "
                                    "where the GPU supports it)");
    parseMemoryBudget(training.memoryBudget, prefix + "training.memory_budget");
    if (training.numTrainEpochs <= 0 && training.maxSteps <= 0)
        throw invalidInput(prefix + "training.num_train_epochs: must be > 0 unless training.max_steps "
                                    "is > 0 (nothing to train otherwise)");
}

int64_t TrainConfig::effectiveBatch(int gpus) const {
    return training.perDeviceTrainBatchSize * training.gradientAccumulationSteps * gpus;
}

Precision TrainConfig::precision() const {
    return training.fp16 ? Precision::FP16 : training.bf16 ? Precision::BF16 : Precision::FP32;
}

void TrainConfig::setPrecision(Precision precision) {
    training.bf16 = precision == Precision::BF16;
    training.fp16 = precision == Precision::FP16;
    quantization.computeDtype = dtypeOf(precision);
}

WeightQuant TrainConfig::weightQuant() const { return weightQuantOf(quantization.loadIn4bit, quantization.quantType); }

void TrainConfig::setWeightQuant(WeightQuant quant) {
    quantization.loadIn4bit = quant != WeightQuant::None;
    if (quant != WeightQuant::None)
        quantization.quantType = quant4TypeOf(quant);
}

} // namespace headroom
