#include "tokenizer/chat_template.h"

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace ri {

namespace {

constexpr std::string_view kKnownNames = "chatml, llama3, mistral, gemma";

// Python's str.isspace(), which Jinja's `trim` filter (str.strip) uses.
bool IsPythonWhitespace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string_view Trim(std::string_view text) {
  size_t begin = std::string_view::npos;
  size_t end = 0;
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Unit unit = ScanUtf8(text, pos);
    const bool space = unit.kind == Utf8Unit::kChar && IsPythonWhitespace(unit.code_point);
    pos += unit.length;
    if (!space) {
      if (begin == std::string_view::npos) begin = pos - unit.length;
      end = pos;
    }
  }
  return begin == std::string_view::npos ? std::string_view() : text.substr(begin, end - begin);
}

// Mistral's and Gemma's templates: after an optional first system message,
// even positions must be user turns and odd positions must not.
void CheckAlternation(std::string_view family, const std::vector<ChatMessage>& messages, size_t first) {
  for (size_t i = first; i < messages.size(); ++i) {
    if ((messages[i].role == "user") != ((i - first) % 2 == 0)) {
      Fail("{} chat template: after an optional system message, roles must alternate user/assistant "
           "(message {} has role '{}')",
           family, i, messages[i].role);
    }
  }
}

std::string RenderChatML(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                         std::string_view default_system) {
  std::string out;
  if (!default_system.empty() && messages[0].role != "system") {
    out += "<|im_start|>system\n";
    out += default_system;
    out += "<|im_end|>\n";
  }
  for (const ChatMessage& message : messages) {
    out += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string RenderLlama3(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& message : messages) {
    out += "<|start_header_id|>" + message.role + "<|end_header_id|>\n\n";
    out += Trim(message.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// The template has no generation prompt: a prompt ends with " [/INST]".
std::string RenderMistral(const std::vector<ChatMessage>& messages) {
  const bool has_system = messages[0].role == "system";
  const size_t first = has_system ? 1 : 0;
  CheckAlternation("mistral", messages, first);
  std::string out;
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == "user") {
      out += " [INST] ";
      if (i == first && has_system) out += messages[0].content + "\n\n";
      out += message.content + " [/INST]";
    } else if (message.role == "assistant") {
      out += " " + message.content + "</s>";
    } else {
      Fail("mistral chat template: only user and assistant roles follow the optional first system message "
           "(message {} has role '{}')",
           i, message.role);
    }
  }
  return out;
}

std::string RenderGemma(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  const bool has_system = messages[0].role == "system";
  const size_t first = has_system ? 1 : 0;
  CheckAlternation("gemma", messages, first);
  std::string out;
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    out += "<start_of_turn>" + (message.role == "assistant" ? std::string("model") : message.role) + "\n";
    if (i == first && has_system) out += messages[0].content + "\n\n";
    out += Trim(message.content);
    out += "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

// Reads a template string literal's text from `pos` up to `terminator`,
// undoing backslash escapes. Returns false when the literal ends (an
// unescaped quote) or an expression starts before the terminator.
bool ReadLiteralUntil(std::string_view text, size_t pos, std::string_view terminator, std::string& out) {
  out.clear();
  while (pos < text.size()) {
    if (text.substr(pos).starts_with(terminator)) return true;
    const char c = text[pos];
    if (c == '\'' || c == '"' || c == '{' || c == '}') return false;
    if (c == '\\' && pos + 1 < text.size()) {
      const char escaped = text[pos + 1];
      out += escaped == 'n' ? '\n' : escaped == 't' ? '\t' : escaped;
      pos += 2;
      continue;
    }
    out += c;
    ++pos;
  }
  return false;
}

}  // namespace

ChatTemplate DetectChatTemplate(std::string_view jinja_text) {
  if (jinja_text.find("<|im_start|>") != std::string_view::npos) return ChatTemplate::kChatML;
  if (jinja_text.find("<|start_header_id|>") != std::string_view::npos) return ChatTemplate::kLlama3;
  if (jinja_text.find("<start_of_turn>") != std::string_view::npos) return ChatTemplate::kGemma;
  if (jinja_text.find("<<SYS>>") != std::string_view::npos) {
    Fail("Llama 2 chat templates (<<SYS>>) are not supported; choose one of {} explicitly", kKnownNames);
  }
  if (jinja_text.find("[INST]") != std::string_view::npos) return ChatTemplate::kMistral;
  Fail("unrecognized chat template (it has none of <|im_start|>, <|start_header_id|>, <start_of_turn>, "
       "[INST]); choose one of {} explicitly",
       kKnownNames);
}

ChatTemplate ParseChatTemplateName(std::string_view name) {
  if (name == "chatml") return ChatTemplate::kChatML;
  if (name == "llama3") return ChatTemplate::kLlama3;
  if (name == "mistral") return ChatTemplate::kMistral;
  if (name == "gemma") return ChatTemplate::kGemma;
  Fail("unknown chat template '{}'; known: {}", name, kKnownNames);
}

std::string_view ChatTemplateName(ChatTemplate family) {
  switch (family) {
    case ChatTemplate::kChatML:
      return "chatml";
    case ChatTemplate::kLlama3:
      return "llama3";
    case ChatTemplate::kMistral:
      return "mistral";
    case ChatTemplate::kGemma:
      return "gemma";
  }
  return "unknown";
}

std::string RenderChat(ChatTemplate family, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                       std::string_view default_system) {
  if (messages.empty()) Fail("cannot render a chat prompt without messages");
  switch (family) {
    case ChatTemplate::kChatML:
      return RenderChatML(messages, add_generation_prompt, default_system);
    case ChatTemplate::kLlama3:
      return RenderLlama3(messages, add_generation_prompt);
    case ChatTemplate::kMistral:
      return RenderMistral(messages);
    case ChatTemplate::kGemma:
      return RenderGemma(messages, add_generation_prompt);
  }
  Fail("invalid chat template family {}", static_cast<int>(family));
}

std::string ExtractDefaultSystemPrompt(std::string_view jinja_text) {
  constexpr std::string_view kOpen = "<|im_start|>system";
  std::string prompt;
  for (size_t hit = jinja_text.find(kOpen); hit != std::string_view::npos; hit = jinja_text.find(kOpen, hit + 1)) {
    size_t pos = hit + kOpen.size();
    if (jinja_text.substr(pos).starts_with('\n')) {
      pos += 1;
    } else if (jinja_text.substr(pos).starts_with("\\n")) {
      pos += 2;
    } else {
      continue;
    }
    if (ReadLiteralUntil(jinja_text, pos, "<|im_end|>", prompt)) return prompt;
  }
  return "";
}

}  // namespace ri
