#include "headroom/adapter_io.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "headroom/error.h"
#include "headroom/safetensors.h"
#include "model/checkpoint_tensors.h"
#include "io/staged_output.h"
#include "io/json_text.h"
#include "train/finite_values.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

std::string modelCard(const LoraOptions &lora, const AdapterCard &card) {
    std::ostringstream md;
    md << "---\nbase_model: " << card.baseModel << "\nlibrary_name: peft\ntags:\n- lora\n- headroom\n---\n\n"
       << "# LoRA adapter for " << card.baseModel << "\n\n"
       << "Fine-tuned with Headroom on `" << card.dataset << "` for " << card.steps << " optimizer steps.\n\n"
       << "| | |\n|---|---|\n"
       << "| rank r | " << lora.r << " |\n| lora_alpha | " << lora.alpha << " |\n"
       << "| scaling | " << lora.scaling() << (lora.useRslora ? " (rsLoRA)" : "") << " |\n"
       << "| lora_dropout | " << lora.dropout << " |\n";
    md << "| target_modules | ";
    for (size_t i = 0; i < lora.targetModules.size(); ++i)
        md << (i ? ", " : "") << lora.targetModules[i];
    md << " |\n| final train loss | " << card.finalTrainLoss << " |\n";
    if (card.finalEvalLoss >= 0)
        md << "| final eval loss | " << card.finalEvalLoss << " |\n";
    md << "\n## Load it with PEFT\n\n```python\nfrom transformers import AutoModelForCausalLM\nfrom peft import "
          "PeftModel\n"
       << "base = AutoModelForCausalLM.from_pretrained(\"" << card.baseModel << "\")\n"
       << "model = PeftModel.from_pretrained(base, \"path/to/this/folder\")\n```\n\n"
       << "## llama.cpp / Ollama\n\n`headroom-cli export gguf-lora` converts this adapter to a GGUF LoRA that "
          "llama.cpp "
          "loads with `--lora`, and writes an Ollama Modelfile (`FROM` the base, `ADAPTER` the GGUF).\n";
    if (!card.settings.is_null())
        md << "\n## Training settings\n\n```json\n" << card.settings.dump(2) << "\n```\n";
    return md.str();
}

void writeText(const fs::path &path, const std::string &text) {
    std::ofstream out(path);
    out << text;
    out.close();
    if (!out)
        throw runtimeFailure(path.string() + ": cannot write");
}

} // namespace

void requireFiniteAdapter(const torch::Tensor &tensor, const std::string &file, const std::string &name) {
    if (!allFinite(tensor))
        throw invalidInput(file + ": tensor '" + name + "' holds " + describeNonFinite(tensor) +
                           ": the adapter is damaged or comes from a diverged training");
}

nlohmann::json peftAdapterConfig(const LoraOptions &lora, const std::string &baseModel) {
    return {{"alpha_pattern", nlohmann::json::object()},
            {"auto_mapping", nullptr},
            {"base_model_name_or_path", baseModel},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"layer_replication", nullptr},
            {"layers_pattern", nullptr},
            {"layers_to_transform", nullptr},
            {"loftq_config", nlohmann::json::object()},
            {"lora_alpha", lora.alpha},
            {"lora_dropout", lora.dropout},
            {"megatron_config", nullptr},
            {"megatron_core", "megatron.core"},
            {"modules_to_save", nullptr},
            {"peft_type", "LORA"},
            {"r", lora.r},
            {"rank_pattern", nlohmann::json::object()},
            {"revision", nullptr},
            {"target_modules", lora.targetModules},
            {"task_type", "CAUSAL_LM"},
            {"use_dora", false},
            {"use_rslora", lora.useRslora}};
}

void saveAdapter(const CausalLM &model, const std::string &dirName, const AdapterCard &card) {
    const auto *lora = model.lora();
    if (!lora)
        throw invalidInput("save adapter: the model has no LoRA adapters");
    const fs::path dir = fs::absolute(dirName);
    detail::StagedOutput staged(dir, "adapter");
    const fs::path &staging = staged.tmp();
    try {
        fs::create_directories(staging);
        const auto params = model.loraParameters();
        std::vector<torch::Tensor> cpu;
        SafetensorsWriter writer((staging / "adapter_model.safetensors").string(), {{"format", "pt"}});
        for (const auto &p : params) {
            cpu.push_back(p.tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous());
            writer.declare(p.name, Dtype::F32, cpu.back().sizes().vec());
        }
        for (size_t i = 0; i < params.size(); ++i)
            writer.writeTensor(params[i].name, cpu[i].data_ptr(), uint64_t(cpu[i].numel()) * 4);
        writer.finish();
        writeText(staging / "adapter_config.json", peftAdapterConfig(*lora, card.baseModel).dump(2) + "\n");
        writeText(staging / "README.md", modelCard(*lora, card));
    } catch (const fs::filesystem_error &e) {
        throw runtimeFailure(dir.string() + ": cannot write the adapter (" + e.code().message() + ")");
    }
    // The previous adapter moves aside and is removed only once the new one is in place, so a crash
    // never leaves neither.
    staged.commit();
}

LoraOptions readAdapterConfig(const std::string &dir) {
    const std::string path = (fs::path(dir) / "adapter_config.json").string();
    const nlohmann::json json = detail::readJsonFile(path, "an adapter folder needs adapter_config.json");
    auto unsupported = [&](const char *field, const std::string &why) {
        throw invalidInput(path + ": " + field + " " + why + " is not supported");
    };
    try {
        if (json.value("peft_type", "LORA") != "LORA")
            unsupported("peft_type", json.at("peft_type").dump());
        if (json.value("use_dora", false))
            unsupported("use_dora", "true");
        if (json.value("fan_in_fan_out", false))
            unsupported("fan_in_fan_out", "true");
        if (json.value("bias", std::string("none")) != "none")
            unsupported("bias", json.at("bias").dump());
        for (const char *pattern : {"rank_pattern", "alpha_pattern"})
            if (json.contains(pattern) && json.at(pattern).is_object() && !json.at(pattern).empty())
                unsupported(pattern, "with entries");
        if (json.contains("layers_to_transform") && !json.at("layers_to_transform").is_null())
            unsupported("layers_to_transform", json.at("layers_to_transform").dump());
        LoraOptions lora;
        lora.r = json.at("r").get<int64_t>();
        lora.alpha = json.at("lora_alpha").get<double>();
        lora.dropout = json.value("lora_dropout", 0.0);
        lora.useRslora = json.value("use_rslora", false);
        const auto &targets = json.at("target_modules");
        if (targets.is_string())
            lora.targetModules = {targets.get<std::string>()};
        else
            lora.targetModules = targets.get<std::vector<std::string>>();
        return lora;
    } catch (const nlohmann::json::exception &e) {
        throw invalidInput(path + ": missing or mistyped field (" + std::string(e.what()) + ")");
    }
}

void loadAdapter(CausalLM &model, const std::string &dir) {
    auto lora = readAdapterConfig(dir);
    lora.dropout = 0.0; // inference; a resumed run sets its own dropout
    model.addLora(lora, 0);
    const std::string file = (fs::path(dir) / "adapter_model.safetensors").string();
    const auto weights = SafetensorsFile::open(file);
    torch::NoGradGuard noGrad;
    for (auto &p : model.loraParameters()) {
        // PEFT saves without the adapter name; some tools keep ".default" — accept both.
        const TensorInfo *info = weights->find(p.name);
        if (!info) {
            std::string alt = p.name;
            alt.insert(alt.rfind(".weight"), ".default");
            info = weights->find(alt);
        }
        if (!info)
            throw invalidInput(file + ": tensor '" + p.name + "' missing (adapter_config.json targets it)");
        if (info->shape != p.tensor.sizes().vec())
            throw invalidInput(file + ": tensor '" + p.name + "' has shape " + formatShape(info->shape) +
                               ", the model needs " + formatShape(p.tensor.sizes().vec()));
        const auto source = toTorchDtype(info->dtype, file + ": tensor '" + p.name + "'");
        auto view = torch::from_blob(const_cast<std::uint8_t *>(weights->data(*info)), info->shape,
                                     torch::TensorOptions().dtype(source));
        p.tensor.copy_(view.to(torch::kFloat32));
        requireFiniteAdapter(p.tensor, file, p.name);
    }
}

} // namespace headroom
