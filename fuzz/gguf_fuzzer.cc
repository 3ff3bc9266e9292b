// libFuzzer target for the GGUF reader: any input must parse or throw
// ri::Error; a parsed file must hold together (tensors inside the input,
// lookups finding their own entries), checked here with __builtin_trap.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_file.h"
#include "util/error.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// Calls `get`, which may reject a value of the wrong type with ri::Error.
template <typename Get>
void TryGet(Get get) {
  try {
    get();
  } catch (const ri::Error&) {
  }
}

void Touch(const ri::gguf::File& file, const uint8_t* data, size_t size) {
  for (const auto& entry : file.metadata()) {
    // A named variable: clang 14 lambdas cannot capture structured bindings.
    const std::string& key = entry.first;
    Check(file.Find(key) == &entry.second);
    TryGet([&] { file.GetUint(key); });
    TryGet([&] { file.GetFloat(key); });
    TryGet([&] { file.GetBoolOr(key, false); });
    TryGet([&] { file.GetString(key); });
    TryGet([&] { file.GetStringArray(key); });
    TryGet([&] { file.GetIntArray(key); });
    TryGet([&] { file.GetFloatArray(key); });
  }
  for (const ri::gguf::TensorInfo& tensor : file.tensors()) {
    Check(file.FindTensor(tensor.name) == &tensor);
    Check(tensor.offset % file.alignment() == 0);
    Check(tensor.num_bytes > 0 && tensor.data >= data &&
          tensor.data + tensor.num_bytes <= data + size);
    // Reads the first and last byte, so AddressSanitizer sees a bad bound.
    volatile uint8_t edge = tensor.data[0] ^ tensor.data[tensor.num_bytes - 1];
    (void)edge;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const ri::gguf::File file = ri::gguf::File::Parse(data, size);
    Touch(file, data, size);
  } catch (const ri::Error&) {
  }
  return 0;
}
