// Reader for GGUF files (format versions 2 and 3), used in place from a
// memory map. Every count, length, offset and size is checked against the
// file before use: a truncated or hostile file gives an ri::Error naming what
// is wrong, never a crash or an allocation of a size the file chose.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/types.h"

namespace ri {
class MappedFile;
}

namespace ri::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view ValueTypeName(ValueType type);

// One metadata value. Scalars are held widened (integers in `integer`,
// floats in `real`); arrays hold their elements (of `element_type`), which may
// themselves be arrays.
struct Value {
  ValueType type = ValueType::kUint8;
  int64_t integer = 0;   // every integer type (uint64 above INT64_MAX is rejected) and bool
  double real = 0.0;     // float32 / float64
  std::string string;    // kString
  ValueType element_type = ValueType::kUint8;  // kArray
  std::vector<Value> array;                    // kArray

  bool IsInteger() const;
  bool IsFloat() const { return type == ValueType::kFloat32 || type == ValueType::kFloat64; }
};

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // GGUF order: dims[0] is the contiguous (innermost) one
  TensorType type = TensorType::F32;
  uint64_t offset = 0;     // relative to the start of the data section
  uint64_t num_elements = 0;
  uint64_t num_bytes = 0;
  const uint8_t* data = nullptr;  // inside the file's memory
};

class File {
 public:
  // Maps and parses a file; throws ri::Error ("<path>: <what is wrong>").
  static File Open(const std::string& path);
  // Parses bytes owned by the caller (they must outlive the File); used by
  // the fuzzer and the malformed-file tests.
  static File Parse(const uint8_t* data, size_t size);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* Find(std::string_view key) const;

  // Typed access; the *Or forms return the fallback when the key is absent.
  // A present key of the wrong type (or an out-of-range integer) throws
  // ri::Error naming the key, the expected and the found type.
  uint64_t GetUint(std::string_view key) const;
  uint64_t GetUintOr(std::string_view key, uint64_t fallback) const;
  double GetFloat(std::string_view key) const;  // accepts float and integer values
  double GetFloatOr(std::string_view key, double fallback) const;
  bool GetBoolOr(std::string_view key, bool fallback) const;
  std::string GetString(std::string_view key) const;
  std::string GetStringOr(std::string_view key, std::string_view fallback) const;
  // Array of strings / integers / floats (empty vector when absent).
  std::vector<std::string> GetStringArray(std::string_view key) const;
  std::vector<int64_t> GetIntArray(std::string_view key) const;
  std::vector<float> GetFloatArray(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* FindTensor(std::string_view name) const;

  // Drops a tensor's data from the process's memory when the file is mapped
  // (MappedFile::Evict; the data stays readable), and does nothing for
  // bytes owned by the caller.
  void EvictFromMemory(const TensorInfo& tensor) const;

 private:
  File() = default;

  std::unique_ptr<MappedFile> mapping_;  // null when parsed from caller memory
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<TensorInfo> tensors_;
};

}  // namespace ri::gguf
