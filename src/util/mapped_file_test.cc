#include "util/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "util/error.h"

namespace ri {
namespace {

// Resident kB of the mapping that starts at `start`, from /proc/self/smaps.
long ResidentKb(const void* start) {
  std::ifstream smaps("/proc/self/smaps");
  std::ostringstream head;
  head << std::hex << reinterpret_cast<uintptr_t>(start) << "-";
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.rfind(head.str(), 0) == 0) inside = true;
    if (inside && line.rfind("Rss:", 0) == 0) return std::stol(line.substr(4));
  }
  return -1;
}

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("mapped_file_test_" + std::to_string(::getpid()) + ".bin"))
                .string();
    bytes_.resize(8 << 20);
    for (size_t i = 0; i < bytes_.size(); ++i) bytes_[i] = static_cast<char>(i * 131 + i / 4096);
    std::ofstream(path_, std::ios::binary).write(bytes_.data(), bytes_.size());
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::string path_;
  std::vector<char> bytes_;
};

// Evicted pages leave the process's memory and read back the file's bytes.
TEST_F(MappedFileTest, EvictedPagesLeaveMemoryAndReadTheSame) {
  const MappedFile file(path_);
  ASSERT_EQ(file.size(), bytes_.size());
  long sum = 0;
  for (size_t i = 0; i < file.size(); i += 512) sum += file.data()[i];
  EXPECT_NE(sum, 0);
  const long before = ResidentKb(file.data());
  ASSERT_GE(before, 8 * 1024 - 64);
  file.Evict(file.data() + 1000, 6 << 20);  // not page-aligned at either end
  const long after = ResidentKb(file.data());
  EXPECT_LE(after, before - 6 * 1024 + 8) << before;
  EXPECT_EQ(0, std::memcmp(file.data(), bytes_.data(), bytes_.size()));
}

TEST_F(MappedFileTest, EvictingOutsideTheMappingThrows) {
  const MappedFile file(path_);
  EXPECT_THROW(file.Evict(file.data() + 1, file.size()), Error);
  EXPECT_THROW(file.Evict(file.data() - 4096, 4096), Error);
}

}  // namespace
}  // namespace ri
