// Parses GGUF files built in memory by a small independent writer: every
// value type, nested arrays, both versions, alignment, and malformed files
// (each must give an ri::Error with a clear message, never a crash).
#include "gguf/gguf_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "util/error.h"

namespace ri::gguf {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kHuge = uint64_t{1} << 60;

// Little-endian byte sink.
struct Bytes {
  std::vector<uint8_t> data;

  template <typename T>
  Bytes& Put(T value) {
    static_assert(std::endian::native == std::endian::little);
    const auto* raw = reinterpret_cast<const uint8_t*>(&value);
    data.insert(data.end(), raw, raw + sizeof(T));
    return *this;
  }
  Bytes& PutString(std::string_view text) {
    Put<uint64_t>(text.size());
    data.insert(data.end(), text.begin(), text.end());
    return *this;
  }
  void PadTo(uint64_t alignment) {
    while (data.size() % alignment != 0) data.push_back(0);
  }
};

// Writes a value's payload (without its type tag), as the GGUF format says.
void PutValue(Bytes& out, const Value& value) {
  switch (value.type) {
    case ValueType::kUint8:
      out.Put<uint8_t>(value.integer);
      break;
    case ValueType::kInt8:
      out.Put<int8_t>(value.integer);
      break;
    case ValueType::kUint16:
      out.Put<uint16_t>(value.integer);
      break;
    case ValueType::kInt16:
      out.Put<int16_t>(value.integer);
      break;
    case ValueType::kUint32:
      out.Put<uint32_t>(value.integer);
      break;
    case ValueType::kInt32:
      out.Put<int32_t>(value.integer);
      break;
    case ValueType::kUint64:
      out.Put<uint64_t>(value.integer);
      break;
    case ValueType::kInt64:
      out.Put<int64_t>(value.integer);
      break;
    case ValueType::kFloat32:
      out.Put<float>(static_cast<float>(value.real));
      break;
    case ValueType::kFloat64:
      out.Put<double>(value.real);
      break;
    case ValueType::kBool:
      out.Put<uint8_t>(value.integer);
      break;
    case ValueType::kString:
      out.PutString(value.string);
      break;
    case ValueType::kArray:
      out.Put<uint32_t>(static_cast<uint32_t>(value.element_type));
      out.Put<uint64_t>(value.array.size());
      for (const Value& element : value.array) PutValue(out, element);
      break;
  }
}

Value Int(ValueType type, int64_t integer) {
  Value value;
  value.type = type;
  value.integer = integer;
  return value;
}
Value Real(ValueType type, double real) {
  Value value;
  value.type = type;
  value.real = real;
  return value;
}
Value Str(std::string text) {
  Value value;
  value.type = ValueType::kString;
  value.string = std::move(text);
  return value;
}
Value Array(ValueType element_type, std::vector<Value> elements) {
  Value value;
  value.type = ValueType::kArray;
  value.element_type = element_type;
  value.array = std::move(elements);
  return value;
}

// Canonical text of a value, so mismatches print readably.
std::string Describe(const Value& value) {
  switch (value.type) {
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      return fmt::format("{}:{}", ValueTypeName(value.type), value.real);
    case ValueType::kString:
      return fmt::format("string:'{}'", value.string);
    case ValueType::kArray: {
      std::string text = fmt::format("array<{}>[", ValueTypeName(value.element_type));
      for (const Value& element : value.array) text += Describe(element) + ",";
      return text + "]";
    }
    default:
      return fmt::format("{}:{}", ValueTypeName(value.type), value.integer);
  }
}

struct TestTensor {
  std::string name;
  std::vector<uint64_t> dims;
  uint32_t type_id;
  uint64_t offset;
};

// A GGUF file description; Build() serializes it. Fields can be set to
// invalid values to make malformed files.
struct TestFile {
  uint32_t version = 3;
  std::vector<std::pair<std::string, Value>> metadata;
  std::vector<TestTensor> tensors;
  uint64_t alignment = 32;  // padding used by Build(); set general.alignment to match
  uint64_t data_size = 0;   // bytes in the data section

  // Appends a tensor after the previous ones (aligned) and grows the data.
  void AddTensor(std::string name, std::vector<uint64_t> dims, TensorType type) {
    const TensorTypeTraits& traits = Traits(type);
    uint64_t elements = 1;
    for (uint64_t dim : dims) elements *= dim;
    const uint64_t offset = (data_size + alignment - 1) / alignment * alignment;
    tensors.push_back({std::move(name), std::move(dims), static_cast<uint32_t>(type), offset});
    data_size = offset + elements / traits.block_size * traits.type_size;
  }

  // Bytes up to the end of the tensor infos (before the padding).
  Bytes BuildHeader() const {
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(version);
    out.Put<uint64_t>(tensors.size()).Put<uint64_t>(metadata.size());
    for (const auto& [key, value] : metadata) {
      out.PutString(key).Put<uint32_t>(static_cast<uint32_t>(value.type));
      PutValue(out, value);
    }
    for (const TestTensor& tensor : tensors) {
      out.PutString(tensor.name).Put<uint32_t>(tensor.dims.size());
      for (uint64_t dim : tensor.dims) out.Put<uint64_t>(dim);
      out.Put<uint32_t>(tensor.type_id).Put<uint64_t>(tensor.offset);
    }
    return out;
  }

  std::vector<uint8_t> Build() const {
    Bytes out = BuildHeader();
    out.PadTo(alignment);
    // A position-dependent pattern, so data pointers can be checked.
    for (uint64_t i = 0; i < data_size; ++i) out.data.push_back(static_cast<uint8_t>(i * 7 + 1));
    return out.data;
  }
};

File ParseBytes(const std::vector<uint8_t>& bytes) {
  return File::Parse(bytes.data(), bytes.size());
}

// Parses and returns the ri::Error message (fails the test if none).
std::string ParseError(const std::vector<uint8_t>& bytes) {
  try {
    ParseBytes(bytes);
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "parse succeeded, expected an error";
  return "";
}

TestFile SmallModel() {
  TestFile file;
  file.metadata.emplace_back("general.architecture", Str("llama"));
  file.metadata.emplace_back("llama.block_count", Int(ValueType::kUint32, 2));
  file.metadata.emplace_back("tokenizer.ggml.tokens",
                             Array(ValueType::kString, {Str("a"), Str("bc")}));
  file.AddTensor("token_embd.weight", {32, 3}, TensorType::Q8_0);
  file.AddTensor("output_norm.weight", {5}, TensorType::F32);
  file.AddTensor("blk.0.attn_q.weight", {64, 2}, TensorType::Q4_1);
  return file;
}

TEST(GgufFile, EveryValueTypeRoundTrips) {
  const std::vector<Value> values = {
      Int(ValueType::kUint8, 255),
      Int(ValueType::kInt8, -128),
      Int(ValueType::kUint16, 65535),
      Int(ValueType::kInt16, -32768),
      Int(ValueType::kUint32, 4294967295),
      Int(ValueType::kInt32, std::numeric_limits<int32_t>::min()),
      Int(ValueType::kUint64, std::numeric_limits<int64_t>::max()),
      Int(ValueType::kInt64, std::numeric_limits<int64_t>::min()),
      Real(ValueType::kFloat32, 1e-5f),
      Real(ValueType::kFloat32, -std::numeric_limits<float>::infinity()),
      Real(ValueType::kFloat64, 3.141592653589793),
      Int(ValueType::kBool, 1),
      Int(ValueType::kBool, 0),
      Str(""),
      Str(std::string("nul\0inside \xc4\xa0utf8", 17)),
      Array(ValueType::kUint8, {}),
      Array(ValueType::kInt16, {Int(ValueType::kInt16, -1), Int(ValueType::kInt16, 7)}),
      Array(ValueType::kFloat64,
            {Real(ValueType::kFloat64, 0.5), Real(ValueType::kFloat64, -2.25)}),
      Array(ValueType::kBool, {Int(ValueType::kBool, 1), Int(ValueType::kBool, 0)}),
      Array(ValueType::kString, {Str("x"), Str(""), Str("yz")}),
      Array(ValueType::kArray,
            {Array(ValueType::kString, {Str("p"), Str("q")}), Array(ValueType::kInt64, {}),
             Array(ValueType::kArray, {Array(ValueType::kUint32, {Int(ValueType::kUint32, 9)})})}),
  };
  TestFile file;
  for (size_t i = 0; i < values.size(); ++i)
    file.metadata.emplace_back(fmt::format("key.{}", i), values[i]);
  const File parsed = ParseBytes(file.Build());
  ASSERT_EQ(parsed.metadata().size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(parsed.metadata()[i].first, fmt::format("key.{}", i));
    EXPECT_EQ(Describe(parsed.metadata()[i].second), Describe(values[i]));
  }
  EXPECT_TRUE(parsed.tensors().empty());
  EXPECT_EQ(parsed.alignment(), 32u);
}

TEST(GgufFile, Versions2And3ParseAlike) {
  for (uint32_t version : {2u, 3u}) {
    TestFile file = SmallModel();
    file.version = version;
    const File parsed = ParseBytes(file.Build());
    EXPECT_EQ(parsed.version(), version);
    EXPECT_EQ(parsed.metadata().size(), 3u);
    EXPECT_EQ(parsed.tensors().size(), 3u);
  }
}

TEST(GgufFile, TensorInfosAndDataPointers) {
  const TestFile file = SmallModel();
  const std::vector<uint8_t> bytes = file.Build();
  const File parsed = ParseBytes(bytes);
  const uint64_t data_offset = (file.BuildHeader().data.size() + 31) / 32 * 32;
  ASSERT_EQ(parsed.tensors().size(), 3u);
  const std::vector<uint64_t> expected_bytes = {3 * 34, 5 * 4, 4 * 20};
  for (size_t i = 0; i < 3; ++i) {
    const TensorInfo& tensor = parsed.tensors()[i];
    EXPECT_EQ(tensor.name, file.tensors[i].name);
    EXPECT_EQ(tensor.dims, file.tensors[i].dims);
    EXPECT_EQ(static_cast<uint32_t>(tensor.type), file.tensors[i].type_id);
    EXPECT_EQ(tensor.offset, file.tensors[i].offset);
    EXPECT_EQ(tensor.num_bytes, expected_bytes[i]);
    EXPECT_EQ(tensor.data, bytes.data() + data_offset + tensor.offset);
  }
  EXPECT_EQ(parsed.tensors()[0].num_elements, 96u);
  EXPECT_EQ(parsed.FindTensor("output_norm.weight"), &parsed.tensors()[1]);
  EXPECT_EQ(parsed.FindTensor("missing"), nullptr);
  // The last tensor ends exactly at the end of the file.
  EXPECT_EQ(parsed.tensors()[2].data + parsed.tensors()[2].num_bytes, bytes.data() + bytes.size());
}

TEST(GgufFile, CustomAlignment) {
  for (uint32_t alignment : {1u, 8u, 64u, 4096u}) {
    TestFile file;
    file.alignment = alignment;
    file.metadata.emplace_back("general.alignment", Int(ValueType::kUint32, alignment));
    file.AddTensor("a", {3}, TensorType::F32);
    file.AddTensor("b", {1}, TensorType::F16);
    file.AddTensor("c", {2}, TensorType::F32);
    const std::vector<uint8_t> bytes = file.Build();
    const File parsed = ParseBytes(bytes);
    EXPECT_EQ(parsed.alignment(), alignment);
    const uint64_t data_offset =
        (file.BuildHeader().data.size() + alignment - 1) / alignment * alignment;
    for (const TensorInfo& tensor : parsed.tensors()) {
      EXPECT_EQ(tensor.offset % alignment, 0u);
      EXPECT_EQ(tensor.data, bytes.data() + data_offset + tensor.offset) << alignment;
    }
  }
}

TEST(GgufFile, EmptyFileWithoutTensorsNeedsNoPadding) {
  TestFile file;
  const File parsed = ParseBytes(file.BuildHeader().data);
  EXPECT_TRUE(parsed.metadata().empty());
  EXPECT_TRUE(parsed.tensors().empty());
}

TEST(GgufFile, EveryTruncationIsAnError) {
  TestFile file = SmallModel();
  file.metadata.emplace_back(
      "nested",
      Array(ValueType::kArray, {Array(ValueType::kFloat32, {Real(ValueType::kFloat32, 1)})}));
  file.metadata.emplace_back("flag", Int(ValueType::kBool, 1));
  const std::vector<uint8_t> bytes = file.Build();
  ASSERT_NO_THROW(ParseBytes(bytes));
  for (size_t size = 0; size < bytes.size(); ++size) {
    // An exact-size copy, so reads past the end are caught by sanitizers.
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    EXPECT_THROW(ParseBytes(prefix), Error) << "prefix of " << size << " bytes";
  }
  EXPECT_THAT(ParseError({}),
              HasSubstr("truncated file: header magic needs 4 bytes but only 0 are left"));
}

TEST(GgufFile, HugeCountsFailFast) {
  {
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(3).Put<uint64_t>(0).Put<uint64_t>(kHuge);
    EXPECT_THAT(ParseError(out.data),
                HasSubstr("metadata count 1152921504606846976 needs at least"));
  }
  {
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(3).Put<uint64_t>(kHuge).Put<uint64_t>(0);
    EXPECT_THAT(ParseError(out.data), HasSubstr("tensor count 1152921504606846976 needs at least"));
  }
  {  // An array of 2^60 strings.
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(3).Put<uint64_t>(0).Put<uint64_t>(1);
    out.PutString("tokens").Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(kHuge).PutString("a");
    EXPECT_THAT(
        ParseError(out.data),
        HasSubstr(
            "metadata key 'tokens' array length 1152921504606846976 needs at least 8 bytes each"));
  }
  {  // A string length near 2^64 in a nested array element.
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(3).Put<uint64_t>(0).Put<uint64_t>(1);
    out.PutString("k").Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(2).PutString("ok");
    out.Put<uint64_t>(~uint64_t{0}).Put<uint64_t>(0);
    EXPECT_THAT(
        ParseError(out.data),
        HasSubstr(
            "metadata key 'k'[1] string length 18446744073709551615 exceeds the 8 bytes left"));
  }
  {  // A key length of 2^63.
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(3).Put<uint64_t>(0).Put<uint64_t>(1);
    out.Put<uint64_t>(uint64_t{1} << 63).Put<uint32_t>(4).Put<uint32_t>(1);
    EXPECT_THAT(
        ParseError(out.data),
        HasSubstr("metadata entry 0 key length 9223372036854775808 exceeds the 8 bytes left"));
  }
  {  // A tensor name length of 4e9.
    TestFile file = SmallModel();
    file.tensors.clear();
    Bytes head = file.BuildHeader();
    head.data[8] = 2;  // tensor count
    head.PutString("first").Put<uint32_t>(1).Put<uint64_t>(4).Put<uint32_t>(0).Put<uint64_t>(0);
    head.Put<uint64_t>(4000000000);
    head.data.resize(head.data.size() + 40);
    EXPECT_THAT(
        ParseError(head.data),
        HasSubstr(
            "truncated file: tensor info 1 name length 4000000000 exceeds the 40 bytes left"));
  }
}

TEST(GgufFile, BadMagicAndVersion) {
  std::vector<uint8_t> bytes = SmallModel().Build();
  bytes[0] = 'X';
  EXPECT_THAT(ParseError(bytes), HasSubstr("not a GGUF file"));
  for (uint32_t version : {0u, 1u, 4u, 0x03000000u}) {
    TestFile file = SmallModel();
    file.version = version;
    const std::string message = ParseError(file.Build());
    if (version == 1)
      EXPECT_THAT(message, HasSubstr("GGUF version 1 is not supported"));
    else if (version == 0x03000000)
      EXPECT_THAT(message, HasSubstr("big-endian"));
    else
      EXPECT_THAT(message, HasSubstr(fmt::format("unsupported GGUF version {}", version)));
  }
}

TEST(GgufFile, BadAlignment) {
  for (uint32_t alignment : {0u, 3u, 48u}) {
    TestFile file = SmallModel();
    file.metadata.emplace_back("general.alignment", Int(ValueType::kUint32, alignment));
    EXPECT_THAT(ParseError(file.Build()),
                HasSubstr(fmt::format("'general.alignment' is {}, expected a nonzero power of two",
                                      alignment)));
  }
  TestFile file = SmallModel();
  file.metadata.emplace_back("general.alignment", Int(ValueType::kUint64, 32));
  EXPECT_THAT(ParseError(file.Build()),
              HasSubstr("'general.alignment' has type uint64, expected uint32"));
}

TEST(GgufFile, BadTensorPlacement) {
  {
    TestFile file = SmallModel();
    file.tensors[1].offset += 4;
    EXPECT_THAT(
        ParseError(file.Build()),
        HasSubstr("tensor 'output_norm.weight' offset 132 is not a multiple of the alignment 32"));
  }
  {
    TestFile file = SmallModel();
    file.data_size -= 1;
    EXPECT_THAT(
        ParseError(file.Build()),
        HasSubstr("tensor 'blk.0.attn_q.weight' (offset 160, 80 bytes) extends past the end"));
  }
  {  // offset + size wraps around 2^64.
    TestFile file = SmallModel();
    file.tensors[0].offset = ~uint64_t{31};
    EXPECT_THAT(ParseError(file.Build()),
                HasSubstr("tensor 'token_embd.weight' (offset 18446744073709551584"));
  }
}

TEST(GgufFile, BadTensorShapesAndTypes) {
  const auto error_with = [](auto change) {
    TestFile file = SmallModel();
    change(file.tensors[1]);
    return ParseError(file.Build());
  };
  EXPECT_THAT(error_with([](TestTensor& t) {
                t.dims = {1, 1, 1, 1, 5};
              }),
              HasSubstr("tensor info 1 ('output_norm.weight'): has 5 dimensions, expected 1 to 4"));
  EXPECT_THAT(error_with([](TestTensor& t) { t.dims = {}; }), HasSubstr("has 0 dimensions"));
  EXPECT_THAT(error_with([](TestTensor& t) {
                t.dims = {5, 0};
              }),
              HasSubstr("tensor info 1 ('output_norm.weight'): dimension 1 is 0"));
  EXPECT_THAT(error_with([](TestTensor& t) {
                t.dims = {uint64_t{1} << 32, uint64_t{1} << 32};
              }),
              HasSubstr("element count overflows (dimension 1 is 4294967296)"));
  EXPECT_THAT(error_with([](TestTensor& t) {
                t.dims = {uint64_t{1} << 62, 2};
              }),
              HasSubstr("element count overflows"));
  EXPECT_THAT(error_with([](TestTensor& t) {
                t.dims = {uint64_t{1} << 62};
                t.type_id = static_cast<uint32_t>(TensorType::F64);
              }),
              HasSubstr("tensor 'output_norm.weight': byte size overflows"));
  EXPECT_THAT(error_with([](TestTensor& t) {
                t.dims = {48};
                t.type_id = static_cast<uint32_t>(TensorType::Q4_1);
              }),
              HasSubstr("tensor 'output_norm.weight' of type Q4_1 has first dimension 48, not a "
                        "multiple of the block size 32"));
  EXPECT_THAT(error_with([](TestTensor& t) { t.type_id = 4; }),
              HasSubstr("tensor 'output_norm.weight' has unknown type id 4"));
  EXPECT_THAT(error_with([](TestTensor& t) { t.type_id = 0xffffffff; }),
              HasSubstr("unknown type id 4294967295"));
}

TEST(GgufFile, Duplicates) {
  TestFile file = SmallModel();
  file.metadata.emplace_back("llama.block_count", Int(ValueType::kUint32, 3));
  EXPECT_THAT(ParseError(file.Build()), HasSubstr("duplicate metadata key 'llama.block_count'"));
  file = SmallModel();
  file.AddTensor("output_norm.weight", {4}, TensorType::F32);
  EXPECT_THAT(ParseError(file.Build()), HasSubstr("duplicate tensor name 'output_norm.weight'"));
}

TEST(GgufFile, BadValues) {
  const auto error_with = [](Value value) {
    TestFile file = SmallModel();
    file.metadata.emplace_back("bad", std::move(value));
    return ParseError(file.Build());
  };
  EXPECT_THAT(error_with(Int(ValueType::kBool, 2)),
              HasSubstr("metadata key 'bad': bool value is 2, expected 0 or 1"));
  Value too_large = Int(ValueType::kUint64, 0);
  too_large.integer = -1;  // written as 2^64 - 1
  EXPECT_THAT(error_with(Array(ValueType::kUint64, {Int(ValueType::kUint64, 1), too_large})),
              HasSubstr("metadata key 'bad'[1]: uint64 value 18446744073709551615 is too large"));
  Value unknown_type;
  unknown_type.type = static_cast<ValueType>(13);
  EXPECT_THAT(error_with(unknown_type), HasSubstr("metadata key 'bad': unknown value type 13"));
  EXPECT_THAT(error_with(Array(static_cast<ValueType>(99), {})),
              HasSubstr("metadata key 'bad': unknown array element type 99"));
}

Value Nested(int depth) {
  Value value = Array(ValueType::kInt32, {Int(ValueType::kInt32, 5)});
  for (int i = 1; i < depth; ++i) value = Array(ValueType::kArray, {value});
  return value;
}

TEST(GgufFile, NestingDepthIsBounded) {
  TestFile file;
  file.metadata.emplace_back("deep", Nested(8));
  const File parsed = ParseBytes(file.Build());
  EXPECT_EQ(Describe(parsed.metadata()[0].second), Describe(Nested(8)));
  file.metadata[0].second = Nested(9);
  EXPECT_THAT(
      ParseError(file.Build()),
      HasSubstr("metadata key 'deep'[0][0][0][0][0][0][0][0]: arrays nested deeper than 8 levels"));
  {  // A deep chain of array headers with no elements after them.
    Bytes out;
    out.Put<uint32_t>(0x46554747).Put<uint32_t>(3).Put<uint64_t>(0).Put<uint64_t>(1);
    out.PutString("chain").Put<uint32_t>(9);
    for (int i = 0; i < 100; ++i) out.Put<uint32_t>(9).Put<uint64_t>(1);
    EXPECT_THAT(ParseError(out.data), HasSubstr("arrays nested deeper than 8 levels"));
  }
}

TEST(GgufFile, TypedGetters) {
  TestFile file;
  file.metadata.emplace_back("u32", Int(ValueType::kUint32, 30));
  file.metadata.emplace_back("i8", Int(ValueType::kInt8, -3));
  file.metadata.emplace_back("f32", Real(ValueType::kFloat32, 0.5));
  file.metadata.emplace_back("flag", Int(ValueType::kBool, 1));
  file.metadata.emplace_back("name", Str("llama"));
  file.metadata.emplace_back("tokens", Array(ValueType::kString, {Str("a"), Str("b")}));
  file.metadata.emplace_back(
      "types", Array(ValueType::kInt32, {Int(ValueType::kInt32, -1), Int(ValueType::kInt32, 3)}));
  file.metadata.emplace_back("scores",
                             Array(ValueType::kFloat32, {Real(ValueType::kFloat32, 0.25)}));
  const File parsed = ParseBytes(file.Build());

  EXPECT_EQ(parsed.GetUint("u32"), 30u);
  EXPECT_EQ(parsed.GetUintOr("u32", 7), 30u);
  EXPECT_EQ(parsed.GetUintOr("absent", 7), 7u);
  EXPECT_DOUBLE_EQ(parsed.GetFloat("f32"), 0.5);
  EXPECT_DOUBLE_EQ(parsed.GetFloat("u32"), 30.0);
  EXPECT_DOUBLE_EQ(parsed.GetFloatOr("absent", 1e-5), 1e-5);
  EXPECT_TRUE(parsed.GetBoolOr("flag", false));
  EXPECT_TRUE(parsed.GetBoolOr("absent", true));
  EXPECT_EQ(parsed.GetString("name"), "llama");
  EXPECT_EQ(parsed.GetStringOr("absent", "gpt2"), "gpt2");
  EXPECT_EQ(parsed.GetStringArray("tokens"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parsed.GetIntArray("types"), (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(parsed.GetFloatArray("scores"), (std::vector<float>{0.25f}));
  EXPECT_EQ(parsed.GetFloatArray("types"), (std::vector<float>{-1.0f, 3.0f}));
  EXPECT_TRUE(parsed.GetStringArray("absent").empty());
  EXPECT_TRUE(parsed.GetIntArray("absent").empty());
  EXPECT_TRUE(parsed.GetFloatArray("absent").empty());
  EXPECT_EQ(parsed.Find("absent"), nullptr);
  ASSERT_NE(parsed.Find("name"), nullptr);
  EXPECT_EQ(parsed.Find("name")->string, "llama");

  const auto message = [](auto call) -> std::string {
    try {
      call();
    } catch (const Error& error) {
      return error.what();
    }
    return "no error";
  };
  EXPECT_EQ(message([&] { parsed.GetUint("name"); }),
            "metadata key 'name' has type string, expected an integer");
  EXPECT_EQ(message([&] { parsed.GetUint("i8"); }),
            "metadata key 'i8' is -3, expected a non-negative integer");
  EXPECT_EQ(message([&] { parsed.GetUint("absent"); }), "metadata key 'absent' is missing");
  EXPECT_EQ(message([&] { parsed.GetFloat("flag"); }),
            "metadata key 'flag' has type bool, expected a number");
  EXPECT_EQ(message([&] { parsed.GetBoolOr("u32", false); }),
            "metadata key 'u32' has type uint32, expected bool");
  EXPECT_EQ(message([&] { parsed.GetString("tokens"); }),
            "metadata key 'tokens' has type array of string, expected string");
  EXPECT_EQ(message([&] { parsed.GetStringOr("u32", ""); }),
            "metadata key 'u32' has type uint32, expected string");
  EXPECT_EQ(message([&] { parsed.GetStringArray("types"); }),
            "metadata key 'types' has type array of int32, expected array of string");
  EXPECT_EQ(message([&] { parsed.GetIntArray("scores"); }),
            "metadata key 'scores' has type array of float32, expected array of integers");
  EXPECT_EQ(message([&] { parsed.GetFloatArray("tokens"); }),
            "metadata key 'tokens' has type array of string, expected array of numbers");
  EXPECT_EQ(message([&] { parsed.GetIntArray("u32"); }),
            "metadata key 'u32' has type uint32, expected array of integers");
}

class TempFile {
 public:
  explicit TempFile(const std::vector<uint8_t>& bytes)
      : path_(
            (std::filesystem::temp_directory_path() / fmt::format("gguf_test_{}.gguf", ::getpid()))
                .string()) {
    std::ofstream(path_, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(GgufFile, OpenKeepsTheMappingAndNamesThePath) {
  const std::vector<uint8_t> bytes = SmallModel().Build();
  File moved = [&] {
    TempFile temp(bytes);
    File file = File::Open(temp.path());
    return file;  // the file is unlinked now, the mapping stays valid
  }();
  const TensorInfo& last = moved.tensors().back();
  ASSERT_EQ(last.num_bytes, 80u);
  EXPECT_EQ(std::memcmp(last.data, bytes.data() + bytes.size() - 80, 80), 0);
  EXPECT_EQ(moved.GetString("general.architecture"), "llama");

  std::vector<uint8_t> bad = bytes;
  bad.resize(bytes.size() - 1);
  TempFile temp(bad);
  try {
    File::Open(temp.path());
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr(temp.path() + ": tensor 'blk.0.attn_q.weight'"));
  }
  EXPECT_THROW(File::Open("/nonexistent/model.gguf"), Error);
}

}  // namespace
}  // namespace ri::gguf
