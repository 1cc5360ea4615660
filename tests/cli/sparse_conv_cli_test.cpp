// `spdnn sparse conv` as a user runs it without a GPU: bad filters, sizes and sets are one-line errors that
// name what is wrong (exit 2), a valid run says a GPU is needed, and `bench --compile-only --arch 90`
// fills the kernel cache on a build machine, one set of modules per filter and image size whatever the
// batch. The runs themselves are tested on the GPU (tests/sparse/gpu/sparse_conv2d_test.cpp).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/cli_support.hpp"
#include "support/test_support.hpp"

namespace spdnn {

using namespace test;

namespace {

// A DLMC-style 6 x 36 filter: 6 out-channels, 4 in-channels, 3 x 3; rows of 2 nonzeros.
void write_filter(const std::filesystem::path& path) {
  std::string smtx = "6, 36, 12\n0 2 4 6 8 10 12\n";
  for (int r = 0; r < 6; ++r) smtx += fmt::format("{} {} ", r, 20 + r);
  write_text(path, smtx + "\n");
}

// A float32 .npy of `shape` (zeros): the header padded to 128 bytes, as NumPy writes it.
void write_zeros_npy(const std::filesystem::path& path, const std::string& shape, size_t floats) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  header.resize(117, ' ');
  header += '\n';
  std::ofstream(path, std::ios::binary) << std::string("\x93NUMPY\x01\x00", 8) << char(header.size()) << char(0) << header
                                        << std::string(floats * 4, '\0');
}

size_t count_modules(const std::filesystem::path& folder) {
  size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator(folder)) n += f.path().extension() == ".cubin";
  return n;
}

}  // namespace

TEST(CliErrors, SparseConvNamesWhatIsWrong) {
  TempDir dir;
  write_filter(dir / "f.smtx");
  const std::string filter = (dir / "f.smtx").string();
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv run --filter {}", (dir / "none.npy").string())), "none.npy");
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv run --filter {} --kernel 5", filter)), "is not C x 5 x 5");
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv run --filter {} --size 0x4", filter)), "--size '0x4'");
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv run --filter {} --size 7y", filter)), "--size '7y'");
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv run --filter {} --size 7x", filter)), "--size '7x'");
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv run --filter {} --size 2 --padding 0", filter)),
                        "larger than the padded input");
  write_zeros_npy(dir / "three.npy", "(4, 3, 9)", 108);  // a filter neither K x C x R x S nor K x C*R*S
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv run --filter {}", (dir / "three.npy").string())),
                        "3 dimensions, expected a filter K x C x R x S or K x C*R*S");
  expect_one_line_error(spdnn_cli("sparse conv bench --set imagenet --compile-only --arch 90"), "--set 'imagenet'");
  expect_one_line_error(spdnn_cli(fmt::format("sparse conv bench --filters {} --compile-only --arch 90", filter)), "give --size");
  const Outcome o = spdnn_cli(fmt::format("sparse conv run --filter {} --size 9", filter));
  if (o.exit_code == 2) EXPECT_NE(o.output.find("need a GPU"), std::string::npos) << o.output;  // else a GPU ran it
}

TEST(Cli, SparseConvBenchCompileOnlyFillsTheCacheWithoutAGpu) {
  TempDir dir;
  write_filter(dir / "f.smtx");
  const std::string command = fmt::format("sparse conv bench --compile-only --arch 90 --filters {} --size 7 --cache-dir ",
                                          (dir / "f.smtx").string());
  const Outcome one = spdnn_cli(command + (dir / "one").string() + " --batch 1");
#ifdef SPDNN_HAVE_CUDA
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_NE(one.output.find("kernel modules for sm_90"), std::string::npos) << one.output;
  const size_t modules = count_modules(dir / "one");
  EXPECT_GE(modules, 1u);
  EXPECT_NE(one.output.find(fmt::format("compiling kernels: 0/{} modules", modules)), std::string::npos) << one.output;
  ASSERT_EQ(spdnn_cli(command + (dir / "both").string() + " --batch 1,8").exit_code, 0);
  EXPECT_EQ(count_modules(dir / "both"), modules) << "batch 8 uses the modules of batch 1";
  ASSERT_EQ(spdnn_cli(command + (dir / "fixed").string() + " --config rows=4,prefetch=8").exit_code, 0);
  EXPECT_EQ(count_modules(dir / "fixed"), 1u);
  ASSERT_GE(modules, 2u) << "the filter has several candidates";
  ASSERT_EQ(spdnn_cli(command + (dir / "untuned").string() + " --no-tune").exit_code, 0);
  EXPECT_EQ(count_modules(dir / "untuned"), 1u) << "untuned, a layer takes its first candidate only";
  expect_one_line_error(spdnn_cli(command + (dir / "bad").string() + " --config rows=4,block_groups=2"), "one row group per block");
  expect_one_line_error(spdnn_cli(command + (dir / "off").string() + " --cache off"), "--compile-only fills the kernel cache");
#else
  expect_one_line_error(one, "need a GPU build of spdnn");
#endif
}

}  // namespace spdnn
