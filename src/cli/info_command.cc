// `retroinfer info`: what a model file holds.
#include <fmt/format.h>

#include <map>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "gguf/gguf_file.h"
#include "util/error.h"

namespace ri::cli {

namespace {

int RunInfo(const EngineOptions& options) {
  Engine engine = Engine::Load(options, /*with_tokenizer=*/false);
  const ModelConfig& c = engine.model->config();
  const gguf::File& file = *engine.model->file();
  fmt::print("name:            {}\n", c.name);
  fmt::print("architecture:    {}\n", c.architecture);
  fmt::print("gguf version:    {}\n", file.version());
  fmt::print("layers:          {}\n", c.num_layers);
  fmt::print("hidden size:     {}\n", c.hidden_size);
  fmt::print("ffn size:        {}\n", c.ffn_size);
  fmt::print("heads:           {} query, {} kv, head size {}\n", c.num_heads, c.num_kv_heads,
             c.head_dim);
  std::string tokenizer_state = "usable";
  try {
    Tokenizer::FromGguf(file);
  } catch (const Error& error) {
    tokenizer_state = fmt::format("unusable: {}", error.what());
  }
  fmt::print("vocabulary:      {} tokens ({} tokenizer, {})\n", c.vocab_size,
             file.GetStringOr("tokenizer.ggml.model", "?"), tokenizer_state);
  fmt::print("context:         {} tokens trained\n", c.context_length);
  fmt::print("rope:            base {}, {} dims, {}\n", c.rope_theta, c.rope_dims,
             c.rope_layout == RopeLayout::kAdjacentPairs ? "adjacent pairs" : "halves");
  uint64_t parameters = 0, bytes = 0;
  std::map<std::string, int> types;
  for (const gguf::TensorInfo& tensor : file.tensors()) {
    parameters += tensor.num_elements;
    bytes += tensor.num_bytes;
    ++types[std::string(Traits(tensor.type).name)];
  }
  fmt::print("parameters:      {:.1f} M in {} tensors, {:.1f} MiB\n", parameters / 1e6,
             file.tensors().size(), bytes / 1048576.0);
  std::string type_list;
  for (const auto& [name, count] : types) type_list += fmt::format("{} x{}  ", name, count);
  fmt::print("tensor types:    {}\n", type_list);
  std::string family;
  try {
    family = std::string(ChatTemplateName(engine.Template(options)));
  } catch (const Error& error) {
    family = fmt::format("none ({})", error.what());
  }
  fmt::print("chat template:   {}\n", family);
  const size_t kv_per_token = 2u * c.num_layers * c.num_kv_heads * c.head_dim * 2;
  fmt::print("KV cache (F16):  {} bytes per token, {:.1f} MiB at {} tokens\n", kv_per_token,
             kv_per_token * static_cast<double>(engine.context) / 1048576.0, engine.context);
  return 0;
}

}  // namespace

Command RegisterInfo(CLI::App& app) {
  auto options = std::make_shared<EngineOptions>();
  CLI::App* command = app.add_subcommand("info", "Describe a model file");
  options->AddTo(*command);
  return [options] { return RunInfo(*options); };
}

}  // namespace ri::cli
