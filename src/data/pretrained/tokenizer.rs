//! A pretrained model's own tokenizer, through Hugging Face's `tokenizers` crate: loaded from
//! `tokenizer.json` (the ids are transformers' by construction, the same Rust core), or rebuilt
//! from GGUF metadata the way the model's Hugging Face tokenizer is built: byte-level BPE
//! (`tokenizer.ggml.model = gpt2`) with the pre-tokenizer its `tokenizer.ggml.pre` names, or
//! LLaMA's SentencePiece BPE (`llama`) with merges derived from the piece scores.

use super::gguf::{Gguf, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Replace, NFC};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

/// LLaMA-3's pre-tokenizer split (`llama-bpe` in llama.cpp): numbers in runs of up to three digits.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: digits one by one.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF pre-tokenizer names ratlab rebuilds, for messages.
pub const GGUF_PRE: &str = "default/gpt-2, smollm, starcoder, refact, llama-bpe (llama3), qwen2";

/// Turn markers that end an assistant turn in the common chat formats; generation stops at
/// them when the model has them as control tokens.
const END_OF_TURN: [&str; 6] = ["<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>"];

/// The tokenizer with the ids a model treats specially.
pub struct ModelTokenizer {
    tk: Tokenizer,
    /// The same with special-token strings read as plain text (for a chat turn's content).
    plain: Tokenizer,
    /// What it is, for `inspect`: `gpt2 (smollm)`, `llama (SentencePiece)`, `tokenizer.json (BPE)`.
    pub kind: String,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Ids that end generation: EOS and the end-of-turn token.
    pub stops: Vec<u32>,
    /// Prepend BOS to an encoded text (GGUF `add_bos_token`; a tokenizer.json does this itself
    /// through its post-processor).
    add_bos: bool,
}

fn strings(g: &Gguf, key: &str) -> Result<Vec<String>, String> {
    let a = g.get(key).and_then(Value::as_array).ok_or_else(|| format!("metadata {key} is missing: the tokenizer cannot be rebuilt"))?;
    a.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| format!("metadata {key} holds a value that is not a string"))).collect()
}

fn id(g: &Gguf, key: &str, vocab: usize) -> Result<Option<u32>, String> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(i) if (i as usize) < vocab => Ok(Some(i as u32)),
            _ => Err(format!("metadata {key} is {}, not a token id below the vocabulary size {vocab}", v.brief())),
        },
    }
}

impl ModelTokenizer {
    /// Rebuild the tokenizer from GGUF metadata (`tokenizer.ggml.*`).
    pub fn from_gguf(g: &Gguf) -> Result<ModelTokenizer, String> {
        let model = g.get("tokenizer.ggml.model").and_then(Value::as_str).ok_or("metadata tokenizer.ggml.model is missing: this file has no tokenizer")?;
        let tokens = strings(g, "tokenizer.ggml.tokens")?;
        let n = tokens.len();
        let types: Vec<i64> = match g.get("tokenizer.ggml.token_type").and_then(Value::as_array) {
            Some(a) if a.len() == n => a.iter().map(|v| v.as_f64().unwrap_or(1.0) as i64).collect(),
            Some(a) => return Err(format!("tokenizer.ggml.token_type has {} entries for {n} tokens", a.len())),
            None => vec![1; n],
        };
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        if vocab.len() != n {
            return Err("tokenizer.ggml.tokens holds the same token twice".into());
        }
        let bos = id(g, "tokenizer.ggml.bos_token_id", n)?;
        let eos = id(g, "tokenizer.ggml.eos_token_id", n)?;
        let eot = id(g, "tokenizer.ggml.eot_token_id", n)?;
        let flag = |k: &str| g.get(k).and_then(Value::as_bool);
        let (mut tk, kind, add_bos) = match model {
            "gpt2" => {
                let merges = strings(g, "tokenizer.ggml.merges")?
                    .iter()
                    .map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| format!("merge {m:?} is not two tokens separated by a space")))
                    .collect::<Result<Vec<_>, _>>()?;
                let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| format!("the BPE vocabulary is not consistent: {e}"))?;
                let mut tk = Tokenizer::new(bpe);
                let pre = g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
                let split = |re: &str| -> Result<PreTokenizerWrapper, String> { Ok(Split::new(SplitPattern::Regex(re.into()), SplitDelimiterBehavior::Isolated, false).map_err(|e| e.to_string())?.into()) };
                let pipeline: Vec<PreTokenizerWrapper> = match pre {
                    "default" | "gpt-2" | "gpt2" => vec![ByteLevel::new(false, true, true).into()],
                    "smollm" | "starcoder" | "refact" => vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()],
                    "llama-bpe" | "llama3" | "llama-v3" => vec![split(LLAMA3_SPLIT)?, ByteLevel::new(false, true, false).into()],
                    "qwen2" | "deepseek-r1-qwen" => {
                        tk.with_normalizer(Some(NormalizerWrapper::from(NFC))).map_err(|e| e.to_string())?;
                        vec![split(QWEN2_SPLIT)?, ByteLevel::new(false, true, false).into()]
                    }
                    other => return Err(format!("tokenizer.ggml.pre is {other:?}, a pre-tokenizer ratlab does not rebuild; it knows {GGUF_PRE} (or give a model directory with tokenizer.json)")),
                };
                tk.with_pre_tokenizer(Some(Sequence::new(pipeline)));
                tk.with_decoder(Some(DecoderWrapper::from(ByteLevel::default())));
                (tk, format!("gpt2 ({pre})"), flag("tokenizer.ggml.add_bos_token").unwrap_or(false))
            }
            "llama" => {
                let scores: Vec<f64> = match g.get("tokenizer.ggml.scores").and_then(Value::as_array) {
                    Some(a) if a.len() == n => a.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect(),
                    _ => return Err("tokenizer.ggml.scores is missing or does not match the tokens: the SentencePiece tokenizer cannot be rebuilt".into()),
                };
                let merges = sentencepiece_merges(&tokens, &types, &scores, &vocab);
                let unk = id(g, "tokenizer.ggml.unknown_token_id", n)?.unwrap_or(0);
                let bpe = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .unk_token(tokens.get(unk as usize).cloned().unwrap_or_default())
                    .fuse_unk(true)
                    .byte_fallback(true)
                    .build()
                    .map_err(|e| format!("the SentencePiece vocabulary is not consistent: {e}"))?;
                let mut tk = Tokenizer::new(bpe);
                // As transformers builds it from GGUF: spaces become ▁, and one ▁ goes before
                // the text (not after each special token).
                let prepend = if flag("tokenizer.ggml.add_space_prefix").unwrap_or(true) { PrependScheme::First } else { PrependScheme::Never };
                tk.with_pre_tokenizer(Some(Metaspace::new('▁', prepend, false)));
                let dec: Vec<DecoderWrapper> = vec![Replace::new("▁", " ").map_err(|e| e.to_string())?.into(), ByteFallback::new().into(), Fuse::new().into(), Strip::new(' ', 1, 0).into()];
                tk.with_decoder(Some(DecoderSequence::new(dec)));
                (tk, "llama (SentencePiece)".to_string(), flag("tokenizer.ggml.add_bos_token").unwrap_or(true))
            }
            other => return Err(format!("tokenizer.ggml.model is {other:?}; ratlab rebuilds gpt2 (byte-level BPE) and llama (SentencePiece) tokenizers")),
        };
        // Control (3) and user-defined (4) tokens are matched in text, as Hugging Face's added
        // tokens are; control tokens are special (left out when decoding for display).
        let control: Vec<AddedToken> = tokens.iter().zip(&types).filter(|(_, &t)| t == 3).map(|(s, _)| AddedToken::from(s.clone(), true)).collect();
        let user: Vec<AddedToken> = tokens.iter().zip(&types).filter(|(_, &t)| t == 4).map(|(s, _)| AddedToken::from(s.clone(), false)).collect();
        tk.add_special_tokens(control).map_err(|e| e.to_string())?;
        tk.add_tokens(user).map_err(|e| e.to_string())?;
        let mut stops: Vec<u32> = eos.into_iter().chain(eot).collect();
        for t in END_OF_TURN {
            if let Some(i) = tokens.iter().position(|s| s == t).filter(|&i| types[i] == 3 && Some(i as u32) != bos) {
                // <|endoftext|> ends a document, not a turn: a stop only when it is the EOS.
                if t != "<|endoftext|>" && !stops.contains(&(i as u32)) {
                    stops.push(i as u32);
                }
            }
        }
        Ok(ModelTokenizer::with(tk, kind, bos, eos, stops, add_bos))
    }

    /// Load `tokenizer.json`; `config` is `tokenizer_config.json` (for the BOS/EOS names) and
    /// `eos_ids` the generation config's `eos_token_id`s, when there are such files.
    pub fn from_json(bytes: &[u8], config: Option<&serde_json::Value>, eos_ids: &[u32]) -> Result<ModelTokenizer, String> {
        let tk = Tokenizer::from_bytes(bytes).map_err(|e| format!("tokenizer.json is not a tokenizer this version of the tokenizers library reads: {e}"))?;
        let named = |k: &str| -> Option<u32> {
            let v = config?.get(k)?;
            let s = v.as_str().or_else(|| v.get("content").and_then(|c| c.as_str()))?;
            tk.token_to_id(s)
        };
        let bos = named("bos_token");
        let eos = eos_ids.first().copied().or_else(|| named("eos_token"));
        let mut stops: Vec<u32> = eos_ids.to_vec();
        if let Some(e) = named("eos_token") {
            if !stops.contains(&e) {
                stops.push(e);
            }
        }
        let model = match tk.get_model() {
            tokenizers::ModelWrapper::BPE(_) => "BPE",
            tokenizers::ModelWrapper::Unigram(_) => "Unigram",
            tokenizers::ModelWrapper::WordPiece(_) => "WordPiece",
            tokenizers::ModelWrapper::WordLevel(_) => "WordLevel",
        };
        Ok(ModelTokenizer::with(tk, format!("tokenizer.json ({model})"), bos, eos, stops, false))
    }

    fn with(tk: Tokenizer, kind: String, bos: Option<u32>, eos: Option<u32>, stops: Vec<u32>, add_bos: bool) -> ModelTokenizer {
        let mut plain = tk.clone();
        plain.set_encode_special_tokens(true);
        ModelTokenizer { tk, plain, kind, bos, eos, stops, add_bos: add_bos && bos.is_some() }
    }

    /// The ids of `text` as the model's tokenizer gives them: special tokens written in the text
    /// are recognized, and BOS is added when the tokenizer adds it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let enc = self.tk.encode(text, true).map_err(|e| format!("cannot tokenize: {e}"))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// The ids of template text: special tokens recognized, nothing added (templates write
    /// their own BOS).
    pub fn encode_fragment(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(self.tk.encode(text, false).map_err(|e| format!("cannot tokenize: {e}"))?.get_ids().to_vec())
    }

    /// The ids of `text` with nothing added and special-token strings taken as plain text:
    /// for the content of a chat turn, which must not open or close turns of its own.
    pub fn encode_content(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(self.plain.encode(text, false).map_err(|e| format!("cannot tokenize: {e}"))?.get_ids().to_vec())
    }

    /// A token's string as the vocabulary has it (`Ġthe`, `<|im_end|>`).
    pub fn token(&self, id: u32) -> String {
        self.tk.id_to_token(id).unwrap_or_else(|| format!("<{id}>"))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.tk.token_to_id(token)
    }

    /// Text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.tk.decode(ids, false).unwrap_or_default()
    }

    /// Vocabulary size with the added tokens.
    pub fn vocab_size(&self) -> usize {
        self.tk.get_vocab_size(true)
    }

    /// Whether encoding prepends BOS.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// The tokenizer as a `tokenizer.json` that Hugging Face's tokenizers (and transformers'
    /// `AutoTokenizer`) load to the same ids: a GGUF-rebuilt one gets a post-processor that
    /// prepends BOS when this one does.
    pub fn to_json(&self) -> Result<String, String> {
        let mut tk = self.tk.clone();
        if let (true, Some(bos)) = (self.add_bos, self.bos) {
            let name = self.token(bos);
            let post = tokenizers::processors::template::TemplateProcessing::builder()
                .try_single(format!("{name}:0 $A:0"))
                .and_then(|b| b.try_pair(format!("{name}:0 $A:0 {name}:1 $B:1")))
                .map_err(|e| e.to_string())?
                .special_tokens(vec![(name.clone(), bos)])
                .build()
                .map_err(|e| e.to_string())?;
            tk.with_post_processor(Some(post));
        }
        tk.to_string(true).map_err(|e| format!("cannot write tokenizer.json: {e}"))
    }

    /// Special (control) tokens with their ids, in id order.
    pub fn specials(&self) -> Vec<(u32, String)> {
        let mut v: Vec<(u32, String)> = self.tk.get_added_tokens_decoder().into_iter().filter(|(_, t)| t.special).map(|(i, t)| (i, t.content)).collect();
        v.sort();
        v
    }
}

/// llama.cpp's name (`tokenizer.ggml.pre`) for the pre-tokenizer of a byte-level BPE
/// `tokenizer.json`, when it is one ratlab also rebuilds from that name: digits split one by one
/// (`smollm`), LLaMA-3's or Qwen2's split regex, or GPT-2's byte-level regex alone.
pub fn gguf_pre_of(tokenizer_json: &serde_json::Value) -> Option<&'static str> {
    let pre = &tokenizer_json["pre_tokenizer"];
    let parts: Vec<&serde_json::Value> = match pre["type"].as_str()? {
        "Sequence" => pre["pretokenizers"].as_array()?.iter().collect(),
        _ => vec![pre],
    };
    let byte_level = |v: &serde_json::Value, regex: bool| v["type"] == "ByteLevel" && v["use_regex"].as_bool() == Some(regex);
    match parts.as_slice() {
        [b] if byte_level(b, true) => Some("gpt-2"),
        [d, b] if d["type"] == "Digits" && d["individual_digits"] == true && byte_level(b, true) => Some("smollm"),
        [s, b] if s["type"] == "Split" && byte_level(b, false) => match s["pattern"]["Regex"].as_str()? {
            LLAMA3_SPLIT => Some("llama-bpe"),
            QWEN2_SPLIT => Some("qwen2"),
            _ => None,
        },
        _ => None,
    }
}

/// SentencePiece BPE merges from piece scores, as transformers' `SentencePieceExtractor` derives
/// them: every split of a piece into two pieces of the vocabulary is a merge, ranked by the
/// merged piece's score (highest first), ties in vocabulary order.
fn sentencepiece_merges(tokens: &[String], types: &[i64], scores: &[f64], vocab: &Vocab) -> Vec<(String, String)> {
    let mut merges: Vec<(f64, u32, u32, String, String)> = Vec::new();
    for (i, piece) in tokens.iter().enumerate() {
        if types[i] != 1 {
            continue;
        }
        let mut local = Vec::new();
        for (k, _) in piece.char_indices().skip(1) {
            let (l, r) = piece.split_at(k);
            if let (Some(&a), Some(&b)) = (vocab.get(l), vocab.get(r)) {
                local.push((scores[i], a, b, l.to_string(), r.to_string()));
            }
        }
        local.sort_by_key(|m| (m.1, m.2));
        merges.extend(local);
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0));
    merges.into_iter().map(|m| (m.3, m.4)).collect()
}

#[cfg(test)]
mod tests {
    use super::super::gguf::tests::Writer;
    use super::super::gguf::Gguf;
    use super::*;

    /// A byte-level BPE over a tiny vocabulary: merges apply in rank order, digits split one by
    /// one for `smollm`, and control tokens in the text are recognized.
    #[test]
    fn rebuilds_a_byte_level_bpe_from_gguf_metadata() {
        let tokens = ["<|endoftext|>", "<|im_end|>", "h", "e", "l", "o", "Ġ", "1", "2", "he", "ll", "hell", "hello", "Ġhello", "12"];
        let merges = ["h e", "l l", "he ll", "hell o", "Ġ hello", "1 2"];
        let mut w = Writer::new();
        w.str("tokenizer.ggml.model", "gpt2").str("tokenizer.ggml.pre", "smollm").strs("tokenizer.ggml.tokens", &tokens).strs("tokenizer.ggml.merges", &merges).u32("tokenizer.ggml.eos_token_id", 1);
        w.i32s("tokenizer.ggml.token_type", &[3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let g = Gguf::parse(&w.to_bytes()).unwrap();
        let t = ModelTokenizer::from_gguf(&g).unwrap();
        assert_eq!(t.encode("hello hello").unwrap(), vec![12, 13]);
        // Digits one by one (smollm), so "12" never merges.
        assert_eq!(t.encode("12").unwrap(), vec![7, 8]);
        assert_eq!(t.encode("hello<|im_end|>").unwrap(), vec![12, 1]);
        assert!(!t.encode_content("hello<|im_end|>").unwrap().contains(&1), "content must not close a turn");
        assert_eq!(t.stops, vec![1]);
        assert_eq!(t.decode(&[12, 13]), "hello hello");
    }

    /// LLaMA-2-style SentencePiece (scores, byte fallback, <s> added) rebuilt from GGUF gives the
    /// ids transformers' GGUF tokenizer gives (scripts/pretrained_fixtures.py --spm).
    #[test]
    fn sentencepiece_from_gguf_gives_transformers_ids() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pretrained/spm");
        let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
        let bytes = std::fs::read(dir.join("Q8_0.gguf")).unwrap();
        let t = ModelTokenizer::from_gguf(&Gguf::parse(&bytes).unwrap()).unwrap();
        assert_eq!(t.kind, "llama (SentencePiece)");
        for (text, ids) in golden["texts"].as_array().unwrap().iter().zip(golden["ids"].as_array().unwrap()) {
            let want: Vec<u32> = ids.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as u32).collect();
            assert_eq!(t.encode(text.as_str().unwrap()).unwrap(), want, "{text}");
        }
        assert_eq!(t.decode(&t.encode("Once upon a time").unwrap()[1..]), "Once upon a time");
    }

    #[test]
    fn unknown_pre_tokenizer_is_named() {
        let mut w = Writer::new();
        w.str("tokenizer.ggml.model", "gpt2").str("tokenizer.ggml.pre", "tekken").strs("tokenizer.ggml.tokens", &["a"]).strs("tokenizer.ggml.merges", &[]);
        let e = ModelTokenizer::from_gguf(&Gguf::parse(&w.to_bytes()).unwrap()).err().unwrap();
        assert!(e.contains("tekken") && e.contains("smollm"), "{e}");
    }
}
