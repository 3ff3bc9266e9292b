// The default model's header against a golden made by the `gguf` Python
// package (tools/reference/gguf_metadata.py), and the fuzzer's minimized
// corpus of malformed files replayed as regression tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "gguf/gguf_file.h"
#include "util/error.h"

namespace ri::gguf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModelPath =
    std::string(RETROINFER_MODEL_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
const std::string kGoldenDir = std::string(RETROINFER_GOLDEN_DIR) + "/gguf";

json Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) ADD_FAILURE() << "cannot read " << path;
  return json::parse(in);
}

// Compares one parsed element / scalar with its JSON form from GGUFReader.
void ExpectScalar(const Value& value, const json& expected, const std::string& where) {
  SCOPED_TRACE(where);
  switch (value.type) {
    case ValueType::kString:
      EXPECT_EQ(value.string, expected.get<std::string>());
      break;
    case ValueType::kBool:
      EXPECT_EQ(value.integer != 0, expected.get<bool>());
      break;
    case ValueType::kFloat32:
    case ValueType::kFloat64:
      EXPECT_EQ(value.real, expected.get<double>());
      break;
    case ValueType::kArray:
      ADD_FAILURE() << "nested arrays are not in the golden";
      break;
    default:
      EXPECT_EQ(value.integer, expected.get<int64_t>());
      break;
  }
}

TEST(GgufModel, MatchesGgufPythonReader) {
  if (!fs::exists(kModelPath)) GTEST_SKIP() << "model not found: " << kModelPath;
  const File file = File::Open(kModelPath);
  const json golden = Load(kGoldenDir + "/smollm2_135m_q4_1.json");

  EXPECT_EQ(file.version(), golden["version"].get<uint32_t>());
  EXPECT_EQ(file.alignment(), golden["alignment"].get<uint64_t>());

  const json& metadata = golden["metadata"];
  ASSERT_EQ(file.metadata().size(), metadata.size());
  for (size_t i = 0; i < metadata.size(); ++i) {
    const auto& [key, value] = file.metadata()[i];
    const json& expected = metadata[i];
    ASSERT_EQ(key, expected["key"].get<std::string>());
    EXPECT_EQ(ValueTypeName(value.type), expected["type"].get<std::string>()) << key;
    if (value.type != ValueType::kArray) {
      ExpectScalar(value, expected["value"], key);
      continue;
    }
    const size_t length = expected["length"].get<size_t>();
    ASSERT_EQ(value.array.size(), length) << key;
    if (length == 0) continue;
    EXPECT_EQ(ValueTypeName(value.element_type), expected["element_type"].get<std::string>())
        << key;
    const json& first = expected["first"];
    const json& last = expected["last"];
    for (size_t j = 0; j < first.size(); ++j)
      ExpectScalar(value.array[j], first[j], fmt::format("{}[{}]", key, j));
    for (size_t j = 0; j < last.size(); ++j) {
      const size_t index = length - last.size() + j;
      ExpectScalar(value.array[index], last[j], fmt::format("{}[{}]", key, index));
    }
  }

  const json& tensors = golden["tensors"];
  ASSERT_EQ(file.tensors().size(), tensors.size());
  const uint8_t* data_section = file.tensors()[0].data - file.tensors()[0].offset;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& tensor = file.tensors()[i];
    const json& expected = tensors[i];
    SCOPED_TRACE(tensor.name);
    EXPECT_EQ(tensor.name, expected["name"].get<std::string>());
    EXPECT_EQ(tensor.dims, expected["dims"].get<std::vector<uint64_t>>());
    EXPECT_EQ(static_cast<uint32_t>(tensor.type), expected["type_id"].get<uint32_t>());
    EXPECT_EQ(Traits(tensor.type).name, expected["type"].get<std::string>());
    EXPECT_EQ(tensor.offset, expected["offset"].get<uint64_t>());
    EXPECT_EQ(tensor.num_elements, expected["num_elements"].get<uint64_t>());
    EXPECT_EQ(tensor.num_bytes, expected["num_bytes"].get<uint64_t>());
    EXPECT_EQ(tensor.data, data_section + tensor.offset);
  }

  // Spot checks through the typed getters.
  EXPECT_EQ(file.GetString("general.architecture"), "llama");
  EXPECT_EQ(file.GetUint("llama.block_count"), 30u);
  EXPECT_EQ(file.GetStringArray("tokenizer.ggml.tokens").size(), 49152u);
  EXPECT_EQ(file.GetIntArray("tokenizer.ggml.token_type").size(), 49152u);
}

// Every file the fuzzer kept (tests/golden/gguf/corpus, mostly malformed)
// must either parse or fail with ri::Error; anything else fails the test.
TEST(GgufCorpus, EveryFileParsesOrFailsCleanly) {
  const fs::path corpus = kGoldenDir + "/corpus";
  if (!fs::exists(corpus)) GTEST_SKIP() << "no corpus at " << corpus;
  size_t parsed = 0;
  size_t rejected = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(corpus)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    try {
      const File file = File::Parse(bytes.data(), bytes.size());
      for (const TensorInfo& tensor : file.tensors()) {
        EXPECT_LE(tensor.data + tensor.num_bytes, bytes.data() + bytes.size()) << entry.path();
      }
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(parsed + rejected, 0u);
  std::cout << "corpus: " << parsed << " parsed, " << rejected << " rejected\n";
}

}  // namespace
}  // namespace ri::gguf
