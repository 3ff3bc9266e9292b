#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tokenizer/golden_test_util.h"
#include "util/error.h"

namespace ri {
namespace {

constexpr std::string_view kSmolLmSystem = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

std::vector<ChatMessage> Messages(const nlohmann::json& array) {
  std::vector<ChatMessage> messages;
  for (const auto& m : array) messages.push_back({m["role"], m["content"]});
  return messages;
}

TEST(ChatTemplate, MatchesReferenceRenderings) {
  const nlohmann::json golden = testing::ReadTokenizerGolden("chat_templates.json");
  const std::string default_system = ExtractDefaultSystemPrompt(golden["chatml_template"].get<std::string>());
  EXPECT_EQ(default_system, kSmolLmSystem);
  ASSERT_GE(golden["cases"].size(), 10u);
  for (const auto& c : golden["cases"]) {
    const std::vector<ChatMessage> messages = Messages(c["messages"]);
    const bool generation = c["add_generation_prompt"];
    SCOPED_TRACE(c["name"].get<std::string>() + (generation ? " +generation" : ""));
    EXPECT_EQ(RenderChat(ChatTemplate::kChatML, messages, generation, default_system),
              c["rendered"]["chatml_smollm2"].get<std::string>());
    for (const auto& [name, expected] : c["rendered"].items()) {
      if (name == "chatml_smollm2") continue;
      EXPECT_EQ(RenderChat(ParseChatTemplateName(name), messages, generation), expected.get<std::string>()) << name;
    }
  }
}

TEST(ChatTemplate, DetectsFamilies) {
  const nlohmann::json golden = testing::ReadTokenizerGolden("chat_templates.json");
  EXPECT_EQ(DetectChatTemplate(golden["chatml_template"].get<std::string>()), ChatTemplate::kChatML);
  for (const auto& [name, text] : golden["templates"].items()) {
    const ChatTemplate family = DetectChatTemplate(text.get<std::string>());
    EXPECT_EQ(ChatTemplateName(family), name);
    EXPECT_EQ(ParseChatTemplateName(name), family);
  }
  EXPECT_EQ(ChatTemplateName(ParseChatTemplateName("chatml")), "chatml");
  EXPECT_THROW(DetectChatTemplate("{{ messages }}"), Error);
  EXPECT_THROW(DetectChatTemplate("[INST] <<SYS>>\\n{{ system }}\\n<</SYS>>"), Error);
  EXPECT_THROW(ParseChatTemplateName("vicuna"), Error);
}

TEST(ChatTemplate, SmolLm2GgufTemplate) {
  const std::string path = testing::SmolLm2Path();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "model file not found: " << path;
  const gguf::File file = gguf::File::Open(path);
  const std::string jinja = file.GetString("tokenizer.chat_template");
  EXPECT_EQ(DetectChatTemplate(jinja), ChatTemplate::kChatML);
  EXPECT_EQ(ExtractDefaultSystemPrompt(jinja), kSmolLmSystem);
}

TEST(ChatTemplate, ExtractDefaultSystemPromptForms) {
  // Escaped newline inside a quoted literal (Qwen2.5 style), with an earlier
  // occurrence built from a variable that must be skipped.
  EXPECT_EQ(ExtractDefaultSystemPrompt(
                "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}"
                "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. "
                "You\\'re helpful.<|im_end|>\\n' }}"),
            "You are Qwen, created by Alibaba Cloud. You're helpful.");
  EXPECT_EQ(ExtractDefaultSystemPrompt("{{'<|im_start|>' + message['role'] + '\\n'}}"), "");
  EXPECT_EQ(ExtractDefaultSystemPrompt("<|im_start|>system\n"), "");
}

TEST(ChatTemplate, RejectsWhatTheTemplatesReject) {
  EXPECT_THROW(RenderChat(ChatTemplate::kChatML, {}, true), Error);
  const std::vector<ChatMessage> two_users = {{"user", "a"}, {"user", "b"}};
  EXPECT_THROW(RenderChat(ChatTemplate::kMistral, two_users, true), Error);
  EXPECT_THROW(RenderChat(ChatTemplate::kGemma, two_users, true), Error);
  EXPECT_THROW(RenderChat(ChatTemplate::kMistral, {{"assistant", "a"}}, true), Error);
  EXPECT_THROW(RenderChat(ChatTemplate::kMistral, {{"user", "a"}, {"tool", "b"}}, true), Error);
  // ChatML and Llama 3 pass any role through.
  EXPECT_EQ(RenderChat(ChatTemplate::kChatML, two_users, false), "<|im_start|>user\na<|im_end|>\n<|im_start|>user\nb<|im_end|>\n");
  // No default system message when there is a system message already.
  EXPECT_EQ(RenderChat(ChatTemplate::kChatML, {{"system", "S"}}, false, "D"), "<|im_start|>system\nS<|im_end|>\n");
}

}  // namespace
}  // namespace ri
