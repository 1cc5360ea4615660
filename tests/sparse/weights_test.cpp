// Pruned DL weights: DLMC .smtx and NumPy .npy loaders (real files when present), bad files, and the
// float64 sparse-linear reference.
#include <gtest/gtest.h>

#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <sstream>

#include "spdnn/error.hpp"
#include "spdnn/sparse/weights.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

void write_bytes(const std::filesystem::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string npy_bytes(const std::string& descr, const std::string& shape, const std::vector<float>& data) {
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  header.resize((header.size() + 11 + 63) / 64 * 64 - 11, ' ');
  header += '\n';
  std::string b = "\x93NUMPY";
  b += '\x01', b += '\x00';
  b += static_cast<char>(header.size() & 0xff), b += static_cast<char>(header.size() >> 8);
  b += header;
  b.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  return b;
}

}  // namespace

TEST(Smtx, ReadsPatternAndGivesSeededFp16ExactValues) {
  test::TempDir dir;
  write_bytes(dir / "m.smtx", "2, 5, 3\n0 2 3\n4 1 0\n");
  CsrMatrix m = io::read_smtx(dir / "m.smtx", 7);
  EXPECT_EQ(m.row_ptr, (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(m.col_idx, (std::vector<int32_t>{1, 4, 0}));  // sorted within the row
  for (float v : m.values) {
    EXPECT_GE(std::abs(v), 0.25f);
    EXPECT_LT(std::abs(v), 1.0f);
    EXPECT_EQ(v * 1024, std::round(v * 1024));  // k / 1024: exact in fp16
  }
  EXPECT_EQ(io::read_smtx(dir / "m.smtx", 7), m);
  EXPECT_NE(io::read_smtx(dir / "m.smtx", 8).values, m.values);
}

TEST(Smtx, BadFilesNameTheLine) {
  test::TempDir dir;
  write_bytes(dir / "a.smtx", "2, 5, 3\n0 2\n4 1 0\n");
  EXPECT_NE(error_of([&] { io::read_smtx(dir / "a.smtx"); }).find("a.smtx:2: 2 row offsets, expected rows + 1 = 3"), std::string::npos);
  write_bytes(dir / "b.smtx", "2, 5, 3\n0 2 3\n4 9 0\n");
  EXPECT_NE(error_of([&] { io::read_smtx(dir / "b.smtx"); }).find("b.smtx:3: column index 9 out of range [0, 5)"), std::string::npos);
  write_bytes(dir / "c.smtx", "2, 5, 3\n0 2 3\n4 x 0\n");
  EXPECT_NE(error_of([&] { io::read_smtx(dir / "c.smtx"); }).find("c.smtx:3: 'x' is not a non-negative integer"), std::string::npos);
}

TEST(Npy, ReadsFloat32AndRejectsOtherFiles) {
  test::TempDir dir;
  write_bytes(dir / "w.npy", npy_bytes("<f4", "(2, 3)", {1, 0, 2, 0, 0, -3}));
  io::NpyArray a = io::read_npy(dir / "w.npy");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  CsrMatrix w = io::npy_to_csr(a, "w");
  EXPECT_EQ(w.col_idx, (std::vector<int32_t>{0, 2, 2}));
  EXPECT_EQ(w.values, (std::vector<float>{1, 2, -3}));
  write_bytes(dir / "d.npy", npy_bytes("<f8", "(2,)", {1, 2, 3, 4}));
  EXPECT_NE(error_of([&] { io::read_npy(dir / "d.npy"); }).find("dtype <f8 is not supported"), std::string::npos);
  write_bytes(dir / "t.npy", npy_bytes("<f4", "(2, 3)", {1, 2}));
  EXPECT_NE(error_of([&] { io::read_npy(dir / "t.npy"); }).find("8 data bytes, the shape needs 24"), std::string::npos);
  write_bytes(dir / "x.npy", "hello world, not numpy");
  EXPECT_NE(error_of([&] { io::read_npy(dir / "x.npy"); }).find("wrong magic"), std::string::npos);
}

// Found by fuzzing: a shape whose product overflows, or a dimension past 64 bits, is refused before
// anything is sized from it; an empty array reads as empty.
TEST(Npy, ShapesTheDataCannotHoldAreErrors) {
  test::TempDir dir;
  auto npy = [&](const std::string& shape, const std::string& data) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
    header.resize(117, ' ');
    header += '\n';
    std::ofstream(dir / "a.npy", std::ios::binary) << std::string("\x93NUMPY\x01\x00", 8) << char(header.size()) << char(0)
                                                  << header << data;
    return dir / "a.npy";
  };
  EXPECT_NE(error_of([&] { io::read_npy(npy("(4611686018427387904, 8)", "")); }).find("the shape needs more"), std::string::npos);
  EXPECT_NE(error_of([&] { io::read_npy(npy("(99999999999999999999999,)", "")); }).find("is too large"), std::string::npos);
  EXPECT_TRUE(io::read_npy(npy("(0, 3)", "")).data.empty());
}

TEST(DlmcData, ResNet50OneByOneLayersMatchTheCatalogue) {
  SPDNN_REQUIRE_DATA(csv, "dlmc/dlmc.csv");
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  int checked = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string cell; std::getline(ss, cell, ',');) f.push_back(cell);
    if (f.size() < 7 || f[2].find("rn50/magnitude_pruning/0.9/bottleneck_") == std::string::npos) continue;
    auto path = *test::data_dir() / (f[2] + ".gz");
    if (!std::filesystem::exists(path)) continue;
    CsrMatrix m = io::read_smtx(path);
    EXPECT_EQ(m.rows, std::stoll(f[4])) << f[2];
    EXPECT_EQ(m.cols, std::stoll(f[5])) << f[2];
    EXPECT_EQ(m.nnz(), static_cast<int64_t>(std::stod(f[6]))) << f[2];
    ++checked;
  }
  EXPECT_GE(checked, 36);  // the 1x1 (and 3x3) bottleneck layers at 90% sparsity
}

TEST(SparsertData, MobileNetWeightsArePrunedMatricesWithBiases) {
  SPDNN_REQUIRE_DATA(dir, "sparsert/mobilenet");
  int checked = 0;
  for (int k = 0; k < 14; ++k) {
    auto w = dir / fmt::format("contraction_1x1_{}.npy.gz", k), b = dir / fmt::format("contraction_1x1_{}_bias.npy.gz", k);
    if (!std::filesystem::exists(w)) continue;  // layer 12 is missing upstream
    io::NpyArray a = io::read_npy(w);
    CsrMatrix m = io::npy_to_csr(a, w.string());
    const double sparsity = 1.0 - static_cast<double>(m.nnz()) / static_cast<double>(m.rows * m.cols);
    EXPECT_GT(sparsity, 0.5) << w;
    EXPECT_LT(sparsity, 0.99) << w;
    io::NpyArray bias = io::read_npy(b);
    EXPECT_EQ(bias.shape, (std::vector<int64_t>{m.rows})) << b;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(SparseLinearReference, HandComputed) {
  // W = [[1, 0, 2], [0, -1, 0]], X = [[1, 2], [3, 4], [5, 6]] (3 x 2), bias = [0.5, 1].
  CsrMatrix w = csr_from_triplets(2, 3, {{0, 0, 1.f}, {0, 2, 2.f}, {1, 1, -1.f}}, "w");
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(sparse_linear_reference(w, x, 2, {0.5f, 1.f}, false), (std::vector<double>{11.5, 14.5, -2, -3}));
  EXPECT_EQ(sparse_linear_reference(w, x, 2, {0.5f, 1.f}, true), (std::vector<double>{11.5, 14.5, 0, 0}));
  EXPECT_THROW(sparse_linear_reference(w, x, 3, {}, false), Error);
}

TEST(SparseLinearReference, RelativeErrorFailsOnNaN) {
  EXPECT_DOUBLE_EQ(max_relative_error({1.0f, -2.5f}, {1.0, -2.0}), 0.25);  // max diff 0.5 / max |ref| 2
  EXPECT_DOUBLE_EQ(max_relative_error({0.5f, 0.0f}, {0.0, 0.0}), 0.5);    // all-zero reference: absolute
  EXPECT_EQ(max_relative_error({}, {}), 0.0);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(max_relative_error({1.0f, nan}, {1.0, 1.0}), std::numeric_limits<double>::infinity());
  EXPECT_EQ(max_relative_error({inf, 1.0f}, {1.0, 1.0}), std::numeric_limits<double>::infinity());
  EXPECT_THROW(max_relative_error({1.0f}, {1.0, 2.0}), Error);
}

}  // namespace spdnn
