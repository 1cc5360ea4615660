// Block-wise file access that reads and writes gzip transparently (zlib). Internal to src/io.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include <zlib.h>

namespace spdnn::io {

// Reads plain or gzip files (zlib detects which). Throws Error naming the file when it cannot be
// opened, or when gzip data is corrupt or truncated.
class InputFile {
 public:
  explicit InputFile(const std::filesystem::path& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Fills up to n bytes; returns the count, 0 at the end of the data.
  size_t read(char* dst, size_t n);
  // The rest of the data, decompressed (for formats read whole).
  std::string read_all();
  const std::string& name() const { return name_; }

 private:
  gzFile gz_ = nullptr;
  std::string name_;
};

// Writes a plain file, or a gzip file when the path ends in `.gz`, never half-written: the bytes go to a
// temporary file beside it (`<path>.partial-<pid>`), which close() renames into place, so an interrupted
// run leaves the old file or the new one; an OutputFile destroyed before close() removes its temporary
// file. close() reports write errors.
class OutputFile {
 public:
  explicit OutputFile(const std::filesystem::path& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const char* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  void close() { finish(), publish(); }
  // The two halves of close(), for writers that patch the file between them (a header written last):
  // finish() flushes and closes the temporary file, publish() renames it into place.
  void finish();
  void publish();
  const std::filesystem::path& temporary_path() const { return tmp_; }

 private:
  gzFile gz_ = nullptr;
  std::FILE* file_ = nullptr;
  std::string name_;
  std::filesystem::path path_, tmp_;
  bool published_ = false;
};

}  // namespace spdnn::io
