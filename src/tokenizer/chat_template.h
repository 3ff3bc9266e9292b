// Chat prompt rendering for the template families found in GGUF files.
// The family is detected from `tokenizer.chat_template` (a Jinja text this
// engine does not execute) or chosen by name with --chat-template.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ri {

enum class ChatTemplate { kChatML, kLlama3, kMistral, kGemma };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// Family of a Jinja chat template text; throws ri::Error for an unknown one.
ChatTemplate DetectChatTemplate(std::string_view jinja_text);
// Family by name ("chatml", "llama3", "mistral", "gemma"); throws ri::Error
// listing the known names otherwise.
ChatTemplate ParseChatTemplateName(std::string_view name);
std::string_view ChatTemplateName(ChatTemplate family);

// The prompt text for `messages`, ending with the assistant turn's opening
// when `add_generation_prompt`, exactly as the family's reference template
// renders it, except that the BOS token's text is never included (encode the
// prompt with add_bos and parse_special). `default_system` is inserted when
// the template family does so and the messages have no system message
// (ChatML templates such as SmolLM2's do; an empty string means none).
// The reference templates (texts in tools/reference/make_tokenizer_golden.py):
//   chatml   "<|im_start|>{role}\n{content}<|im_end|>\n" per message
//   llama3   Meta-Llama-3-Instruct's: header, content trimmed, <|eot_id|>
//   mistral  Mistral-7B-Instruct v0.1/v0.2's: " [INST] ... [/INST]" turns, an
//            optional first system message prefixed to the first user turn,
//            user/assistant alternation required, "</s>" after answers
//   gemma    Gemma 3's: "<start_of_turn>{user|model}\n", content trimmed,
//            a first system message prefixed to the first turn, alternation
// Throws ri::Error for no messages, and where the reference template raises
// (roles out of order or unsupported).
std::string RenderChat(ChatTemplate family, const std::vector<ChatMessage>& messages,
                       bool add_generation_prompt, std::string_view default_system = "");

// The system prompt a ChatML template inserts when the conversation has none:
// the literal text between "<|im_start|>system" plus a newline (real or the
// escape \n) and "<|im_end|>" inside a template string, as in SmolLM2's
// "...<|im_start|>system\nYou are a helpful AI assistant named SmolLM,
// trained by Hugging Face<|im_end|>...". Occurrences built from variables
// (e.g. "<|im_start|>system\n' + messages[0]['content']") are skipped.
// Returns "" when the template has no such literal.
std::string ExtractDefaultSystemPrompt(std::string_view jinja_text);

}  // namespace ri
