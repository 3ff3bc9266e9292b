// Small models with random F32 weights, for tests that compare the engine
// with straightforward reference implementations.
#pragma once

#include <cstdint>
#include <memory>

#include "model/model.h"

namespace ri {

struct TinyModelShape {
  int num_layers = 3;
  int hidden_size = 64;
  int ffn_size = 96;
  int num_heads = 4;
  int num_kv_heads = 2;
  int head_dim = 16;
  int vocab_size = 97;
  int context_length = 1024;
};

std::unique_ptr<Model> MakeTinyRandomModel(const TinyModelShape& shape, uint32_t seed);

}  // namespace ri
