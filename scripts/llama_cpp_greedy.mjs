// Greedy ids from llama.cpp itself for a GGUF file (ratlab's export, say), to compare with
// `ratlab generate FILE --raw --json`: llama.cpp's own loader, tokenizer (special tokens parsed)
// and sampler at temperature 0, through node-llama-cpp's prebuilt binaries (npm).
//
//   mkdir -p /tmp/nlc && (cd /tmp/nlc && npm install node-llama-cpp@3.22.1)
//   NODE_PATH=/tmp/nlc/node_modules node scripts/llama_cpp_greedy.mjs FILE.gguf "PROMPT" [N]
//
// Prints {"prompt_ids": [...], "ids": [...], "text": "..."}.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || ".", "x.js"));
const { getLlama } = await import(require.resolve("node-llama-cpp"));
const [file, prompt, n] = process.argv.slice(2);
const llama = await getLlama({ build: "never", gpu: false });
const model = await llama.loadModel({ modelPath: file });
const context = await model.createContext({ contextSize: 512 });
const sequence = context.getSequence();
const tokens = model.tokenize(prompt, true);
const ids = [];
for await (const t of sequence.evaluate(tokens, { temperature: 0 })) {
  ids.push(t); // the stop token included, as ratlab's --json ids have it
  if (t === model.tokens.eos || t === model.tokens.eot || ids.length >= Number(n || 32)) break;
}
console.log(JSON.stringify({ prompt_ids: Array.from(tokens), ids, text: model.detokenize(ids) }));
