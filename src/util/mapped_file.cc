#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "util/error.h"

namespace ri {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open '{}': {}", path, std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    Fail("'{}' is not a regular file", path);
  }
  size_ = static_cast<size_t>(info.st_size);
  if (size_ > 0) {
    void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      Fail("cannot map '{}': {}", path, std::strerror(error));
    }
    data_ = static_cast<const uint8_t*>(mapping);
  }
  ::close(fd);
}

void MappedFile::Evict(const uint8_t* begin, size_t bytes) const {
  const auto from = reinterpret_cast<uintptr_t>(begin);
  const auto mapped = reinterpret_cast<uintptr_t>(data_);
  if (from < mapped || bytes > size_ || from - mapped > size_ - bytes) {
    Fail("evicting bytes outside the mapping of '{}'", path_);
  }
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (from + page - 1) / page * page;
  const uintptr_t end = (from + bytes) / page * page;
  // Advice only: if the kernel declines, the pages just stay.
  if (first < end) ::madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace ri
