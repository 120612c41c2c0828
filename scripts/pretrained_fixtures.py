#!/usr/bin/env python3
"""Tiny pretrained models for ratlab's tests, with golden outputs from Hugging Face transformers.

Writes tests/fixtures/pretrained/{llama,qwen2}/:
  hf/            a Hugging Face directory (config.json, safetensors, tokenizer.json,
                 tokenizer_config.json, generation_config.json); llama in bf16 (one file),
                 qwen2 in f16 sharded over two files with model.safetensors.index.json
  TYPE.gguf      the same weights as GGUF in every type ratlab reads (F32 F16 BF16 Q8_0 Q4_0
                 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K), written as llama.cpp's converter writes them:
                 llama's Q/K rows permuted, a tensor whose rows do not split into the type's
                 blocks in Q8_0, norms and biases in F32
  golden.json    the tokenizer's ids for a set of texts (the tokenizers library on tokenizer.json,
                 which is what transformers runs), and for the HF directory and each GGUF file the
                 next-token logits that transformers computes (top 20 and logsumexp at the last
                 position, argmax at every position, mean next-token loss) and its greedy
                 continuation

The weights are random (seeded) but scaled so that logits are well separated and greedy choices
are not near-ties. transformers dequantizes GGUF to f32 (gguf-py's dequantize) and undoes the
Q/K permutation itself, so matching it checks ratlab's reader, dequantizer and permutation.

Run with a Python that has transformers, gguf, tokenizers, safetensors and numpy, and torch on
the path (the project's torch virtualenv):
  python3 -m venv ~/.cache/ratlab/venv-hf
  ~/.cache/ratlab/venv-hf/bin/pip install transformers gguf tokenizers safetensors numpy
  PYTHONPATH=$(echo ~/.cache/ratlab/venv-torch-2.13.0/lib/python3*/site-packages) \\
      ~/.cache/ratlab/venv-hf/bin/python scripts/pretrained_fixtures.py
With --peft it writes llama/peft/: a PEFT LoRA adapter (rank 4, alpha 8, all seven projections,
random non-zero A and B) on llama/hf, saved by PEFT itself, and golden.json with the logits that
PeftModel computes with it on the golden sequence (needs peft too). With --spm it writes spm/ (a
SentencePiece-tokenizer GGUF and transformers' ids for it); with
a GGUF path it writes smollm2.json instead, from the real SmolLM2-135M-Instruct:
  … scripts/pretrained_fixtures.py models/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q, GGUFWriter, quants
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "pretrained")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
TEXTS = [
    "Hello world!",
    "  2024 is a year, 1234567 a number",
    "it's a café 🦀 naïve",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    "<|im_start|>user\nhi there<|im_end|>\n",
    "tabs\tand   spaces\n\nand new lines",
]
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SMOLLM2_TEMPLATE = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
QWEN2_TEMPLATE = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

ARCHS = {
    # Tied embeddings, GQA (4 heads, 2 KV heads), rope base 1e5 as SmolLM2.
    "llama": dict(layers=2, d=64, heads=4, kv=2, ffn=256, ctx=256, theta=100000.0, eps=1e-5, tied=True, bias=False,
                  pre="smollm", template=SMOLLM2_TEMPLATE, hf_dtype=torch.bfloat16, shards=1, seed=1),
    # Untied head, q/k/v biases, NFC and Qwen2's split.
    "qwen2": dict(layers=2, d=64, heads=4, kv=2, ffn=256, ctx=256, theta=1000000.0, eps=1e-6, tied=False, bias=True,
                  pre="qwen2", template=QWEN2_TEMPLATE, hf_dtype=torch.float16, shards=2, seed=2),
}


def train_tokenizer(pre):
    tk = Tokenizer(models.BPE())
    if pre == "smollm":
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    else:
        tk.normalizer = normalizers.NFC()
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    with open(os.path.join(ROOT, "datasets", "tiny-stories.txt"), encoding="utf-8") as f:
        text = f.read(200_000)
    tk.train_from_iterator([text[i:i + 2000] for i in range(0, len(text), 2000)], trainer)
    return tk


def weights(a, vocab):
    g = torch.Generator().manual_seed(a["seed"])
    d, hd = a["d"], a["d"] // a["heads"]
    w = {}

    def lin(name, out, inp, scale=1.5):
        w[name] = torch.randn(out, inp, generator=g) * (scale / inp ** 0.5)

    w["model.embed_tokens.weight"] = torch.randn(vocab, d, generator=g)
    for i in range(a["layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = 1.0 + 0.1 * torch.randn(d, generator=g)
        w[p + "post_attention_layernorm.weight"] = 1.0 + 0.1 * torch.randn(d, generator=g)
        lin(p + "self_attn.q_proj.weight", a["heads"] * hd, d)
        lin(p + "self_attn.k_proj.weight", a["kv"] * hd, d)
        lin(p + "self_attn.v_proj.weight", a["kv"] * hd, d)
        lin(p + "self_attn.o_proj.weight", d, a["heads"] * hd)
        if a["bias"]:
            for n, size in (("q", a["heads"] * hd), ("k", a["kv"] * hd), ("v", a["kv"] * hd)):
                w[p + f"self_attn.{n}_proj.bias"] = 0.3 * torch.randn(size, generator=g)
        lin(p + "mlp.gate_proj.weight", a["ffn"], d)
        lin(p + "mlp.up_proj.weight", a["ffn"], d)
        lin(p + "mlp.down_proj.weight", d, a["ffn"])
    w["model.norm.weight"] = 1.0 + 0.1 * torch.randn(d, generator=g)
    if not a["tied"]:
        lin("lm_head.weight", vocab, d, scale=3.0)
    return w


def write_hf(a, name, w, tk, vocab, path):
    os.makedirs(path, exist_ok=True)
    hd = a["d"] // a["heads"]
    cfg = {
        "architectures": ["LlamaForCausalLM" if name == "llama" else "Qwen2ForCausalLM"],
        "model_type": name, "hidden_size": a["d"], "intermediate_size": a["ffn"], "num_attention_heads": a["heads"],
        "num_key_value_heads": a["kv"], "num_hidden_layers": a["layers"], "rms_norm_eps": a["eps"], "rope_theta": a["theta"],
        "vocab_size": vocab, "tie_word_embeddings": a["tied"], "max_position_embeddings": a["ctx"], "hidden_act": "silu",
        "head_dim": hd, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": str(a["hf_dtype"]).replace("torch.", ""),
    }
    if name == "llama":
        cfg.update(attention_bias=False, mlp_bias=False)
    json.dump(cfg, open(os.path.join(path, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": 1, "eos_token_id": 2}, open(os.path.join(path, "generation_config.json"), "w"), indent=2)
    json.dump({"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "chat_template": a["template"], "add_bos_token": False,
               "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": a["ctx"]}, open(os.path.join(path, "tokenizer_config.json"), "w"), indent=2)
    tk.save(os.path.join(path, "tokenizer.json"))
    cast = {k: v.to(a["hf_dtype"]).contiguous() for k, v in w.items()}
    if a["shards"] == 1:
        save_file(cast, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    else:
        names = sorted(cast)
        half = len(names) // 2
        parts = [names[:half], names[half:]]
        files = [f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors" for i in range(len(parts))]
        wm = {}
        for part, fname in zip(parts, files):
            save_file({k: cast[k] for k in part}, os.path.join(path, fname), metadata={"format": "pt"})
            wm.update({k: fname for k in part})
        json.dump({"metadata": {"total_size": sum(t.numel() * t.element_size() for t in cast.values())}, "weight_map": wm},
                  open(os.path.join(path, "model.safetensors.index.json"), "w"), indent=2)
    # What the GGUF is made from: the weights as the HF directory holds them.
    return {k: v.float() for k, v in cast.items()}


# --- K-quants (gguf-py dequantizes them but does not quantize) ---------------------------------
def f16(x):
    return np.asarray(x, dtype=np.float16)


def q4k_q5k(blocks, bits):
    """Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins under f16 d and dmin."""
    n = blocks.shape[0]
    x = blocks.reshape(n, 8, 32)
    top = (1 << bits) - 1
    mn = np.minimum(x.min(axis=2), 0)
    mx = x.max(axis=2)
    scale = (mx - mn) / top
    mins = -mn
    d = f16(scale.max(axis=1) / 63 + 1e-12)
    dmin = f16(mins.max(axis=1) / 63 + 1e-12)
    sc = np.clip(np.round(scale / d.astype(np.float32)[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(np.round(mins / dmin.astype(np.float32)[:, None]), 0, 63).astype(np.uint8)
    eff_d = d.astype(np.float32)[:, None] * sc
    eff_m = dmin.astype(np.float32)[:, None] * m
    q = np.clip(np.round((x + eff_m[:, :, None]) / np.where(eff_d == 0, 1, eff_d)[:, :, None]), 0, top).astype(np.uint8).reshape(n, 256)
    s = np.zeros((n, 12), dtype=np.uint8)
    for j in range(4):
        s[:, j] = (sc[:, j] & 63) | ((sc[:, j + 4] >> 4) << 6)
        s[:, j + 4] = (m[:, j] & 63) | ((m[:, j + 4] >> 4) << 6)
        s[:, j + 8] = (sc[:, j + 4] & 0xF) | ((m[:, j + 4] & 0xF) << 4)
    qs = np.zeros((n, 128), dtype=np.uint8)
    qh = np.zeros((n, 32), dtype=np.uint8)
    for c in range(4):
        lo, hi = q[:, 64 * c:64 * c + 32], q[:, 64 * c + 32:64 * c + 64]
        qs[:, 32 * c:32 * c + 32] = (lo & 0xF) | ((hi & 0xF) << 4)
        qh |= (((lo >> 4) & 1) << (2 * c)).astype(np.uint8) | (((hi >> 4) & 1) << (2 * c + 1)).astype(np.uint8)
    parts = [d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), s]
    if bits == 5:
        parts.append(qh)
    parts.append(qs)
    return np.concatenate(parts, axis=1)


def q6k(blocks):
    """Q6_K: 16 sub-blocks of 16 with signed 8-bit scales under an f16 d."""
    n = blocks.shape[0]
    x = blocks.reshape(n, 16, 16)
    amax = np.abs(x).max(axis=2)
    scale = amax / 31
    d = f16(np.abs(scale).max(axis=1) / 127 + 1e-12)
    sc = np.clip(np.round(scale / d.astype(np.float32)[:, None]), -128, 127).astype(np.int8)
    eff = d.astype(np.float32)[:, None] * sc
    q = (np.clip(np.round(x / np.where(eff == 0, 1, eff)[:, :, None]), -32, 31) + 32).astype(np.uint8).reshape(n, 256)
    ql = np.zeros((n, 128), dtype=np.uint8)
    qh = np.zeros((n, 64), dtype=np.uint8)
    for h in range(2):
        q1, q2, q3, q4 = (q[:, 128 * h + 32 * k:128 * h + 32 * k + 32] for k in range(4))
        ql[:, 64 * h:64 * h + 32] = (q1 & 0xF) | ((q3 & 0xF) << 4)
        ql[:, 64 * h + 32:64 * h + 64] = (q2 & 0xF) | ((q4 & 0xF) << 4)
        qh[:, 32 * h:32 * h + 32] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
    return np.concatenate([ql, qh, sc.view(np.uint8), d.view(np.uint8).reshape(n, 2)], axis=1)


def quantize(arr, t):
    """arr: float32 [rows, cols] in torch order; returns (bytes as uint8 array, type) or a fallback."""
    qt = getattr(Q, t)
    block = {"Q4_K": 256, "Q5_K": 256, "Q6_K": 256}.get(t, 32 if t.startswith("Q") else 1)
    if arr.ndim == 1 or t == "F32":
        return arr.astype(np.float32), Q.F32
    if arr.shape[-1] % block != 0:
        return quants.quantize(arr, Q.Q8_0), Q.Q8_0
    if t == "F16":
        return arr.astype(np.float16), Q.F16
    if t in ("Q4_K", "Q5_K", "Q6_K"):
        blocks = arr.reshape(-1, 256)
        raw = q6k(blocks) if t == "Q6_K" else q4k_q5k(blocks, 4 if t == "Q4_K" else 5)
        return raw.reshape(arr.shape[0], -1), qt
    return quants.quantize(arr, qt), qt


def permute(w, n_head):
    """llama.cpp's converter: HF's half-split rotary rows → interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_NAMES = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
              "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
              "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
              "self_attn.o_proj.weight": "attn_output.weight", "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
              "mlp.down_proj.weight": "ffn_down.weight"}


def gguf_name(n):
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    if n in top:
        return top[n]
    _, _, i, rest = n.split(".", 3)
    return f"blk.{i}.{GGUF_NAMES[rest]}"


def gguf_model(path, name, a):
    """A GGUF writer with the model's hyperparameters."""
    gw = GGUFWriter(path, name)
    gw.add_name(f"ratlab tiny {name}")
    gw.add_block_count(a["layers"])
    gw.add_context_length(a["ctx"])
    gw.add_embedding_length(a["d"])
    gw.add_feed_forward_length(a["ffn"])
    gw.add_head_count(a["heads"])
    gw.add_head_count_kv(a["kv"])
    gw.add_rope_freq_base(a["theta"])
    gw.add_layer_norm_rms_eps(a["eps"])
    gw.add_rope_dimension_count(a["d"] // a["heads"])
    return gw


def gguf_tensors(gw, name, a, w, t):
    """The weights in type t (as llama.cpp's converter writes them: llama's Q/K permuted), then
    the file."""
    for n, v in w.items():
        arr = v.numpy().astype(np.float32)
        if name == "llama" and ("q_proj" in n or "k_proj" in n):
            arr = permute(arr, a["heads"] if "q_proj" in n else a["kv"])
        data, qt = quantize(arr, t)
        gw.add_tensor(gguf_name(n), data, raw_dtype=qt)
    gw.write_header_to_file()
    gw.write_kv_data_to_file()
    gw.write_tensors_to_file()
    gw.close()


def write_gguf(a, name, w, tk, path, t):
    gw = gguf_model(path, name, a)
    vocab = tk.get_vocab(with_added_tokens=True)
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = json.loads(tk.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    gw.add_tokenizer_model("gpt2")
    gw.add_tokenizer_pre(a["pre"])
    gw.add_token_list(tokens)
    gw.add_token_merges(merges)
    gw.add_token_types([3 if s in SPECIALS else 1 for s in tokens])
    gw.add_bos_token_id(1)
    gw.add_eos_token_id(2)
    gw.add_add_bos_token(False)
    gw.add_chat_template(a["template"])
    gguf_tensors(gw, name, a, w, t)


def golden(model, ids):
    with torch.no_grad():
        x = torch.tensor([ids])
        logits = model(x).logits[0].float()
        last = logits[-1]
        top = torch.topk(last, 20)
        nll = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:]).item()
        out = model.generate(x, max_new_tokens=12, do_sample=False, eos_token_id=2, pad_token_id=2)
    return {"top20": [[i, v] for i, v in zip(top.indices.tolist(), top.values.tolist())], "logsumexp": torch.logsumexp(last, 0).item(),
            "argmax": logits.argmax(-1).tolist(), "nll": nll, "greedy": out[0, len(ids):].tolist()}


SMOLLM2_TEXTS = [
    "Hello world!",
    "The capital of France is Paris.",
    "  2 spaces then 12345 digits, 3.14159 and 1,000,000",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "It's a naïve café — “quoted” ünïcödé and 日本語 text 🦀",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "tabs\tand   three spaces\n\n\nnew lines",
]


def smollm2(gguf_path):
    """Golden ids and answer for the real SmolLM2-135M-Instruct GGUF (tests/fixtures/pretrained/smollm2.json).

    The reference tokenizer is SmolLM2's tokenizer.json pipeline (Digits(individual) then
    ByteLevel, no normalizer, BPE without unk or byte fallback) built by the tokenizers library
    from the file's vocabulary and merges: transformers' own GGUF tokenizer for this file lacks
    the digit split, so the model is fed explicit ids.
    """
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM
    r = GGUFReader(gguf_path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens, merges = strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ", 1)) for m in merges])
    tk = Tokenizer(bpe)
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    from tokenizers import AddedToken
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    chat = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    ids = tk.encode(chat).ids
    d, f = os.path.dirname(os.path.abspath(gguf_path)), os.path.basename(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    g = golden(model, ids)
    out = {"texts": SMOLLM2_TEXTS, "ids": [tk.encode(t).ids for t in SMOLLM2_TEXTS], "chat_prompt": "What is the capital of France?",
           "chat_ids": ids, "top20": g["top20"], "logsumexp": g["logsumexp"], "greedy": g["greedy"], "answer": tk.decode(g["greedy"], skip_special_tokens=True)}
    json.dump(out, open(os.path.join(OUT, "smollm2.json"), "w"), indent=1)
    print("smollm2 answer:", repr(out["answer"]), out["greedy"], file=sys.stderr)


def spm():
    """A LLaMA-2-style SentencePiece tokenizer in GGUF (tokenizer.ggml.model = llama: pieces with
    scores, <0xNN> byte tokens, <unk>, <s>, </s>) on a tiny llama (Q8_0), with the ids
    transformers' own GGUF tokenizer gives (tests/fixtures/pretrained/spm/)."""
    from transformers import AutoTokenizer
    tk = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tk.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    with open(os.path.join(ROOT, "datasets", "tiny-stories.txt"), encoding="utf-8") as f:
        text = f.read(100_000)
    tk.train_from_iterator([text[i:i + 2000] for i in range(0, len(text), 2000)], trainer)
    pieces = [t for t, _ in sorted(tk.get_vocab().items(), key=lambda kv: kv[1]) if t not in ("<unk>", "<s>", "</s>")]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + pieces
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    d = os.path.join(OUT, "spm")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    a = dict(ARCHS["llama"])
    w = {k: v.float() for k, v in weights(a, len(tokens)).items()}
    gw = gguf_model(os.path.join(d, "Q8_0.gguf"), "llama", a)
    gw.add_tokenizer_model("llama")
    gw.add_token_list(tokens)
    gw.add_token_scores(scores)
    gw.add_token_types(types)
    gw.add_bos_token_id(1)
    gw.add_eos_token_id(2)
    gw.add_unk_token_id(0)
    gw.add_add_bos_token(True)
    gguf_tensors(gw, "llama", a, w, "Q8_0")
    ref = AutoTokenizer.from_pretrained(d, gguf_file="Q8_0.gguf")
    texts = TEXTS + ["<s>x</s> y", "Hello\nworld", " leading space"]
    json.dump({"texts": texts, "ids": [ref(t).input_ids for t in texts]}, open(os.path.join(d, "golden.json"), "w"), indent=1)


def peft_fixture():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    d = os.path.join(OUT, "llama")
    out = os.path.join(d, "peft")
    shutil.rmtree(out, ignore_errors=True)
    base = AutoModelForCausalLM.from_pretrained(os.path.join(d, "hf"), dtype=torch.float32).eval()
    cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    model.eval()
    model.save_pretrained(out)
    seq = json.load(open(os.path.join(d, "golden.json")))["sequence"]
    json.dump({"sequence": seq, "peft": golden(model, seq)}, open(os.path.join(out, "golden.json"), "w"), indent=1)
    print("peft", sorted(os.listdir(out)), file=sys.stderr)


def main():
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(2)
    if sys.argv[1:] == ["--spm"]:
        spm()
        return
    if sys.argv[1:] == ["--peft"]:
        peft_fixture()
        return
    if len(sys.argv) > 1:
        smollm2(sys.argv[1])
        return
    for name, a in ARCHS.items():
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        tk = train_tokenizer(a["pre"])
        vocab = tk.get_vocab_size(with_added_tokens=True)
        w = weights(a, vocab)
        hf_dir = os.path.join(d, "hf")
        w = write_hf(a, name, w, tk, vocab, hf_dir)
        ids = {t: tk.encode(t).ids for t in TEXTS}
        # The sequence the logits are checked on: a chat prompt then plain text.
        seq = tk.encode("<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\nThere was a little girl.").ids
        g = {"texts": TEXTS, "ids": [ids[t] for t in TEXTS], "sequence": seq, "models": {}}
        m = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
        g["models"]["hf"] = golden(m, seq)
        for t in TYPES:
            f = f"{t}.gguf"
            write_gguf(a, name, w, tk, os.path.join(d, f), t)
            m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
            g["models"][t] = golden(m, seq)
            print(name, t, "greedy", g["models"][t]["greedy"], file=sys.stderr)
        json.dump(g, open(os.path.join(d, "golden.json"), "w"), indent=1)
        print(name, "vocab", vocab, "files", sorted(os.listdir(d)), file=sys.stderr)


if __name__ == "__main__":
    main()
