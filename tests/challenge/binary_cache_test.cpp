// The binary cache: exact round trips, and every kind of damage detected.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "support/test_support.hpp"

namespace spdnn {

namespace {

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {(std::istreambuf_iterator<char>(in)), {}};
}
void write_bytes(const std::filesystem::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

std::string load_error(const std::filesystem::path& p) {
  return test::error_from([&] { io::load_network_cache(p); }).what();
}

}  // namespace

TEST(BinaryCache, NetworkRoundTripIsExact) {
  test::TempDir dir;
  Network net = random_network({.neurons = 300, .layers = 4, .per_row = 9, .random_values = true, .bias = -0.45f, .seed = 7});
  io::save_network_cache(dir / "n.spdnn", net);
  EXPECT_EQ(io::cache_kind(dir / "n.spdnn"), io::CacheKind::network);
  Network back = io::load_network_cache(dir / "n.spdnn");
  EXPECT_EQ(back.neurons, 300);
  EXPECT_EQ(back.bias, -0.45f);
  EXPECT_EQ(back.clip, 32.f);
  ASSERT_EQ(back.num_layers(), 4);
  for (int l = 0; l < 4; ++l) EXPECT_EQ(back.layers[l], net.layers[l]);
}

TEST(BinaryCache, FeaturesRoundTripIsExact) {
  test::TempDir dir;
  Features x = random_features(123, 77, 0.3, 8);
  io::save_features_cache(dir / "x.spdnn", x);
  EXPECT_EQ(io::load_features_cache(dir / "x.spdnn").matrix, x.matrix);
  EXPECT_THROW(io::load_network_cache(dir / "x.spdnn"), Error);  // wrong kind
}

TEST(BinaryCache, DamageIsDetected) {
  test::TempDir dir;
  Network net = random_network({.neurons = 64, .layers = 2, .per_row = 4, .seed = 9});
  io::save_network_cache(dir / "n.spdnn", net);
  const std::string good = read_bytes(dir / "n.spdnn");

  std::string b = good;
  b[0] = 'X';
  write_bytes(dir / "magic.spdnn", b);
  EXPECT_NE(load_error(dir / "magic.spdnn").find("wrong magic"), std::string::npos);

  b = good;
  b[8] = 99;  // version field
  write_bytes(dir / "version.spdnn", b);
  EXPECT_NE(load_error(dir / "version.spdnn").find("cache version 99"), std::string::npos);

  b = good;
  b[b.size() / 2] = static_cast<char>(b[b.size() / 2] ^ 1);
  write_bytes(dir / "flip.spdnn", b);
  EXPECT_NE(load_error(dir / "flip.spdnn").find("checksum mismatch"), std::string::npos);

  write_bytes(dir / "cut.spdnn", good.substr(0, good.size() - 64));
  EXPECT_NE(load_error(dir / "cut.spdnn").find("truncated"), std::string::npos);

  write_bytes(dir / "tiny.spdnn", good.substr(0, 20));
  EXPECT_NE(load_error(dir / "tiny.spdnn").find("too short"), std::string::npos);
}

// Found by fuzzing: a row count near 2^64 wrapped the size check, and the reader asked for exabytes. A
// damaged size is an error like any other, and nothing is allocated from it.
TEST(BinaryCache, HugeSizesInTheHeaderAreErrors) {
  test::TempDir dir;
  io::save_features_cache(dir / "x.spdnn", random_features(5, 64, 0.3, 1));
  std::string b = read_bytes(dir / "x.spdnn");
  const uint64_t rows = 0x1fffffffffffffffull;
  std::memcpy(b.data() + 24, &rows, sizeof rows);  // Header::count: the features' rows
  write_bytes(dir / "rows.spdnn", b);
  EXPECT_THROW(io::load_features_cache(dir / "rows.spdnn"), Error);
}

// Found by fuzzing: an MNIST header announcing 2^32 images sized the pixels before reading them.
TEST(Mnist, AHugeCountIsTruncationNotAnAllocation) {
  test::TempDir dir;
  const unsigned char header[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28, 0, 0, 0, 28};
  write_bytes(dir / "m-idx3-ubyte", std::string(reinterpret_cast<const char*>(header), 16) + std::string(784, '\x01'));
  const Error e = test::error_from([&] { io::read_mnist_images(dir / "m-idx3-ubyte"); });
  EXPECT_TRUE(test::says(e, "truncated: header announces 4294967295 images")) << e.what();
}

// Found by fuzzing: every cache refused while its header was checked leaked a file descriptor, until
// the process could open no more files.
TEST(BinaryCache, RefusedFilesLeaveNoOpenDescriptor) {
  test::TempDir dir;
  write_bytes(dir / "bad.spdnn", std::string(200, 'x'));
  auto open_descriptors = [] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const size_t before = open_descriptors();
  for (int i = 0; i < 100; ++i) EXPECT_THROW(io::load_network_cache(dir / "bad.spdnn"), Error);
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace spdnn
