// MNIST lookup and the synthetic fallback.
#include "input_images.hpp"

#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>

#include "spdnn/error.hpp"
#include "spdnn/challenge/io.hpp"

namespace spdnn::app {

std::optional<std::string> find_mnist(const std::string& option) {
  namespace fs = std::filesystem;
  if (!option.empty()) {
    if (!fs::exists(option)) throw Error(Errc::io, fmt::format("{}: no such file (--mnist)", option));
    return option;
  }
  if (const char* env = std::getenv("SPDNN_MNIST"); env != nullptr && *env != '\0') {
    if (!fs::exists(env)) throw Error(Errc::io, fmt::format("{}: no such file ($SPDNN_MNIST)", env));
    return std::string(env);
  }
  std::vector<std::string> roots;
  if (const char* env = std::getenv("SPDNN_DATA_DIR"); env != nullptr && *env != '\0') roots.emplace_back(env);
  if (std::string built = SPDNN_DEFAULT_DATA_DIR; !built.empty()) roots.push_back(built);
  for (const auto& root : roots)
    if (auto f = io::find_file(fs::path(root) / "mnist" / "train-images-idx3-ubyte")) return f->string();
  return std::nullopt;
}

InputImages input_images(const std::string& mnist_option, int64_t count, uint64_t seed) {
  InputImages in;
  if (auto path = find_mnist(mnist_option)) {
    io::MnistImages m = io::read_mnist_images(*path);
    in.images = {m.count, m.rows, m.cols, std::move(m.pixels)};
    in.description = fmt::format("MNIST ({})", *path);
  } else {
    in.images = synthetic_digits(count, seed);
    in.description = fmt::format("synthetic digits, seed {} (no MNIST found: see --mnist)", seed);
  }
  return in;
}

}  // namespace spdnn::app
