// A read-only memory map of a whole file (model weights are used in place).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ri {

class MappedFile {
 public:
  // Throws ri::Error naming the path and the OS error when it cannot be mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Drops the pages wholly inside [begin, begin + bytes), which must lie in
  // the mapping, from the process's memory: a private read-only mapping of
  // a file reads them from the file again if they are touched later. For
  // bytes copied elsewhere (weight strips) that are not read again.
  void Evict(const uint8_t* begin, size_t bytes) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ri
