// Project Gutenberg plain-text files carry a licence header and footer around
// the work itself; PG-19-style evaluations score only the work.
#pragma once

#include <string>
#include <string_view>

namespace ri::eval {

// The text between the "*** START OF ..." line and the "*** END OF ..." line
// (either also written "***START OF"), with a UTF-8 byte order mark removed,
// CRLF and CR line ends turned into LF, and surrounding blank space trimmed.
// A text with neither marker is returned likewise normalized, whole (it is
// not a Gutenberg file). Throws ri::Error when only one marker is present or
// the end marker comes before the start marker.
std::string StripGutenberg(std::string_view text);

}  // namespace ri::eval
