// Text formats: round trips (plain and gzip), and the error messages for bad files.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fstream>
#include <zlib.h>

#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "spdnn/matrix_io.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

void expect_message(const Error& e, const std::string& part) {
  EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << "message: " << e.what() << "\nexpected: " << part;
}

}  // namespace

TEST(LayerTsv, RoundTripPlainAndGzip) {
  test::TempDir dir;
  Network net = random_network({.neurons = 256, .layers = 2, .per_row = 32, .random_values = true, .seed = 3});
  for (const char* name : {"l.tsv", "l.tsv.gz"}) {
    io::write_layer_tsv(dir / name, net.layers[1]);
    EXPECT_EQ(io::read_layer_tsv(dir / name, 256), net.layers[1]) << name;
  }
}

TEST(LayerTsv, WritesTheOfficialLayout) {
  test::TempDir dir;
  CsrMatrix w = csr_from_triplets(3, 3, {{2, 0, 0.0625f}, {0, 1, 0.0625f}, {0, 0, 0.0625f}}, "w");
  io::write_layer_tsv(dir / "l.tsv", w);
  std::ifstream in(dir / "l.tsv");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "1\t1\t6.250000e-02\n3\t1\t6.250000e-02\n1\t2\t6.250000e-02\n");
}

TEST(LayerTsv, AcceptsSpacesCrlfAndNoFinalNewline) {
  test::TempDir dir;
  write_text(dir / "l.tsv", "1 2 0.5\r\n2\t1\t+1e-1");
  CsrMatrix w = io::read_layer_tsv(dir / "l.tsv", 2);
  EXPECT_EQ(w.col_idx, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(w.values, (std::vector<float>{0.5f, 0.1f}));
}

struct BadLine {
  std::string text;
  Errc code;
  std::string message;
};

class LayerTsvErrors : public testing::TestWithParam<BadLine> {};

TEST_P(LayerTsvErrors, NameFileLineAndProblem) {
  test::TempDir dir;
  auto path = dir / "bad.tsv";
  write_text(path, "1\t1\t0.0625\n2\t2\t0.0625\n" + GetParam().text + "\n");
  Error e = test::error_from([&] { io::read_layer_tsv(path, 4); });
  EXPECT_EQ(e.code(), GetParam().code);
  expect_message(e, path.string() + ":3: " + GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LayerTsvErrors,
    testing::Values(BadLine{"1\t2", Errc::format, "expected 3 fields, found 2"},
                    BadLine{"1\t2\t3\t4", Errc::format, "expected 3 fields, found more"},
                    BadLine{"1\tx\t0.5", Errc::format, "field 2: 'x' is not a non-negative integer"},
                    BadLine{"1\t2\tabc", Errc::format, "field 3: 'abc' is not a number"},
                    BadLine{"-1\t2\t0.5", Errc::format, "field 1: '-1' is not a non-negative integer"},
                    BadLine{"0\t2\t0.5", Errc::range, "row index 0 out of range [1, 4]"},
                    BadLine{"1\t5\t0.5", Errc::range, "column index 5 out of range [1, 4]"}));

TEST(LayerTsv, LineNumbersAreRightDeepInLargeFiles) {
  // Over a megabyte, so the file is cut into pieces parsed by several threads.
  test::TempDir dir;
  std::string text;
  const int bad_line = 150001;
  for (int i = 1; i < bad_line; ++i) text += fmt::format("{}\t{}\t6.250000e-02\n", i % 1000 + 1, i / 1000 + 1);
  text += "1\t1\toops\n1\t2\t0.5\n";
  write_text(dir / "big.tsv", text);
  Error e = test::error_from([&] { io::read_layer_tsv(dir / "big.tsv", 1000); });
  expect_message(e, fmt::format("big.tsv:{}: field 3", bad_line));
}

TEST(LayerTsv, DuplicateEntryIsAnError) {
  test::TempDir dir;
  write_text(dir / "d.tsv", "1\t1\t0.5\n1\t1\t0.5\n");
  expect_message(test::error_from([&] { io::read_layer_tsv(dir / "d.tsv", 2); }), "duplicate entry (1, 1)");
}

TEST(Gzip, TruncatedAndCorruptFilesAreErrors) {
  test::TempDir dir;
  Network net = random_network({.neurons = 512, .layers = 1, .per_row = 32, .random_values = true, .seed = 4});
  io::write_layer_tsv(dir / "l.tsv.gz", net.layers[0]);
  std::ifstream in(dir / "l.tsv.gz", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  write_text(dir / "cut.tsv.gz", bytes.substr(0, bytes.size() / 2));
  expect_message(test::error_from([&] { io::read_layer_tsv(dir / "cut.tsv.gz", 512); }), "truncated gzip");
  std::string bad = bytes;
  for (size_t i = bad.size() / 3; i < bad.size() / 3 + 64; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  write_text(dir / "bad.tsv.gz", bad);
  Error e = test::error_from([&] { io::read_layer_tsv(dir / "bad.tsv.gz", 512); });
  expect_message(e, "bad.tsv.gz");
  expect_message(e, "gzip");
}

TEST(Files, MissingFileAndFolderAreErrors) {
  expect_message(test::error_from([] { io::read_layer_tsv("/nonexistent/x.tsv", 4); }), "/nonexistent/x.tsv: no such file");
  test::TempDir dir;
  expect_message(test::error_from([&] { io::read_images_tsv(dir.path(), 4); }), "is a directory");
}

TEST(ImagesTsv, RoundTripAnyOrderAndCount) {
  test::TempDir dir;
  write_text(dir / "img.tsv", "3\t2\t1\n1\t4\t1\n1\t1\t1\n");
  Features x = io::read_images_tsv(dir / "img.tsv", 4);
  EXPECT_EQ(x.count(), 3);
  EXPECT_EQ(x.matrix.row_ptr, (std::vector<int64_t>{0, 2, 2, 3}));
  EXPECT_EQ(x.matrix.col_idx, (std::vector<int32_t>{0, 3, 1}));
  io::write_images_tsv(dir / "img2.tsv.gz", x);
  EXPECT_EQ(io::read_images_tsv(dir / "img2.tsv.gz", 4).matrix, x.matrix);
  expect_message(test::error_from([&] { io::read_images_tsv(dir / "img.tsv", 3); }), "img.tsv:2: neuron index 4 out of range [1, 3]");
  // Found by fuzzing: one huge image id sized the inputs at 2^31 rows (16 GB of offsets).
  std::ofstream(dir / "huge.tsv") << "1\t1\t1\n2000000000\t2\t1\n";
  expect_message(test::error_from([&] { io::read_images_tsv(dir / "huge.tsv", 4); }),
                 "huge.tsv:2: image index 2000000000 out of range [1, 67108864]");
}

TEST(Categories, RoundTripAndErrors) {
  test::TempDir dir;
  io::write_categories(dir / "c.tsv", {3, 17, 60000});
  EXPECT_EQ(io::read_categories(dir / "c.tsv"), (std::vector<int64_t>{3, 17, 60000}));
  write_text(dir / "bad.tsv", "1\n2\t3\n");
  expect_message(test::error_from([&] { io::read_categories(dir / "bad.tsv"); }), "bad.tsv:2: expected 1 field, found more");
  write_text(dir / "zero.tsv", "0\n");
  expect_message(test::error_from([&] { io::read_categories(dir / "zero.tsv"); }), "zero.tsv:1: category index 0 out of range");
}

TEST(MatrixMarket, RoundTripRealAndPattern) {
  test::TempDir dir;
  Network net = random_network({.neurons = 100, .layers = 1, .per_row = 5, .random_values = true, .seed = 5});
  io::write_matrix_market(dir / "m.mtx", net.layers[0]);
  EXPECT_EQ(io::read_matrix_market(dir / "m.mtx"), net.layers[0]);
  io::write_matrix_market(dir / "p.mtx.gz", net.layers[0], /*pattern=*/true);
  CsrMatrix p = io::read_matrix_market(dir / "p.mtx.gz", 0.0625f);
  EXPECT_EQ(p.col_idx, net.layers[0].col_idx);
  for (float v : p.values) ASSERT_EQ(v, 0.0625f);
}

TEST(MatrixMarket, HeaderAndCountErrors) {
  test::TempDir dir;
  write_text(dir / "a.mtx", "%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n");
  expect_message(test::error_from([&] { io::read_matrix_market(dir / "a.mtx"); }), "a.mtx:1: not a MatrixMarket coordinate");
  write_text(dir / "b.mtx", "%%MatrixMarket matrix coordinate real general\n% c\n2 2 3\n1 1 1.0\n2 2 2.0\n");
  expect_message(test::error_from([&] { io::read_matrix_market(dir / "b.mtx"); }), "declares 3 entries, file has 2");
  write_text(dir / "c.mtx", "%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1.0\n");
  expect_message(test::error_from([&] { io::read_matrix_market(dir / "c.mtx"); }), "c.mtx:3: row index 3 out of range [1, 2]");
  std::ofstream(dir / "tall.mtx") << "%%MatrixMarket matrix coordinate real general\n2000000000 2 1\n1 1 1\n";
  expect_message(test::error_from([&] { io::read_matrix_market(dir / "tall.mtx"); }), "2000000000 rows: spdnn reads at most");
}

TEST(OfficialLayout, InfersNAndLayersAndRejectsMixedN) {
  test::TempDir dir;
  Network net = random_network({.neurons = 16, .layers = 3, .per_row = 4, .seed = 6});
  for (int l = 0; l < 3; ++l) io::write_layer_tsv(dir / fmt::format("n16-l{}.tsv", l + 1), net.layers[l]);
  EXPECT_EQ(io::infer_weights_neurons(dir.path()), 16);
  EXPECT_EQ(io::count_layer_files(dir.path(), 16), 3);
  Network back = io::load_network(dir.path(), 0, 0, -0.3f);
  EXPECT_EQ(back.num_layers(), 3);
  EXPECT_EQ(back.layers[2], net.layers[2]);
  expect_message(test::error_from([&] { io::load_network(dir.path(), 16, 4, -0.3f); }), "n16-l4.tsv[.gz]");
  io::write_layer_tsv(dir / "n32-l4.tsv", net.layers[0]);
  expect_message(test::error_from([&] { io::infer_weights_neurons(dir.path()); }), "layer files of different N (16, 32)");
}

}  // namespace spdnn
