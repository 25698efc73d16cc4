#include "cli_context.h"

#include <sstream>

#include "headroom/adapter_io.h"
#include "headroom/causal_lm.h"
#include "headroom/chat_template.h"
#include "headroom/dataset.h"
#include "headroom/error.h"
#include "headroom/generation.h"
#include "headroom/tokenizer.h"

namespace headroom::cli {

void addGenerateCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string modelDir, prompt, dtype = "float32", adapter, templateFile;
        GenerationOptions options;
        bool chat = false, compare = false;
    };
    static Args args;
    args.options.maxNewTokens = 64;
    auto *cmd = app.add_subcommand("generate", "Generate text with a KV cache");
    cmd->add_option("MODEL_DIR", args.modelDir, "HF model folder")->required();
    cmd->add_option("--prompt", args.prompt, "prompt text")->required();
    cmd->add_option("--max-new-tokens", args.options.maxNewTokens, "tokens to generate at most")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--temperature", args.options.temperature, "0 = greedy")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_option("--top-p", args.options.topP, "nucleus sampling mass in (0, 1]")->capture_default_str();
    cmd->add_option("--seed", args.options.seed, "sampling seed")->capture_default_str();
    cmd->add_option("--dtype", args.dtype, "compute dtype: float32, bfloat16, float16")->capture_default_str();
    auto *chat = cmd->add_flag("--chat", args.chat, "wrap the prompt in the model's chat template as a user turn");
    cmd->add_option("--template", args.templateFile,
                    "with --chat: this Jinja template (or a JSON file's chat_template) instead of the model's")
        ->needs(chat);
    cmd->add_option("--adapter", args.adapter, "LoRA adapter folder (PEFT layout) applied on top");
    cmd->add_flag("--compare", args.compare, "with --adapter: generate with the base model too, side by side");
    cmd->callback([&ctx] {
        if (args.compare && args.adapter.empty())
            throw invalidInput("--compare needs --adapter");
        if (!(args.options.topP > 0.0 && args.options.topP <= 1.0)) {
            std::ostringstream value;
            value << args.options.topP;
            throw invalidInput("--top-p: " + value.str() + " is outside (0, 1]; 1 keeps the whole distribution");
        }
        const auto dtype = parseComputeDtype(args.dtype, "--dtype");
        const auto tokenizer = Tokenizer::load(args.modelDir);
        // Before the weights: a template the interpreter refuses fails fast.
        std::vector<int32_t> promptIds;
        if (args.chat) {
            // The prompt as one user turn, rendered and tokenized as `tokenize --chat` does.
            const ChatTemplate chatTemplate = args.templateFile.empty()
                                                  ? ChatTemplate::forModel(args.modelDir)
                                                  : ChatTemplate::fromFile(args.templateFile, args.modelDir);
            const RecordTokenizer recordTokenizer(*tokenizer, chatTemplate, /*trainOnPrompt=*/false);
            promptIds = recordTokenizer.tokenizeChat(ChatRequest::of({{"user", args.prompt}}, true)).ids;
        } else {
            promptIds = tokenizer->encode(args.prompt, true);
        }
        const auto device = ctx.startRuntime();
        const auto model = CausalLM::load(args.modelDir, {dtype, device, {}});
        std::unique_ptr<CausalLM> base;
        if (args.compare)
            base = CausalLM::load(args.modelDir, {dtype, device, {}});
        if (!args.adapter.empty())
            loadAdapter(*model, args.adapter);

        auto options = args.options;
        options.stopIds = tokenizer->stopIds();

        // Stream: decode everything so far and print what is new (a token may end mid-character).
        std::vector<int32_t> generated;
        std::string printed;
        auto &out = ctx.human();
        if (base)
            out << "--- with adapter " << args.adapter << ":\n";
        const auto result = generate(*model, promptIds, options, [&](int32_t id) {
            generated.push_back(id);
            const std::string text = tokenizer->decode(generated, true);
            if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
                out << text.substr(printed.size()) << std::flush;
                printed = text;
            }
            return true;
        });
        const std::string text = tokenizer->decode(result.tokens, true);
        if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0)
            out << text.substr(printed.size());
        out << "\n";
        std::cerr << "[" << result.tokens.size() << " tokens, " << result.tokensPerSecond << " tokens/s"
                  << (result.stoppedOnEos ? ", stopped on EOS" : "") << "]" << std::endl;
        nlohmann::json json = {{"text", text}, {"tokens", result.tokens}, {"tokens_per_s", result.tokensPerSecond}};
        if (base) {
            const auto baseResult = generate(*base, promptIds, options);
            const std::string baseText = tokenizer->decode(baseResult.tokens, true);
            out << "--- base model (no adapter):\n" << baseText << "\n";
            json["base_text"] = baseText;
            json["base_tokens"] = baseResult.tokens;
        }
        if (ctx.json)
            ctx.printJson(json);
    });
}

} // namespace headroom::cli
