// SafetensorsCheckpoint: the weight files of a model folder, found the way transformers finds them.
#include "io/safetensors_util.h"

#include "headroom/error.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace headroom {

namespace fs = std::filesystem;

namespace {

const char *const kSingleFile = "model.safetensors";
const char *const kIndexFile = "model.safetensors.index.json";

std::string readWholeFile(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw invalidInput(path + ": cannot open");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// weight_map of an index: tensor name -> shard file name, checked for shape and safe names.
std::map<std::string, std::string> readWeightMap(const std::string &indexPath) {
    const std::string text = readWholeFile(indexPath);
    safetensors_detail::StrictJson parsed =
        safetensors_detail::parseJsonStrict(text.data(), text.data() + text.size(), indexPath, "the index");
    const nlohmann::json &index = parsed.value;
    if (!index.is_object() || !index.contains("weight_map") || !index.at("weight_map").is_object())
        throw invalidInput(indexPath + ": expected a JSON object with a \"weight_map\" object "
                                       "{tensor name: shard file name}");
    if (parsed.duplicateKey)
        throw invalidInput(indexPath + ": key '" + *parsed.duplicateKey + "' appears twice in one object");
    std::map<std::string, std::string> weightMap;
    for (auto it = index.at("weight_map").begin(); it != index.at("weight_map").end(); ++it) {
        const std::string where = indexPath + ": tensor '" + it.key() + "'";
        if (!it.value().is_string())
            throw invalidInput(where + " maps to " + it.value().dump() + "; expected a shard file name");
        const std::string shard = it.value().get<std::string>();
        const fs::path shardPath(shard);
        if (shard.empty() || shardPath.is_absolute() ||
            std::any_of(shardPath.begin(), shardPath.end(), [](const fs::path &part) { return part == ".."; }))
            throw invalidInput(where + " maps to '" + shard + "'; expected a file name inside the folder");
        weightMap.emplace(it.key(), shard);
    }
    if (weightMap.empty())
        throw invalidInput(indexPath + ": the weight_map lists no tensors");
    return weightMap;
}

std::vector<std::string> safetensorsFilesIn(const std::string &dir) {
    std::vector<std::string> found;
    std::error_code error;
    for (const fs::directory_entry &entry : fs::directory_iterator(dir, error)) {
        if (entry.path().extension() == ".safetensors" && entry.is_regular_file())
            found.push_back(entry.path().filename().string());
    }
    if (error)
        throw invalidInput(dir + ": cannot list the folder: " + error.message());
    std::sort(found.begin(), found.end());
    return found;
}

} // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::openDir(const std::string &dir) {
    std::error_code error;
    if (!fs::is_directory(dir, error))
        throw invalidInput(dir + ": not a folder; expected a model folder with model.safetensors or "
                                 "model.safetensors.index.json");
    SafetensorsCheckpoint checkpoint;
    checkpoint.m_dir = dir;
    const fs::path root(dir);

    auto addFile = [&checkpoint](const std::shared_ptr<SafetensorsFile> &file) {
        checkpoint.m_files.push_back(file);
        for (const TensorInfo &info : file->tensors()) {
            checkpoint.m_order.push_back(info.name);
            checkpoint.m_refs[info.name] = Ref{file, &info};
        }
    };

    const std::string indexPath = (root / kIndexFile).string();
    if (fs::exists(indexPath, error)) {
        const std::map<std::string, std::string> weightMap = readWeightMap(indexPath);
        std::map<std::string, std::shared_ptr<SafetensorsFile>> shards; // sorted by file name
        for (const auto &[name, shard] : weightMap) {
            if (shards.count(shard))
                continue;
            const std::string shardPath = (root / shard).string();
            if (!fs::is_regular_file(shardPath, error))
                throw invalidInput(indexPath + ": tensor '" + name + "' is in shard '" + shard + "', but " + shardPath +
                                   " is missing");
            shards[shard] = SafetensorsFile::open(shardPath);
        }
        for (const auto &[name, shard] : weightMap) {
            if (!shards.at(shard)->find(name))
                throw invalidInput(indexPath + ": tensor '" + name + "' is listed in shard '" + shard + "', but " +
                                   shards.at(shard)->path() + " has no tensor by that name");
        }
        // The index decides which shard holds each name; a shard's extra tensors are ignored, as
        // transformers does.
        for (const auto &entry : shards) {
            const std::shared_ptr<SafetensorsFile> &file = entry.second;
            checkpoint.m_files.push_back(file);
            for (const TensorInfo &info : file->tensors()) {
                auto it = weightMap.find(info.name);
                if (it != weightMap.end() && it->second == entry.first) {
                    checkpoint.m_order.push_back(info.name);
                    checkpoint.m_refs[info.name] = Ref{file, &info};
                }
            }
        }
        return checkpoint;
    }

    const std::string singlePath = (root / kSingleFile).string();
    if (fs::exists(singlePath, error)) {
        addFile(SafetensorsFile::open(singlePath));
        return checkpoint;
    }
    const std::vector<std::string> candidates = safetensorsFilesIn(dir);
    if (candidates.empty())
        throw invalidInput(dir + ": no weights found; expected model.safetensors, "
                                 "model.safetensors.index.json with its shards, or one *.safetensors file");
    if (candidates.size() > 1) {
        std::string list;
        for (const std::string &name : candidates)
            list += (list.empty() ? "" : ", ") + name;
        throw invalidInput(dir + ": several .safetensors files (" + list +
                           ") and no model.safetensors.index.json saying how they fit together");
    }
    addFile(SafetensorsFile::open((root / candidates.front()).string()));
    return checkpoint;
}

std::vector<std::string> SafetensorsCheckpoint::names() const { return m_order; }

bool SafetensorsCheckpoint::contains(const std::string &name) const { return m_refs.count(name) != 0; }

SafetensorsCheckpoint::Ref SafetensorsCheckpoint::find(const std::string &name) const {
    auto it = m_refs.find(name);
    if (it == m_refs.end())
        throw invalidInput(m_dir + ": tensor '" + name + "' not found");
    return it->second;
}

std::vector<std::string> SafetensorsCheckpoint::files() const {
    std::vector<std::string> paths;
    for (const std::shared_ptr<SafetensorsFile> &file : m_files)
        paths.push_back(file->path());
    return paths;
}

uint64_t SafetensorsCheckpoint::totalBytes() const {
    uint64_t total = 0;
    for (const auto &entry : m_refs)
        total += entry.second.info->byteSize();
    return total;
}

} // namespace headroom
