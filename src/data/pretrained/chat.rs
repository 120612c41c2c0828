//! Chat templates: a model's own Jinja template (GGUF `tokenizer.chat_template` or
//! `tokenizer_config.json`) rendered with minijinja as transformers renders it (trim_blocks,
//! lstrip_blocks, Python string methods, `raise_exception`, `add_generation_prompt`). A model
//! without a template gets the Alpaca prompt that ratlab's byte models use.

use minijinja::{context, Environment, Error, ErrorKind};
use serde::Serialize;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

/// A compiled template with the special-token strings it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
    /// False for the Alpaca fallback.
    pub own: bool,
}

impl ChatTemplate {
    /// Compile `source` (the model's template), or the Alpaca fallback when there is none.
    pub fn new(source: Option<&str>, bos: &str, eos: &str) -> Result<ChatTemplate, String> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, Error> { Err(Error::new(ErrorKind::InvalidOperation, msg)) });
        env.add_function("strftime_now", |fmt: String| chrono::Local::now().format(&fmt).to_string());
        let own = source.is_some();
        env.add_template_owned("chat", source.unwrap_or(ALPACA).to_string()).map_err(|e| format!("the chat template does not compile: {e:#}"))?;
        Ok(ChatTemplate { env, bos: bos.into(), eos: eos.into(), own })
    }

    /// The conversation as text, with the assistant's opening when `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, String> {
        let t = self.env.get_template("chat").map_err(|e| e.to_string())?;
        t.render(context! { messages => messages, add_generation_prompt => add_generation_prompt, bos_token => &self.bos, eos_token => &self.eos })
            .map_err(|e| format!("the chat template fails on this conversation: {e:#}"))
    }
}

/// ratlab's Alpaca prompt as a template: one instruction (the last user turn), then the response.
const ALPACA: &str = "{% for m in messages %}{% if m.role == 'user' %}Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{{ m.content }}\n\n### Response:\n{% elif m.role == 'assistant' %}{{ m.content }}{{ eos_token }}{% endif %}{% endfor %}";

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2's template (ChatML with a default system turn), as its GGUF carries it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_chatml_with_the_generation_prompt() {
        let t = ChatTemplate::new(Some(SMOLLM2), "<|im_start|>", "<|im_end|>").unwrap();
        let s = t.render(&[Message::new("user", "What is the capital of France?")], true).unwrap();
        assert_eq!(s, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
        assert!(!t.render(&[Message::new("user", "x")], false).unwrap().ends_with("assistant\n"));
    }

    #[test]
    fn python_methods_and_raise_exception_work() {
        let src = "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0].content.strip() | upper }}";
        let t = ChatTemplate::new(Some(src), "", "").unwrap();
        assert_eq!(t.render(&[Message::new("user", "  hi ")], false).unwrap(), "HI");
        assert!(t.render(&[Message::new("system", "x")], false).unwrap_err().contains("first must be user"));
    }

    #[test]
    fn no_template_falls_back_to_alpaca() {
        let t = ChatTemplate::new(None, "", "</s>").unwrap();
        assert!(!t.own);
        let s = t.render(&[Message::new("user", "Say hi")], true).unwrap();
        assert!(s.ends_with("### Instruction:\nSay hi\n\n### Response:\n"), "{s}");
    }
}
