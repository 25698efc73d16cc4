// export adapter: the adapter of a run, checkpoint or adapter folder as a clean PEFT folder. No base
// model needed: tensor names and ranks are checked against adapter_config.json, weights rewritten
// as float32 under PEFT's names (without the ".default" some tools add).
#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "export/export_internal.h"
#include "headroom/adapter_io.h"
#include "io/file_tree.h"
#include "headroom/error.h"
#include "memory/estimate/lora_count.h"
#include "model/checkpoint_tensors.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

// PEFT writes a README.md of its own; a folder without one gets this short card.
std::string plainCard(const LoraOptions &lora, const std::string &baseModel) {
    std::ostringstream md;
    md << "---\nbase_model: " << baseModel << "\nlibrary_name: peft\ntags:\n- lora\n---\n\n"
       << "# LoRA adapter for " << baseModel << "\n\n"
       << "Exported by Headroom (`headroom-cli export adapter`); r " << lora.r << ", lora_alpha " << lora.alpha
       << (lora.useRslora ? ", rsLoRA" : "") << ". Training details were not available.\n\n"
       << "Load it with `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(\"" << baseModel
       << "\"), \"path/to/this/folder\")`.\n";
    return md.str();
}

} // namespace

ExportResult exportAdapter(const std::string &sourcePath, const std::string &outDir) {
    const auto source = findAdapter(sourcePath);
    exporting::StagedPath staged(outDir, exporting::OutputKind::AdapterFolder, exporting::inputFolders(source));
    const auto adapter = exporting::openAdapter(source.adapterDir);
    const auto &file = *adapter.weights;
    static const std::regex key(
        R"(base_model\.model\.model\.(language_model\.)?layers\.[0-9]+\.(self_attn|mlp)\.([a-z_]+_proj)\.lora_(A|B)(\.default)?\.weight)");
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    std::map<std::string, std::string> readAs; // PEFT name -> the name in the file
    std::set<std::string> found; // the projections that carry adapters
    for (const auto &info : file.tensors()) {
        std::smatch match;
        if (!std::regex_match(info.name, match, key))
            throw invalidInput(file.path() + ": tensor '" + info.name +
                               "' is not a PEFT LoRA weight of a decoder projection");
        found.insert(match[3]);
        const bool isA = match[4] == "A";
        if (info.shape.size() != 2 || info.shape[isA ? 0 : 1] != adapter.lora.r)
            throw invalidInput(file.path() + ": tensor '" + info.name + "' has shape " + formatShape(info.shape) +
                               " but adapter_config.json says r = " + std::to_string(adapter.lora.r));
        const auto type = toTorchDtype(info.dtype, file.path() + ": tensor '" + info.name + "'");
        std::string name = info.name;
        if (match[5].matched)
            name.erase(name.rfind(".default"), 8);
        if (!readAs.emplace(name, info.name).second)
            throw invalidInput(file.path() + ": holds both '" + readAs.at(name) + "' and '" + info.name +
                               "', the same PEFT weight with and without the adapter name; which one is meant?");
        tensors.emplace_back(name, torch::from_blob(const_cast<std::uint8_t *>(file.data(info)), info.shape, type)
                                       .to(torch::kFloat32)
                                       .contiguous());
    }
    if (tensors.empty())
        throw invalidInput(file.path() + ": holds no tensors");
    std::sort(tensors.begin(), tensors.end(), [](const auto &x, const auto &y) { return x.first < y.first; });

    staged.createFolder();
    {
        SafetensorsWriter writer((staged.tmp() / "adapter_model.safetensors").string(), {{"format", "pt"}});
        for (const auto &[name, t] : tensors)
            writer.declare(name, Dtype::F32, t.sizes().vec());
        for (const auto &[name, t] : tensors)
            writer.writeTensor(name, t.data_ptr(), uint64_t(t.numel()) * 4);
        writer.finish();
    }
    // PEFT writes the modules it found, never the "all-linear" shorthand (a list holding that
    // word would make PEFT look for a module named "all-linear").
    auto lora = adapter.lora;
    resolveTargetModules(lora.targetModules, adapter.dir + "/adapter_config.json: target_modules");
    if (lora.targetModules == std::vector<std::string>{"all-linear"}) {
        lora.targetModules.clear();
        for (const auto &module : knownLinearModules())
            if (found.count(module))
                lora.targetModules.push_back(module);
    }
    exporting::writeTextFile(staged.tmp() / "adapter_config.json",
                             peftAdapterConfig(lora, adapter.baseModel).dump(2) + "\n");
    const fs::path card = fs::path(source.adapterDir) / "README.md";
    if (fs::exists(card))
        exporting::copyFile(card, staged.tmp() / "README.md");
    else
        exporting::writeTextFile(staged.tmp() / "README.md", plainCard(adapter.lora, adapter.baseModel));
    staged.commit();
    return {staged.final().string(), detail::treeBytes(staged.final()), source};
}

} // namespace headroom
