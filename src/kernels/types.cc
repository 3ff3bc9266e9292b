#include "kernels/types.h"

#include <array>
#include <utility>

namespace ri {

namespace {
constexpr std::array<std::pair<TensorType, TensorTypeTraits>, 20> kTable = {{
    {TensorType::F32, {"F32", 1, 4, true}},
    {TensorType::F16, {"F16", 1, 2, true}},
    {TensorType::BF16, {"BF16", 1, 2, true}},
    {TensorType::Q4_0, {"Q4_0", 32, 18, true}},
    {TensorType::Q4_1, {"Q4_1", 32, 20, true}},
    {TensorType::Q5_0, {"Q5_0", 32, 22, true}},
    {TensorType::Q5_1, {"Q5_1", 32, 24, true}},
    {TensorType::Q8_0, {"Q8_0", 32, 34, true}},
    {TensorType::Q8_1, {"Q8_1", 32, 36, false}},
    {TensorType::Q2_K, {"Q2_K", 256, 84, false}},
    {TensorType::Q3_K, {"Q3_K", 256, 110, false}},
    {TensorType::Q4_K, {"Q4_K", 256, 144, true}},
    {TensorType::Q5_K, {"Q5_K", 256, 176, true}},
    {TensorType::Q6_K, {"Q6_K", 256, 210, true}},
    {TensorType::Q8_K, {"Q8_K", 256, 292, false}},
    {TensorType::I8, {"I8", 1, 1, false}},
    {TensorType::I16, {"I16", 1, 2, false}},
    {TensorType::I32, {"I32", 1, 4, false}},
    {TensorType::I64, {"I64", 1, 8, false}},
    {TensorType::F64, {"F64", 1, 8, false}},
}};
}  // namespace

std::optional<TensorTypeTraits> FindTensorTypeTraits(uint32_t type_id) {
  for (const auto& [type, traits] : kTable) {
    if (static_cast<uint32_t>(type) == type_id) return traits;
  }
  return std::nullopt;
}

const TensorTypeTraits& Traits(TensorType type) {
  for (const auto& entry : kTable) {
    if (entry.first == type) return entry.second;
  }
  __builtin_unreachable();  // every enumerator is in kTable
}

}  // namespace ri
