#include "cli_context.h"

#include <fstream>

#include "headroom/dataset.h"
#include "headroom/error.h"
#include "headroom/tokenizer.h"

namespace headroom::cli {

namespace {

struct TokenizeArgs {
    std::string modelDir, text, file, chat, templateFile, ids;
    bool addSpecialTokens = false;
};

nlohmann::json idsJson(const std::vector<int32_t> &ids) { return nlohmann::json(ids); }

// Calls each(line, where) for every non-empty line of the file at `path`, `where` being "PATH:LINE"
// for messages.
template <typename Each>
void forEachLine(const std::string &path, Each each) {
    std::ifstream in(path);
    if (!in)
        throw invalidInput(path + ": cannot read");
    std::string line;
    for (int lineNumber = 1; std::getline(in, line); ++lineNumber)
        if (!line.empty())
            each(line, path + ":" + std::to_string(lineNumber));
}

// --chat: one conversation per line, rendered and tokenized as training does (RecordTokenizer);
// one line out per line in, {"text", "ids", "trainable"} or {"error"} when the template refuses it.
void runTokenizeChat(const TokenizeArgs &args, const Tokenizer &tokenizer) {
    const ChatTemplate chatTemplate = args.templateFile.empty()
                                          ? ChatTemplate::forModel(args.modelDir)
                                          : ChatTemplate::fromFile(args.templateFile, args.modelDir);
    const RecordTokenizer recordTokenizer(tokenizer, chatTemplate, /*trainOnPrompt=*/false);
    forEachLine(args.chat, [&](const std::string &line, const std::string &where) {
        ChatRequest request;
        try {
            request = ChatRequest::fromJson(nlohmann::ordered_json::parse(line));
        } catch (const nlohmann::json::parse_error &) {
            throw invalidInput(where + ": not valid JSON (each line is {\"messages\": [...], "
                                       "\"add_generation_prompt\": bool})");
        } catch (const Error &e) {
            throw invalidInput(where + ": " + e.what());
        }
        nlohmann::ordered_json out;
        try {
            const TokenizedChat chat = recordTokenizer.tokenizeChat(request);
            out = {{"text", chat.text}, {"ids", chat.ids}, {"trainable", chat.trainable}};
        } catch (const Error &e) {
            if (e.kind() != ErrorKind::InvalidInput)
                throw;
            out = {{"error", e.what()}};
        }
        std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    });
    std::cout.flush();
}

void runTokenize(const TokenizeArgs &args, const CliContext &ctx) {
    const auto tokenizer = Tokenizer::load(args.modelDir);
    if (!args.chat.empty()) {
        runTokenizeChat(args, *tokenizer);
        return;
    }
    if (args.file.empty()) {
        const auto ids = tokenizer->encode(args.text, args.addSpecialTokens);
        if (ctx.json) {
            ctx.printJson({{"ids", idsJson(ids)}});
            return;
        }
        for (size_t i = 0; i < ids.size(); ++i)
            std::cout << (i ? "," : "") << ids[i];
        std::cout << std::endl;
        return;
    }
    forEachLine(args.file, [&](const std::string &line, const std::string &where) {
        nlohmann::json value;
        try {
            value = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error &) {
            throw invalidInput(where + ": not valid JSON (each line must be a JSON string)");
        }
        if (!value.is_string())
            throw invalidInput(where + ": each line must be a JSON string");
        std::cout << idsJson(tokenizer->encode(value.get<std::string>(), args.addSpecialTokens)).dump() << "\n";
    });
    std::cout.flush();
}

} // namespace

void addTokenizeCommands(CLI::App &app, CliContext &ctx) {
    static TokenizeArgs args;
    auto *tok = app.add_subcommand("tokenize", "Encode text to token ids");
    tok->add_option("MODEL_DIR", args.modelDir, "HF model folder (its tokenizer)")->required();
    auto *text = tok->add_option("--text", args.text, "text to encode");
    auto *file = tok->add_option("--file", args.file, "JSONL file, one JSON string per line");
    auto *chat = tok->add_option("--chat", args.chat,
                                 "JSONL file of conversations, rendered with the model's chat template: "
                                 "{\"messages\": [...], \"add_generation_prompt\": bool} per line");
    tok->add_option("--template", args.templateFile,
                    "with --chat: this Jinja template (or a JSON file's chat_template) instead of the model's")
        ->needs(chat);
    text->excludes(file);
    chat->excludes(text)->excludes(file);
    auto *special =
        tok->add_flag("--add-special-tokens", args.addSpecialTokens, "add BOS/EOS as tokenizer_config.json says");
    special->excludes(chat);
    tok->callback([&ctx, text, file, chat] {
        if (text->count() == 0 && file->count() == 0 && chat->count() == 0)
            throw invalidInput("tokenize: give --text, --file or --chat");
        runTokenize(args, ctx);
    });

    auto *detok = app.add_subcommand("detokenize", "Decode token ids to text");
    detok->add_option("MODEL_DIR", args.modelDir, "HF model folder (its tokenizer)")->required();
    detok->add_option("--ids", args.ids, "comma-separated ids, e.g. 1,2,3")->required();
    detok->callback([&ctx] {
        const auto tokenizer = Tokenizer::load(args.modelDir);
        std::vector<int32_t> ids;
        for (int64_t id : parseIdList(args.ids, "--ids")) {
            if (id < 0 || id >= tokenizer->vocabSize())
                throw invalidInput("--ids: " + std::to_string(id) + " is outside the vocabulary [0, " +
                                   std::to_string(tokenizer->vocabSize()) + ")");
            ids.push_back(int32_t(id));
        }
        const auto text = tokenizer->decode(ids);
        if (ctx.json)
            ctx.printJson({{"text", text}});
        else
            std::cout << text << std::endl;
    });
}

} // namespace headroom::cli
