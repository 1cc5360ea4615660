// Where generated inputs come from: MNIST when it can be found, else seeded synthetic digits.
#pragma once

#include <optional>
#include <string>

#include "spdnn/challenge/generate.hpp"

namespace spdnn::app {

// The MNIST training images: `option` if given (it must exist), else $SPDNN_MNIST, else
// mnist/train-images-idx3-ubyte[.gz] under $SPDNN_DATA_DIR or the data folder known at build time.
std::optional<std::string> find_mnist(const std::string& option);

struct InputImages {
  SourceImages images;
  std::string description;  // for reports: "MNIST (path)" or "synthetic digits, seed S"
};
InputImages input_images(const std::string& mnist_option, int64_t count, uint64_t seed);

}  // namespace spdnn::app
