#include "gguf/gguf_file.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>
#include <utility>

#include "util/error.h"
#include "util/mapped_file.h"

namespace ri::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;        // real files nest at most 1 level
constexpr uint64_t kDefaultAlignment = 32;
constexpr std::string_view kAlignmentKey = "general.alignment";
// Counts are checked against the bytes left, but one count may still be far
// more than a nested array will get to read before failing; reserving only up
// to this many elements keeps a hostile file from claiming much memory early.
constexpr uint64_t kMaxReserve = 1 << 16;

// Smallest encodings, used to bound counts by the bytes left before reserving.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;  // key length, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes =
    8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset

bool IsKnownValueType(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::kFloat64); }

bool IsIntegerType(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool IsFloatType(ValueType type) {
  return type == ValueType::kFloat32 || type == ValueType::kFloat64;
}

template <typename T>
void ReserveBounded(std::vector<T>& items, uint64_t count) {
  items.reserve(std::min(count, kMaxReserve));
}

// Throws naming the first name that occurs twice.
template <typename Items, typename NameOf>
void CheckUnique(const Items& items, NameOf name_of, std::string_view what) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(items.size());
  for (const auto& item : items) {
    if (!seen.insert(name_of(item)).second) Fail("duplicate {} '{}'", what, name_of(item));
  }
}

// Smallest encoding of a value of `type`: a string is at least its length
// field, an array at least its element type and count.
uint64_t MinEncodedSize(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:
      return 8;
    case ValueType::kArray:
      return 4 + 8;
  }
  return 1;
}

std::string TypeDescription(const Value& value) {
  if (value.type != ValueType::kArray) return std::string(ValueTypeName(value.type));
  return fmt::format("array of {}", ValueTypeName(value.element_type));
}

template <typename T>
T LoadLittleEndian(const uint8_t* bytes) {
  static_assert(std::endian::native == std::endian::little, "big-endian hosts are not supported");
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

// Sequential reader over the file bytes. Every read is checked against the
// bytes left; failures name the item being read (a metadata key or a tensor
// info, plus the index path inside nested arrays).
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint64_t position() const { return position_; }
  uint64_t left() const { return size_ - position_; }

  void SetItem(std::string item) {
    item_ = std::move(item);
    depth_ = 0;
  }
  std::string Where() const {
    std::string where = item_;
    for (int i = 0; i < depth_; ++i) where += fmt::format("[{}]", element_path_[i]);
    return where;
  }

  // `what` and `detail` name the field in errors ("name" "length").
  template <typename T>
  T Read(std::string_view what, std::string_view detail = {}) {
    if (sizeof(T) > left()) {
      Fail("truncated file: {} {}{}{} needs {} bytes but only {} are left", Where(), what,
           detail.empty() ? "" : " ", detail, sizeof(T), left());
    }
    const T value = LoadLittleEndian<T>(data_ + position_);
    position_ += sizeof(T);
    return value;
  }

  std::string ReadString(std::string_view what) {
    const uint64_t length = Read<uint64_t>(what, "length");
    if (length > left()) {
      Fail("truncated file: {} {} length {} exceeds the {} bytes left", Where(), what, length,
           left());
    }
    std::string text(reinterpret_cast<const char*>(data_ + position_), length);
    position_ += length;
    return text;
  }

  // Checks that `count` elements of at least `min_size` bytes each can still
  // be in the file, so that a hostile count fails before anything is reserved.
  void CheckCount(uint64_t count, uint64_t min_size, std::string_view what) {
    if (min_size > 0 && count > left() / min_size) {
      Fail("truncated file: {} {} {} needs at least {} bytes each but only {} bytes are left",
           Where(), what, count, min_size, left());
    }
  }

  Value ReadValue(ValueType type, int depth) {
    Value value;
    value.type = type;
    switch (type) {
      case ValueType::kUint8:
        value.integer = Read<uint8_t>("uint8 value");
        break;
      case ValueType::kInt8:
        value.integer = Read<int8_t>("int8 value");
        break;
      case ValueType::kUint16:
        value.integer = Read<uint16_t>("uint16 value");
        break;
      case ValueType::kInt16:
        value.integer = Read<int16_t>("int16 value");
        break;
      case ValueType::kUint32:
        value.integer = Read<uint32_t>("uint32 value");
        break;
      case ValueType::kInt32:
        value.integer = Read<int32_t>("int32 value");
        break;
      case ValueType::kInt64:
        value.integer = Read<int64_t>("int64 value");
        break;
      case ValueType::kFloat32:
        value.real = Read<float>("float32 value");
        break;
      case ValueType::kFloat64:
        value.real = Read<double>("float64 value");
        break;
      case ValueType::kUint64: {
        const uint64_t raw = Read<uint64_t>("uint64 value");
        if (raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          Fail("{}: uint64 value {} is too large (limit {})", Where(), raw,
               std::numeric_limits<int64_t>::max());
        }
        value.integer = static_cast<int64_t>(raw);
        break;
      }
      case ValueType::kBool: {
        const uint8_t raw = Read<uint8_t>("bool value");
        if (raw > 1) Fail("{}: bool value is {}, expected 0 or 1", Where(), raw);
        value.integer = raw;
        break;
      }
      case ValueType::kString:
        value.string = ReadString("string");
        break;
      case ValueType::kArray:
        ReadArray(value, depth + 1);
        break;
    }
    return value;
  }

  ValueType ReadValueType(std::string_view what) {
    const uint32_t raw = Read<uint32_t>(what);
    if (!IsKnownValueType(raw)) Fail("{}: unknown {} {}", Where(), what, raw);
    return static_cast<ValueType>(raw);
  }

 private:
  void ReadArray(Value& array, int depth) {
    if (depth > kMaxArrayDepth) {
      Fail("{}: arrays nested deeper than {} levels", Where(), kMaxArrayDepth);
    }
    array.element_type = ReadValueType("array element type");
    const uint64_t count = Read<uint64_t>("array length");
    CheckCount(count, MinEncodedSize(array.element_type), "array length");
    ReserveBounded(array.array, count);
    // depth counts from 1 for the outermost array; its index goes in slot 0.
    for (uint64_t i = 0; i < count; ++i) {
      element_path_[depth - 1] = i;
      depth_ = depth;
      array.array.push_back(ReadValue(array.element_type, depth));
    }
    depth_ = depth - 1;
  }

  const uint8_t* data_;
  uint64_t size_;
  uint64_t position_ = 0;
  std::string item_ = "header";
  std::array<uint64_t, kMaxArrayDepth> element_path_{};
  int depth_ = 0;
};

uint32_t ReadVersion(Reader& reader) {
  const uint32_t magic = reader.Read<uint32_t>("magic");
  if (magic != kMagic) {
    Fail("not a GGUF file: magic is 0x{:08x}, expected 0x{:08x} (\"GGUF\")", magic, kMagic);
  }
  const uint32_t version = reader.Read<uint32_t>("version");
  if (version == 2 || version == 3) return version;
  if (version == 1) Fail("GGUF version 1 is not supported (only versions 2 and 3)");
  if (version == 0x02000000 || version == 0x03000000) {
    Fail("big-endian GGUF files are not supported");
  }
  Fail("unsupported GGUF version {} (only versions 2 and 3)", version);
}

uint64_t ReadAlignment(const Value* value) {
  if (value == nullptr) return kDefaultAlignment;
  if (value->type != ValueType::kUint32) {
    Fail("metadata key '{}' has type {}, expected uint32", kAlignmentKey, TypeDescription(*value));
  }
  const uint64_t alignment = static_cast<uint64_t>(value->integer);
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    Fail("metadata key '{}' is {}, expected a nonzero power of two", kAlignmentKey, alignment);
  }
  return alignment;
}

TensorInfo ReadTensorInfo(Reader& reader, uint64_t index) {
  TensorInfo info;
  reader.SetItem(fmt::format("tensor info {}", index));
  info.name = reader.ReadString("name");
  reader.SetItem(fmt::format("tensor info {} ('{}')", index, info.name));
  const uint32_t n_dims = reader.Read<uint32_t>("dimension count");
  if (n_dims == 0 || n_dims > kMaxDims) {
    Fail("{}: has {} dimensions, expected 1 to {}", reader.Where(), n_dims, kMaxDims);
  }
  info.num_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t dim = reader.Read<uint64_t>("dimension");
    if (dim == 0) Fail("{}: dimension {} is 0", reader.Where(), d);
    if (__builtin_mul_overflow(info.num_elements, dim, &info.num_elements) ||
        info.num_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Fail("{}: element count overflows (dimension {} is {})", reader.Where(), d, dim);
    }
    info.dims.push_back(dim);
  }
  const uint32_t type_id = reader.Read<uint32_t>("type");
  const std::optional<TensorTypeTraits> traits = FindTensorTypeTraits(type_id);
  if (!traits) Fail("tensor '{}' has unknown type id {}", info.name, type_id);
  info.type = static_cast<TensorType>(type_id);
  if (info.dims[0] % traits->block_size != 0) {
    Fail("tensor '{}' of type {} has first dimension {}, not a multiple of the block size {}",
         info.name, traits->name, info.dims[0], traits->block_size);
  }
  // num_elements < 2^63 and type_size <= block_size * 8 in every format, but
  // check rather than rely on the table.
  if (__builtin_mul_overflow(info.num_elements / traits->block_size, uint64_t{traits->type_size},
                             &info.num_bytes)) {
    Fail("tensor '{}': byte size overflows", info.name);
  }
  info.offset = reader.Read<uint64_t>("offset");
  return info;
}

}  // namespace

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
      return "uint8";
    case ValueType::kInt8:
      return "int8";
    case ValueType::kUint16:
      return "uint16";
    case ValueType::kInt16:
      return "int16";
    case ValueType::kUint32:
      return "uint32";
    case ValueType::kInt32:
      return "int32";
    case ValueType::kFloat32:
      return "float32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kUint64:
      return "uint64";
    case ValueType::kInt64:
      return "int64";
    case ValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

bool Value::IsInteger() const { return IsIntegerType(type); }

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::Open(const std::string& path) {
  auto mapping = std::make_unique<MappedFile>(path);
  File file;
  try {
    file = Parse(mapping->data(), mapping->size());
  } catch (const Error& error) {
    Fail("{}: {}", path, error.what());
  }
  file.mapping_ = std::move(mapping);
  return file;
}

File File::Parse(const uint8_t* data, size_t size) {
  Reader reader(data, size);
  File file;
  file.version_ = ReadVersion(reader);
  const uint64_t tensor_count = reader.Read<uint64_t>("tensor count");
  const uint64_t kv_count = reader.Read<uint64_t>("metadata count");

  reader.CheckCount(kv_count, kMinKvBytes, "metadata count");
  ReserveBounded(file.metadata_, kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    reader.SetItem(fmt::format("metadata entry {}", i));
    std::string key = reader.ReadString("key");
    reader.SetItem(fmt::format("metadata key '{}'", key));
    const ValueType type = reader.ReadValueType("value type");
    Value value = reader.ReadValue(type, 0);
    file.metadata_.emplace_back(std::move(key), std::move(value));
  }
  CheckUnique(
      file.metadata_, [](const auto& entry) -> std::string_view { return entry.first; },
      "metadata key");
  file.alignment_ = ReadAlignment(file.Find(kAlignmentKey));

  reader.SetItem("header");
  reader.CheckCount(tensor_count, kMinTensorInfoBytes, "tensor count");
  ReserveBounded(file.tensors_, tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) file.tensors_.push_back(ReadTensorInfo(reader, i));
  CheckUnique(
      file.tensors_, [](const TensorInfo& tensor) -> std::string_view { return tensor.name; },
      "tensor name");

  // position <= size < 2^64 - alignment, so the rounding cannot overflow.
  const uint64_t data_offset =
      (reader.position() + file.alignment_ - 1) / file.alignment_ * file.alignment_;
  for (TensorInfo& tensor : file.tensors_) {
    if (tensor.offset % file.alignment_ != 0) {
      Fail("tensor '{}' offset {} is not a multiple of the alignment {}", tensor.name,
           tensor.offset, file.alignment_);
    }
    uint64_t end = 0;
    if (__builtin_add_overflow(data_offset, tensor.offset, &end) ||
        __builtin_add_overflow(end, tensor.num_bytes, &end) || end > size) {
      Fail(
          "tensor '{}' (offset {}, {} bytes) extends past the end of the file (data section at {}, "
          "file size {})",
          tensor.name, tensor.offset, tensor.num_bytes, data_offset, size);
    }
    tensor.data = data + data_offset + tensor.offset;
  }
  return file;
}

const Value* File::Find(std::string_view key) const {
  for (const auto& [name, value] : metadata_) {
    if (name == key) return &value;
  }
  return nullptr;
}

namespace {

const Value& Require(const Value* value, std::string_view key) {
  if (value == nullptr) Fail("metadata key '{}' is missing", key);
  return *value;
}

[[noreturn]] void WrongType(std::string_view key, const Value& value, std::string_view expected) {
  Fail("metadata key '{}' has type {}, expected {}", key, TypeDescription(value), expected);
}

uint64_t AsUint(std::string_view key, const Value& value) {
  if (!value.IsInteger()) WrongType(key, value, "an integer");
  if (value.integer < 0)
    Fail("metadata key '{}' is {}, expected a non-negative integer", key, value.integer);
  return static_cast<uint64_t>(value.integer);
}

double AsFloat(std::string_view key, const Value& value) {
  if (value.IsFloat()) return value.real;
  if (value.IsInteger()) return static_cast<double>(value.integer);
  WrongType(key, value, "a number");
}

const std::vector<Value>* ArrayOf(std::string_view key, const Value* value,
                                  bool (*accepts)(ValueType), std::string_view expected) {
  if (value == nullptr) return nullptr;
  if (value->type != ValueType::kArray || !accepts(value->element_type))
    WrongType(key, *value, expected);
  return &value->array;
}

}  // namespace

uint64_t File::GetUint(std::string_view key) const { return AsUint(key, Require(Find(key), key)); }

uint64_t File::GetUintOr(std::string_view key, uint64_t fallback) const {
  const Value* value = Find(key);
  return value == nullptr ? fallback : AsUint(key, *value);
}

double File::GetFloat(std::string_view key) const { return AsFloat(key, Require(Find(key), key)); }

double File::GetFloatOr(std::string_view key, double fallback) const {
  const Value* value = Find(key);
  return value == nullptr ? fallback : AsFloat(key, *value);
}

bool File::GetBoolOr(std::string_view key, bool fallback) const {
  const Value* value = Find(key);
  if (value == nullptr) return fallback;
  if (value->type != ValueType::kBool) WrongType(key, *value, "bool");
  return value->integer != 0;
}

std::string File::GetString(std::string_view key) const {
  const Value& value = Require(Find(key), key);
  if (value.type != ValueType::kString) WrongType(key, value, "string");
  return value.string;
}

std::string File::GetStringOr(std::string_view key, std::string_view fallback) const {
  return Find(key) == nullptr ? std::string(fallback) : GetString(key);
}

std::vector<std::string> File::GetStringArray(std::string_view key) const {
  const auto* elements = ArrayOf(
      key, Find(key), [](ValueType type) { return type == ValueType::kString; }, "array of string");
  std::vector<std::string> result;
  if (elements == nullptr) return result;
  result.reserve(elements->size());
  for (const Value& element : *elements) result.push_back(element.string);
  return result;
}

std::vector<int64_t> File::GetIntArray(std::string_view key) const {
  const auto* elements = ArrayOf(key, Find(key), IsIntegerType, "array of integers");
  std::vector<int64_t> result;
  if (elements == nullptr) return result;
  result.reserve(elements->size());
  for (const Value& element : *elements) result.push_back(element.integer);
  return result;
}

std::vector<float> File::GetFloatArray(std::string_view key) const {
  const auto* elements = ArrayOf(
      key, Find(key), [](ValueType type) { return IsFloatType(type) || IsIntegerType(type); },
      "array of numbers");
  std::vector<float> result;
  if (elements == nullptr) return result;
  result.reserve(elements->size());
  for (const Value& element : *elements) {
    result.push_back(static_cast<float>(element.IsFloat() ? element.real : element.integer));
  }
  return result;
}

const TensorInfo* File::FindTensor(std::string_view name) const {
  for (const TensorInfo& tensor : tensors_) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

void File::EvictFromMemory(const TensorInfo& tensor) const {
  if (mapping_ != nullptr) mapping_->Evict(tensor.data, tensor.num_bytes);
}

}  // namespace ri::gguf
