// The two tokenizer models behind Tokenizer::FromGguf.
#pragma once

#include <memory>

#include "tokenizer/tokenizer.h"

namespace ri {

// tokenizer.ggml.model = "gpt2": byte-level BPE (bpe_tokenizer.cc).
std::unique_ptr<Tokenizer> MakeBpeTokenizer(const gguf::File& file);
// tokenizer.ggml.model = "llama": SentencePiece-style BPE (spm_tokenizer.cc).
std::unique_ptr<Tokenizer> MakeSpmTokenizer(const gguf::File& file);

}  // namespace ri
