// Writes tests/data/chat_templates/span_goldens.json, which tests/chat_template_test.cpp and
// tests/dataset_test.cpp compare Headroom's reply spans, ids and trainable masks against. Made with
// independent implementations, NOT Headroom's code: @huggingface/jinja renders the templates of
// tests/data/chat_templates/jinja (the whole conversation and the parts the span search needs),
// @lenml/tokenizers (the transformers.js tokenizers) tokenizes the rendered text.
//
//   npm install --prefix /tmp/jinjaref @huggingface/jinja@0.5.13 @lenml/tokenizers@3.7.2
//   node tests/tools/make_chat_span_goldens.mjs --modules /tmp/jinjaref/node_modules
//
// The spans are found as TRL and axolotl find them (headroom/chat_template.h): for each assistant
// message, what rendering up to and including it adds over rendering the messages before it with
// the generation prompt; where the full rendering holds the reply differently, that reply as the
// full rendering holds it, ending where the rendering without the message resumes. A case whose
// spans these two rules cannot find fails the script (none of the cases below). Each case stores
// the replies as text, and, for the templates with a committed tokenizer, the ids of the whole
// text (add_special_tokens false, as apply_chat_template(tokenize=True)) and per id whether it is
// trained: an edge lies after the ids the text before it tokenizes to, or, where that text ends in
// a word the whole text tokenizes differently, where the ids decode to exactly the text after it;
// a token straddling an edge is trained.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { kSourceDateEpoch, loadPackage, pinClock } from "./jinja_reference.mjs";

pinClock();

const here = path.dirname(fileURLToPath(import.meta.url));
const dataDir = path.resolve(here, "../data");
const {
  module: { Template },
  version: jinjaVersion,
} = await loadPackage("@huggingface/jinja", "dist/index.js");
const {
  module: { TokenizerLoader },
  version: lenmlVersion,
} = await loadPackage("@lenml/tokenizers", "dist/main.mjs");

const kTools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather for a city.",
    parameters: { type: "object", properties: { location: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["location"] },
  },
}];

// name -> [messages, tools or null]
const kConversations = {
  single_reply: [[{ role: "user", content: "Hello!" }, { role: "assistant", content: "Hi there." }], null],
  multi_turn: [[
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "2+2 is 4." },
    { role: "user", content: "And 3+3?" },
    { role: "assistant", content: "It is 6." },
  ], null],
  ends_with_user: [[
    { role: "user", content: "Name a colour." },
    { role: "assistant", content: "Blue." },
    { role: "user", content: "Another one?" },
  ], null],
  unicode: [[
    { role: "user", content: "Grüße aus Zürich — 你好，世界！ 🦀" },
    { role: "assistant", content: "Ça va très bien ! Ελληνικά ✓ 👩‍👩‍👧" },
  ], null],
  whitespace_edges: [[
    { role: "user", content: "\n\n  spaced out  \n\n" },
    { role: "assistant", content: "  \tindented reply\n" },
    { role: "user", content: "again" },
    { role: "assistant", content: "\nsecond\n\n" },
  ], null],
  think_blocks: [[
    { role: "user", content: "Why is the sky blue?" },
    { role: "assistant", content: "<think>\nRayleigh scattering.\n</think>\n\nShort wavelengths scatter more." },
    { role: "user", content: "And at sunset?" },
    { role: "assistant", content: "<think>\nLonger path through air.\n</think>\n\nRed light remains." },
  ], null],
  reasoning_content: [[
    { role: "user", content: "Say hi." },
    { role: "assistant", reasoning_content: "A greeting.", content: "Hi!" },
    { role: "user", content: "Again." },
    { role: "assistant", reasoning_content: "Once more.", content: "Hi again!" },
  ], null],
  thinking_field: [[
    { role: "user", content: "Plan a trip." },
    { role: "assistant", thinking: "Earlier plan.", content: "Go to Bergen." },
    { role: "user", content: "Why?" },
    { role: "assistant", thinking: "Explain the fjords.", content: "For the fjords." },
  ], null],
  tool_calls: [[
    { role: "user", content: "Weather in Oslo?" },
    { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "get_weather", arguments: { location: "Oslo" } } }] },
    { role: "tool", content: "{\"temp\": 12}" },
    { role: "assistant", content: "It is 12 °C." },
  ], kTools],
};

const kBasic = ["single_reply", "multi_turn", "ends_with_user", "unicode", "whitespace_edges"];
// template -> special tokens, tokenizer folder under tests/data/tokenizers (or null), cases
const kTemplates = {
  qwen3: {
    tokens: { eos_token: "<|im_end|>", pad_token: "<|endoftext|>" },
    tokenizer: "qwen3",
    cases: [...kBasic, "think_blocks", "reasoning_content", "tool_calls"].map((c) => [c, {}])
      .concat([["multi_turn", { enable_thinking: false }], ["ends_with_user", { enable_thinking: false }]]),
  },
  gemma3: {
    tokens: { bos_token: "<bos>", eos_token: "<end_of_turn>", pad_token: "<pad>", unk_token: "<unk>" },
    tokenizer: null, // Gemma 3's tokenizer.json is 32 MB; see README.md
    cases: kBasic.map((c) => [c, {}]),
  },
  "llama3.1": {
    tokens: { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
    tokenizer: "llama3", // Llama 3's tokenizer: the same vocabulary and merges
    cases: [...kBasic, "tool_calls"].map((c) => [c, {}]),
  },
  deepseek_v3: {
    tokens: { bos_token: "<｜begin▁of▁sentence｜>", eos_token: "<｜end▁of▁sentence｜>" },
    tokenizer: null,
    cases: kBasic.map((c) => [c, {}]),
  },
  harmony: {
    tokens: { bos_token: "<|startoftext|>", eos_token: "<|return|>", pad_token: "<|endoftext|>" },
    tokenizer: "llama3", // no gpt-oss tokenizer is committed: its special tokens are text to this one
    cases: [...kBasic, "thinking_field", "tool_calls"].map((c) => [c, {}]),
  },
};

const commonPrefix = (a, b) => {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
};

function replySpans(template, context) {
  const render = (patch) => template.render({ ...context, ...patch });
  const full = render({});
  const spans = [];
  context.messages.forEach((message, i) => {
    if (message.role !== "assistant") return;
    const before = render({ messages: context.messages.slice(0, i), add_generation_prompt: true });
    const upTo = render({ messages: context.messages.slice(0, i + 1), add_generation_prompt: false });
    const start = commonPrefix(before, upTo);
    if (full.startsWith(upTo)) {
      spans.push([start, upTo.length]);
      return;
    }
    const from = Math.min(start, commonPrefix(full, before));
    const rest = render({ messages: context.messages.filter((_, j) => j !== i) });
    const prefix = render({ messages: context.messages.slice(0, i), add_generation_prompt: false });
    const end = prefix.length + full.length - rest.length;
    if (!(full.startsWith(prefix) && rest.startsWith(prefix) && prefix.length <= from && end >= from &&
          full.slice(end) === rest.slice(prefix.length)))
      throw new Error(`no span for message ${i + 1}`);
    spans.push([from, end]);
  });
  return { full, spans };
}

const tokenizers = {};
function tokenizer(name) {
  const dir = path.join(dataDir, "tokenizers", name);
  tokenizers[name] ??= TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
  return tokenizers[name];
}

// Ids of the whole text and, per id, whether it is trained.
function tokenize(tok, full, spans) {
  const encode = (text) => (text.length ? tok.encode(text, { add_special_tokens: false }) : []);
  const ids = encode(full);
  const edgeIndex = (edge, entering) => {
    const before = encode(full.slice(0, edge));
    let shared = 0;
    while (shared < before.length && shared < ids.length && before[shared] === ids[shared]) shared++;
    if (shared === before.length) return shared;
    // The text before the edge tokenizes differently at its end: the edge is where the ids decode to
    // exactly the text after it, if one of the next few tokens is such a place.
    for (let k = shared; k <= ids.length && k <= shared + 8; k++)
      if ((k < ids.length ? tok.decode(ids.slice(k), { skip_special_tokens: false }) : "") === full.slice(edge)) return k;
    return entering ? shared : Math.min(shared + 1, ids.length);
  };
  const trainable = new Array(ids.length).fill(0);
  for (const [start, end] of spans) {
    const first = edgeIndex(start, true), last = end >= full.length ? ids.length : edgeIndex(end, false);
    for (let k = first; k < last; k++) trainable[k] = 1;
  }
  return { ids, trainable };
}

const cases = [];
for (const [name, { tokens, tokenizer: tokName, cases: list }] of Object.entries(kTemplates)) {
  const template = new Template(fs.readFileSync(path.join(dataDir, "chat_templates/jinja", `${name}.jinja`), "utf8"));
  for (const [conversation, extra] of list) {
    const [messages, tools] = kConversations[conversation];
    for (const addGenerationPrompt of [false, true]) {
      const context = { messages, tools, documents: null, add_generation_prompt: addGenerationPrompt, ...tokens, ...extra };
      const { full, spans } = replySpans(template, context);
      const entry = { template: name, conversation, context, text: full, replies: spans.map(([a, b]) => full.slice(a, b)) };
      if (tokName) Object.assign(entry, { tokenizer: tokName }, tokenize(tokenizer(tokName), full, spans));
      cases.push(entry);
    }
  }
}

const header = {
  reference: `@huggingface/jinja ${jinjaVersion} rendering tests/data/chat_templates/jinja; @lenml/tokenizers ${lenmlVersion} with tests/data/tokenizers/<tokenizer>`,
  generator: "tests/tools/make_chat_span_goldens.mjs",
  source_date_epoch: kSourceDateEpoch,
};
const fields = Object.entries(header).map(([k, v]) => ` ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
const file = path.join(dataDir, "chat_templates/span_goldens.json");
fs.writeFileSync(file, `{\n${fields.join("\n")}\n "cases": [\n${cases.map((c) => "  " + JSON.stringify(c)).join(",\n")}\n ]\n}\n`);
console.log(`${file}: ${cases.length} cases`);
