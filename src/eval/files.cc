#include "eval/files.h"

#include <fstream>
#include <sstream>

#include "util/error.h"

namespace ri::eval {

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("cannot read '{}'", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) Fail("error while reading '{}'", path);
  return text.str();
}

void WriteTextFile(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) Fail("cannot write '{}'", path);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) Fail("error while writing '{}'", path);
}

}  // namespace ri::eval
