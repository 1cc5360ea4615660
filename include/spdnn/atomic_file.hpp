// A whole file written so that it appears complete or not at all: under a temporary name beside it, then
// renamed into place (the mechanism of every file spdnn writes; paths ending in `.gz` are compressed).
#pragma once

#include <filesystem>
#include <string_view>

namespace spdnn::io {

// Throws Error(io) naming the file when it cannot be written; an old file of that name then stands.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace spdnn::io
