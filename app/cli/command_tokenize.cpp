#include "cli_context.h"

#include <fstream>

#include "headroom/error.h"
#include "headroom/tokenizer.h"

namespace headroom::cli {

namespace {

struct TokenizeArgs {
    std::string modelDir, text, file, ids;
    bool addSpecialTokens = false;
};

nlohmann::json idsJson(const std::vector<int32_t> &ids) { return nlohmann::json(ids); }

void runTokenize(const TokenizeArgs &args, const CliContext &ctx) {
    const auto tokenizer = Tokenizer::load(args.modelDir);
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
    std::ifstream in(args.file);
    if (!in)
        throw invalidInput(args.file + ": cannot read");
    std::string line;
    for (int lineNumber = 1; std::getline(in, line); ++lineNumber) {
        if (line.empty())
            continue;
        nlohmann::json value;
        try {
            value = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error &) {
            throw invalidInput(args.file + ":" + std::to_string(lineNumber) +
                               ": not valid JSON (each line must be a JSON string)");
        }
        if (!value.is_string())
            throw invalidInput(args.file + ":" + std::to_string(lineNumber) + ": each line must be a JSON string");
        std::cout << idsJson(tokenizer->encode(value.get<std::string>(), args.addSpecialTokens)).dump() << "\n";
    }
    std::cout.flush();
}

} // namespace

void addTokenizeCommands(CLI::App &app, CliContext &ctx) {
    static TokenizeArgs args;
    auto *tok = app.add_subcommand("tokenize", "Encode text to token ids");
    tok->add_option("MODEL_DIR", args.modelDir, "HF model folder (its tokenizer)")->required();
    auto *text = tok->add_option("--text", args.text, "text to encode");
    auto *file = tok->add_option("--file", args.file, "JSONL file, one JSON string per line");
    text->excludes(file);
    tok->add_flag("--add-special-tokens", args.addSpecialTokens, "add BOS/EOS as tokenizer_config.json says");
    tok->callback([&ctx, text, file] {
        if (text->count() == 0 && file->count() == 0)
            throw invalidInput("tokenize: give --text or --file");
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
