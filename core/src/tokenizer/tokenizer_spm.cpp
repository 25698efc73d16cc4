#include "tokenizer/tokenizer_spm.h"

#include "tokenizer/tokenizer_spm_api.h"
#include "headroom/error.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace headroom {

// The plug-in's functions, resolved once per process.
struct SpmPlugin {
    std::string path;
    decltype(&headroom_spm_load) load = nullptr;
    decltype(&headroom_spm_free) free = nullptr;
    decltype(&headroom_spm_last_error) lastError = nullptr;
    decltype(&headroom_spm_encode) encode = nullptr;
    decltype(&headroom_spm_decode) decode = nullptr;
    decltype(&headroom_spm_vocab_size) vocabSize = nullptr;
    decltype(&headroom_spm_piece_to_id) pieceToId = nullptr;
    decltype(&headroom_spm_id_to_piece) idToPiece = nullptr;
    decltype(&headroom_spm_is_special) isSpecial = nullptr;
    decltype(&headroom_spm_bos_id) bosId = nullptr;
    decltype(&headroom_spm_eos_id) eosId = nullptr;
    decltype(&headroom_spm_unk_id) unkId = nullptr;
};

namespace {

const char *const kPluginFile = "libheadroom_sentencepiece.so";

std::string multiarchTriplet() {
#if defined(HEADROOM_MULTIARCH)
    return HEADROOM_MULTIARCH;
#elif defined(__x86_64__)
    return "x86_64-linux-gnu";
#elif defined(__aarch64__)
    return "aarch64-linux-gnu";
#else
    return "";
#endif
}

std::string executableDir() {
    char buffer[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    if (n <= 0)
        return ".";
    std::string path(buffer, static_cast<size_t>(n));
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::vector<std::string> candidateDirs() {
    const std::string exeDir = executableDir();
    std::vector<std::string> dirs = {exeDir, exeDir + "/../lib/headroom"};
    if (const std::string triplet = multiarchTriplet(); !triplet.empty())
        dirs.push_back(exeDir + "/../lib/" + triplet + "/headroom");
    if (const char *env = std::getenv("HEADROOM_PLUGIN_DIR"); env && *env)
        dirs.emplace_back(env);
    return dirs;
}

template <typename F>
void resolve(void *handle, const char *name, F &target, const std::string &path) {
    target = reinterpret_cast<F>(::dlsym(handle, name));
    if (!target)
        throw runtimeFailure(path + ": the sentencepiece plug-in lacks the function " + name +
                             "; rebuild the headroom_sentencepiece target from the same sources as the program");
}

std::mutex gPluginMutex;
const SpmPlugin *gPlugin = nullptr; // loaded once, never unloaded

const SpmPlugin &loadPlugin(const std::string &forFile) {
    std::lock_guard lock(gPluginMutex);
    if (gPlugin)
        return *gPlugin;
    std::string tried;
    for (const std::string &dir : candidateDirs()) {
        const std::string candidate = dir + "/" + kPluginFile;
        if (::access(candidate.c_str(), R_OK) != 0) {
            tried += (tried.empty() ? "" : ", ") + dir;
            continue;
        }
        // DEEPBIND + LOCAL: the plug-in's sentencepiece and protobuf resolve inside the plug-in,
        // never against LibTorch's protobuf already in the process (docs/architecture.md).
        void *handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
        if (!handle)
            throw runtimeFailure(candidate + ": the sentencepiece plug-in cannot be loaded (" + ::dlerror() + ")");
        using VersionFunction = decltype(&headroom_spm_abi_version);
        auto version = reinterpret_cast<VersionFunction>(::dlsym(handle, "headroom_spm_abi_version"));
        if (!version || version() != HEADROOM_SPM_ABI_VERSION)
            throw runtimeFailure(candidate + ": the sentencepiece plug-in is of another version than this program; "
                                             "rebuild the headroom_sentencepiece target together with it");
        auto plugin = std::make_unique<SpmPlugin>();
        plugin->path = candidate;
        resolve(handle, "headroom_spm_load", plugin->load, candidate);
        resolve(handle, "headroom_spm_free", plugin->free, candidate);
        resolve(handle, "headroom_spm_last_error", plugin->lastError, candidate);
        resolve(handle, "headroom_spm_encode", plugin->encode, candidate);
        resolve(handle, "headroom_spm_decode", plugin->decode, candidate);
        resolve(handle, "headroom_spm_vocab_size", plugin->vocabSize, candidate);
        resolve(handle, "headroom_spm_piece_to_id", plugin->pieceToId, candidate);
        resolve(handle, "headroom_spm_id_to_piece", plugin->idToPiece, candidate);
        resolve(handle, "headroom_spm_is_special", plugin->isSpecial, candidate);
        resolve(handle, "headroom_spm_bos_id", plugin->bosId, candidate);
        resolve(handle, "headroom_spm_eos_id", plugin->eosId, candidate);
        resolve(handle, "headroom_spm_unk_id", plugin->unkId, candidate);
        gPlugin = plugin.release();
        return *gPlugin;
    }
#ifdef HEADROOM_HAVE_SENTENCEPIECE_PLUGIN
    const char *const why = "";
#else
    const char *const why = " (this build has none: libsentencepiece-dev was not found when it was configured)";
#endif
    throw runtimeFailure(forFile + ": reading a tokenizer.model needs the sentencepiece plug-in " + kPluginFile + why +
                         ", which is not in " + tried +
                         "; build the headroom_sentencepiece target, install it next to the program, or set "
                         "HEADROOM_PLUGIN_DIR to its folder");
}

std::string pieceOf(const SpmPlugin &plugin, const HeadroomSpmModel *model, int32_t id) {
    size_t length = 0;
    const char *piece = plugin.idToPiece(model, id, &length);
    return piece ? std::string(piece, length) : std::string();
}

} // namespace

std::string SpmTokenizer::pluginPath() { return loadPlugin("tokenizer.model").path; }

SpmTokenizer::SpmTokenizer(const std::string &path, const TokenizerConfig &config)
    : m_plugin(&loadPlugin(path)), m_path(path) {
    m_model = m_plugin->load(path.c_str());
    if (!m_model)
        throw invalidInput(path + ": not a readable sentencepiece model (" + m_plugin->lastError() +
                           "); tokenizer.model must be a sentencepiece ModelProto");
    m_pieceCount = m_plugin->vocabSize(m_model);

    // Tokens cut out of the text before sentencepiece runs: the model's control and unknown
    // pieces, and what the config declares.
    std::vector<AddedTokenSpec> specs;
    auto addToken = [&](const AddedTokenSpec &spec) {
        if (spec.content.empty() || spec.id < 0 || m_addedIdByContent.count(spec.content))
            return;
        specs.push_back(spec);
        m_addedIdByContent.emplace(spec.content, spec.id);
        m_addedContentById.emplace(spec.id, spec.content);
        if (spec.special)
            m_specialIds.insert(spec.id);
    };
    auto addSpecial = [&](const std::string &content, int32_t id) {
        AddedTokenSpec spec;
        spec.content = content;
        spec.id = id;
        spec.special = true;
        addToken(spec);
    };
    for (const AddedTokenSpec &spec : config.addedTokensDecoder)
        addToken(spec);
    for (int32_t id = 0; id < m_pieceCount; ++id)
        if (m_plugin->isSpecial(m_model, id))
            addSpecial(pieceOf(*m_plugin, m_model, id), id);
    for (const auto &token : {config.bosToken, config.eosToken, config.unkToken, config.padToken})
        if (token)
            if (auto id = lookupToken(*token))
                addSpecial(*token, *id);
    for (const std::string &token : config.additionalSpecialTokens)
        if (auto id = lookupToken(token))
            addSpecial(token, *id);
    m_matcher = AddedTokenMatcher(specs);

    if (const int32_t bos = m_plugin->bosId(m_model); bos >= 0)
        m_bosId = bos;
    if (const int32_t eos = m_plugin->eosId(m_model); eos >= 0)
        m_eosId = eos;
    m_addBos = config.addBosToken.value_or(true);
    m_addEos = config.addEosToken.value_or(false);
}

SpmTokenizer::~SpmTokenizer() {
    if (m_model)
        m_plugin->free(m_model);
}

void SpmTokenizer::encodeText(std::string_view text, std::vector<int32_t> &out) const {
    size_t count = 0;
    const int32_t *ids = m_plugin->encode(m_model, text.data(), text.size(), &count);
    if (!ids)
        throw runtimeFailure(m_path + ": sentencepiece failed to encode a text of " + std::to_string(text.size()) +
                             " bytes: " + m_plugin->lastError());
    out.insert(out.end(), ids, ids + count);
}

std::vector<int32_t> SpmTokenizer::encode(const std::string &text, bool addSpecialTokens) const {
    std::vector<int32_t> ids;
    if (addSpecialTokens && m_addBos && m_bosId)
        ids.push_back(*m_bosId);
    for (const auto &section : m_matcher.split(text)) {
        if (section.id >= 0)
            ids.push_back(section.id);
        else
            encodeText(section.text, ids);
    }
    if (addSpecialTokens && m_addEos && m_eosId)
        ids.push_back(*m_eosId);
    return ids;
}

std::string SpmTokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecialTokens) const {
    std::string text;
    std::vector<int32_t> run;
    auto flush = [&] {
        if (run.empty())
            return;
        size_t length = 0;
        const char *decoded = m_plugin->decode(m_model, run.data(), run.size(), &length);
        if (!decoded)
            throw runtimeFailure(m_path + ": sentencepiece failed to decode: " + m_plugin->lastError());
        text.append(decoded, length);
        run.clear();
    };
    for (int32_t id : ids) {
        const auto added = m_addedContentById.find(id);
        if (added != m_addedContentById.end()) {
            flush();
            if (!(skipSpecialTokens && isSpecial(id)))
                text += added->second;
        } else if (id >= 0 && id < m_pieceCount) {
            run.push_back(id);
        }
    }
    flush();
    return text;
}

int32_t SpmTokenizer::vocabSize() const {
    int32_t size = m_pieceCount;
    for (const auto &[id, content] : m_addedContentById)
        size = std::max(size, id + 1);
    return size;
}

std::optional<std::string> SpmTokenizer::idToToken(int32_t id) const {
    if (const auto it = m_addedContentById.find(id); it != m_addedContentById.end())
        return it->second;
    if (id < 0 || id >= m_pieceCount)
        return std::nullopt;
    return pieceOf(*m_plugin, m_model, id);
}

std::optional<int32_t> SpmTokenizer::lookupToken(const std::string &token) const {
    if (const auto it = m_addedIdByContent.find(token); it != m_addedIdByContent.end())
        return it->second;
    const int32_t id = m_plugin->pieceToId(m_model, token.data(), token.size());
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

} // namespace headroom
