// Helpers of the CLI tests: running the spdnn binary, a small valid problem on disk, and the check that
// an error is one line with a non-zero exit code.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "support/test_support.hpp"

namespace spdnn::test {

inline Outcome spdnn_cli(const std::string& args) { return test::shell(std::string(SPDNN_CLI_PATH) + " " + args); }

inline void write_text(const std::filesystem::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// A small valid problem in the official layout: DIR/neuron16/n16-l{1,2}.tsv, DIR/sparse-images-16.tsv.
struct SmallProblem {
  test::TempDir dir;
  std::filesystem::path weights = dir / "neuron16";
  std::filesystem::path images = dir / "sparse-images-16.tsv";
  SmallProblem() {
    std::filesystem::create_directories(weights);
    Network net = random_network({.neurons = 16, .layers = 2, .per_row = 4, .value = 0.25f, .seed = 1});
    for (int l = 0; l < 2; ++l) io::write_layer_tsv(weights / fmt::format("n16-l{}.tsv", l + 1), net.layers[l]);
    io::write_images_tsv(images, random_features(20, 16, 0.5, 2));
  }
  std::string run_args() const {
    return fmt::format("run -q --weights {} --inputs {} --bias -0.3", weights.string(), images.string());
  }
};

inline void expect_one_line_error(const Outcome& o, const std::string& part) {
  EXPECT_EQ(o.exit_code, 2) << o.output;  // bad input, whatever the kind: 2
  EXPECT_NE(o.output.find(part), std::string::npos) << "output: " << o.output << "\nexpected: " << part;
  EXPECT_EQ(std::count(o.output.begin(), o.output.end(), '\n'), 1) << o.output;
}

}  // namespace spdnn::test
