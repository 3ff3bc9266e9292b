// Whole-file reads and writes of the evaluations' inputs and outputs.
#pragma once

#include <string>
#include <string_view>

namespace ri::eval {

// Throws ri::Error naming the path when the file cannot be read.
std::string ReadTextFile(const std::string& path);
// Replaces the file's contents; throws ri::Error naming the path on failure.
void WriteTextFile(const std::string& path, std::string_view text);

}  // namespace ri::eval
