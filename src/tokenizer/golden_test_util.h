// Helpers shared by the tokenizer tests: golden files and the model files.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace ri::testing {

inline std::string TokenizerGoldenPath(const std::string& name) {
  return std::string(RETROINFER_GOLDEN_DIR) + "/tokenizer/" + name;
}

inline nlohmann::json ReadTokenizerGolden(const std::string& name) {
  std::ifstream in(TokenizerGoldenPath(name));
  if (!in) throw std::runtime_error("missing golden file " + TokenizerGoldenPath(name));
  return nlohmann::json::parse(in);
}

inline std::string SmolLm2Path() { return std::string(RETROINFER_MODEL_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf"; }

// A GGUF file and the tokenizer read from it (the file outlives the tokenizer).
struct LoadedTokenizer {
  explicit LoadedTokenizer(const std::string& path)
      : file(gguf::File::Open(path)), tokenizer(Tokenizer::FromGguf(file)) {}
  gguf::File file;
  std::unique_ptr<Tokenizer> tokenizer;
};

}  // namespace ri::testing
