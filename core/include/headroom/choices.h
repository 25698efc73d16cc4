// The settings that take one of a few named values, each an enum with one table of names (as
// llama.cpp pairs its enums with *_name() functions). The configuration's field table, the CLI,
// the estimate, the trainer and the studio parse and print them through these functions only.
//
//   const auto kind = parseChoice<OptimizerKind>(text, "training.optim");  // invalidInput if unknown
//   std::cout << choiceName(kind);                                          // "adamw_8bit"
//   for (const std::string &name : choiceNames<OptimizerKind>()) ...        // in table order
#pragma once

#include <string>
#include <vector>

namespace headroom {

// The compute dtype of the frozen base: fp32, bf16 or fp16 (transformers' bf16/fp16 flags).
enum class Precision { FP32, BF16, FP16 };
// A dtype by torch's name (bnb_4bit_compute_dtype, --dtype): float32, bfloat16, float16.
enum class DtypeName { Float32, BFloat16, Float16 };
// bitsandbytes' bnb_4bit_quant_type: nf4 or fp4.
enum class Quant4Type { NF4, FP4 };
// The base weights as the CLI and the estimate name them (--quant): none, nf4 or fp4.
enum class WeightQuant { None, NF4, FP4 };
// transformers' optim names: adamw_torch, adamw_8bit, paged_adamw_8bit, sgd.
enum class OptimizerKind { AdamWTorch, AdamW8bit, PagedAdamW8bit, Sgd };
// transformers' attn_implementation: eager or sdpa (attention.h).
enum class Attention { Eager, Sdpa };

template <typename Choice>
const char *choiceName(Choice value);
template <typename Choice>
const std::vector<std::string> &choiceNames();
// Throws invalidInput "FIELD: 'TEXT' is not one of a, b, c" for a name not in the table.
template <typename Choice>
Choice parseChoice(const std::string &text, const std::string &field);

// The one rule for the compute dtype: the precision's (fp32 -> float32, bf16 -> bfloat16, fp16 ->
// float16), whatever bnb_4bit_compute_dtype says.
DtypeName dtypeOf(Precision precision);
Precision precisionOf(DtypeName dtype);
// load_in_4bit and bnb_4bit_quant_type as one choice, and back.
WeightQuant weightQuantOf(bool loadIn4bit, Quant4Type type);
Quant4Type quant4TypeOf(WeightQuant quant); // NF4 for None

} // namespace headroom
