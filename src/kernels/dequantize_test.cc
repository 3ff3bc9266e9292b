// DequantizeRow against the gguf Python package (goldens written by
// tools/reference/make_dequant_golden.py), compared bit for bit.
#include "kernels/dequantize.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/types.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace ri {

// Names the type in gtest messages.
void PrintTo(TensorType type, std::ostream* os) { *os << Traits(type).name; }

namespace {

const std::string kGoldenDir = std::string(RETROINFER_GOLDEN_DIR) + "/kernels";
const std::string kModelPath = std::string(RETROINFER_MODEL_DIR) + "/SmolLM2-135M-Instruct.Q4_1.gguf";

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint32_t> Bits(const float* values, size_t n) {
  std::vector<uint32_t> bits(n);
  std::memcpy(bits.data(), values, n * sizeof(float));
  return bits;
}

class DequantizeGoldenTest : public testing::TestWithParam<TensorType> {};

TEST_P(DequantizeGoldenTest, MatchesGgufPackageBitForBit) {
  const TensorTypeTraits& traits = Traits(GetParam());
  const std::vector<uint8_t> file = ReadFile(kGoldenDir + "/dequant_" + std::string(traits.name) + ".bin");
  const size_t record = traits.type_size + 4 * traits.block_size;
  ASSERT_EQ(file.size() % record, 0u);
  const size_t num_blocks = file.size() / record;
  ASSERT_GE(num_blocks, 40u);
  const size_t n = num_blocks * traits.block_size;
  std::vector<float> expected(n);
  std::memcpy(expected.data(), file.data() + num_blocks * traits.type_size, n * sizeof(float));

  // All blocks in one call, then each block alone (offsets inside a row).
  std::vector<float> actual(n);
  DequantizeRow(GetParam(), file.data(), actual.data(), static_cast<int64_t>(n));
  EXPECT_EQ(Bits(actual.data(), n), Bits(expected.data(), n));
  std::vector<float> one(traits.block_size);
  for (size_t b = 0; b < num_blocks; ++b) {
    DequantizeRow(GetParam(), file.data() + b * traits.type_size, one.data(), traits.block_size);
    ASSERT_EQ(Bits(one.data(), one.size()), Bits(expected.data() + b * traits.block_size, one.size()))
        << "block " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantizeGoldenTest,
                         testing::Values(TensorType::F32, TensorType::F16, TensorType::BF16,
                                         TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0,
                                         TensorType::Q5_1, TensorType::Q8_0, TensorType::Q4_K,
                                         TensorType::Q5_K, TensorType::Q6_K),
                         [](const testing::TestParamInfo<TensorType>& info) {
                           return std::string(Traits(info.param).name);
                         });

std::string Sha256Hex(const void* data, size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EXPECT_EQ(EVP_Digest(data, size, digest, &length, EVP_sha256(), nullptr), 1);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xF];
  }
  return hex;
}

// Every tensor of the default model dequantizes to exactly the gguf package's
// floats. Offsets and types come from the package's own reader.
TEST(DequantizeModelTest, EveryTensorMatchesGgufPackageHash) {
  if (!std::filesystem::exists(kModelPath)) GTEST_SKIP() << kModelPath << " not present";
  const MappedFile model(kModelPath);
  std::ifstream listing(kGoldenDir + "/model_tensors.txt");
  ASSERT_TRUE(listing);
  std::string line;
  int checked = 0;
  std::vector<float> values;
  while (std::getline(listing, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, dims, expected_hash;
    uint32_t type_id = 0;
    uint64_t offset = 0, num_elements = 0;
    ASSERT_TRUE(fields >> name >> type_id >> offset >> num_elements >> dims >> expected_hash) << line;
    const auto traits = FindTensorTypeTraits(type_id);
    ASSERT_TRUE(traits.has_value()) << name;
    const uint64_t bytes = num_elements / traits->block_size * traits->type_size;
    ASSERT_LE(offset + bytes, model.size()) << name;
    values.resize(num_elements);
    DequantizeRow(static_cast<TensorType>(type_id), model.data() + offset, values.data(),
                  static_cast<int64_t>(num_elements));
    EXPECT_EQ(Sha256Hex(values.data(), num_elements * sizeof(float)), expected_hash)
        << name << " (" << traits->name << ", dims " << dims << ")";
    ++checked;
  }
  EXPECT_EQ(checked, 272);
}

TEST(DequantizeTest, RejectsUnsupportedTypesAndPartialBlocks) {
  std::vector<uint8_t> bytes(1024);
  std::vector<float> out(512);
  EXPECT_THROW(DequantizeRow(TensorType::Q2_K, bytes.data(), out.data(), 256), Error);
  EXPECT_THROW(DequantizeRow(TensorType::I32, bytes.data(), out.data(), 4), Error);
  EXPECT_THROW(DequantizeRow(TensorType::Q4_0, bytes.data(), out.data(), 33), Error);
  EXPECT_THROW(DequantizeRow(TensorType::Q4_K, bytes.data(), out.data(), 32), Error);
  EXPECT_THROW(DequantizeRow(TensorType::F32, bytes.data(), out.data(), -1), Error);
  EXPECT_NO_THROW(DequantizeRow(TensorType::Q4_0, bytes.data(), out.data(), 0));
}

}  // namespace
}  // namespace ri
