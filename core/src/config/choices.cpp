#include "headroom/choices.h"

#include <array>
#include <utility>

#include "headroom/error.h"

namespace headroom {

namespace {

// Each table lists every value of its enum once, in the enum's order.
template <typename Choice>
struct Table;

template <>
struct Table<Precision> {
    static constexpr std::array<std::pair<Precision, const char *>, 3> entries = {
        {{Precision::FP32, "fp32"}, {Precision::BF16, "bf16"}, {Precision::FP16, "fp16"}}};
};
template <>
struct Table<DtypeName> {
    static constexpr std::array<std::pair<DtypeName, const char *>, 3> entries = {
        {{DtypeName::Float32, "float32"}, {DtypeName::BFloat16, "bfloat16"}, {DtypeName::Float16, "float16"}}};
};
template <>
struct Table<Quant4Type> {
    static constexpr std::array<std::pair<Quant4Type, const char *>, 2> entries = {
        {{Quant4Type::NF4, "nf4"}, {Quant4Type::FP4, "fp4"}}};
};
template <>
struct Table<WeightQuant> {
    static constexpr std::array<std::pair<WeightQuant, const char *>, 3> entries = {
        {{WeightQuant::None, "none"}, {WeightQuant::NF4, "nf4"}, {WeightQuant::FP4, "fp4"}}};
};
template <>
struct Table<OptimizerKind> {
    static constexpr std::array<std::pair<OptimizerKind, const char *>, 4> entries = {
        {{OptimizerKind::AdamWTorch, "adamw_torch"},
         {OptimizerKind::AdamW8bit, "adamw_8bit"},
         {OptimizerKind::PagedAdamW8bit, "paged_adamw_8bit"},
         {OptimizerKind::Sgd, "sgd"}}};
};
template <>
struct Table<Attention> {
    static constexpr std::array<std::pair<Attention, const char *>, 2> entries = {
        {{Attention::Eager, "eager"}, {Attention::Sdpa, "sdpa"}}};
};

} // namespace

template <typename Choice>
const char *choiceName(Choice value) {
    for (const auto &[choice, name] : Table<Choice>::entries)
        if (choice == value)
            return name;
    return "?";
}

template <typename Choice>
const std::vector<std::string> &choiceNames() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> all;
        for (const auto &entry : Table<Choice>::entries)
            all.push_back(entry.second);
        return all;
    }();
    return names;
}

template <typename Choice>
Choice parseChoice(const std::string &text, const std::string &field) {
    std::string valid;
    for (const auto &[choice, name] : Table<Choice>::entries) {
        if (text == name)
            return choice;
        valid += (valid.empty() ? "" : ", ") + std::string(name);
    }
    throw invalidInput(field + ": '" + text + "' is not one of " + valid);
}

#define HEADROOM_CHOICE(Choice)                                                                                        \
    template const char *choiceName<Choice>(Choice);                                                                   \
    template const std::vector<std::string> &choiceNames<Choice>();                                                    \
    template Choice parseChoice<Choice>(const std::string &, const std::string &);
HEADROOM_CHOICE(Precision)
HEADROOM_CHOICE(DtypeName)
HEADROOM_CHOICE(Quant4Type)
HEADROOM_CHOICE(WeightQuant)
HEADROOM_CHOICE(OptimizerKind)
HEADROOM_CHOICE(Attention)
#undef HEADROOM_CHOICE

DtypeName dtypeOf(Precision precision) {
    switch (precision) {
    case Precision::BF16: return DtypeName::BFloat16;
    case Precision::FP16: return DtypeName::Float16;
    default: return DtypeName::Float32;
    }
}

Precision precisionOf(DtypeName dtype) {
    switch (dtype) {
    case DtypeName::BFloat16: return Precision::BF16;
    case DtypeName::Float16: return Precision::FP16;
    default: return Precision::FP32;
    }
}

WeightQuant weightQuantOf(bool loadIn4bit, Quant4Type type) {
    if (!loadIn4bit)
        return WeightQuant::None;
    return type == Quant4Type::FP4 ? WeightQuant::FP4 : WeightQuant::NF4;
}

Quant4Type quant4TypeOf(WeightQuant quant) { return quant == WeightQuant::FP4 ? Quant4Type::FP4 : Quant4Type::NF4; }

} // namespace headroom
