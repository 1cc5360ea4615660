// Bad input that once slipped through: non-finite values, empty layer files, out-of-range options,
// command-line errors and binary bytes in messages; and files that are never half-written.
#include <gtest/gtest.h>

#include <csignal>
#include <fmt/format.h>
#include <fstream>

#include "io/compressed_file.hpp"
#include "spdnn/challenge/io.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"
#include "support/cli_support.hpp"

namespace spdnn {

using namespace test;  // the CLI helpers: spdnn_cli, SmallProblem, expect_one_line_error, ...

// A NaN or an infinity in a layer or an image would silently change the answer (the official subset
// answered 91 or 22 categories instead of 19): each is an error naming the file, the line and the value.
TEST(CliErrors, NonFiniteValuesNameTheFileAndLine) {
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity", "1e39"}) {
    SmallProblem p;
    write_text(p.weights / "n16-l2.tsv", fmt::format("1\t2\t0.25\n3\t4\t{}\n", bad));
    const Outcome o = spdnn_cli(p.run_args());
    expect_one_line_error(o, "n16-l2.tsv:2: field 3: '" + std::string(bad) + "'");
    EXPECT_NE(o.output.find(std::string(bad) == "1e39" ? "not a number" : "not a finite number"), std::string::npos) << o.output;
  }
  SmallProblem p;
  write_text(p.images, "1\t1\t1\n2\t5\tnan\n");
  expect_one_line_error(spdnn_cli(p.run_args()), "sparse-images-16.tsv:2: field 3: 'nan' is not a finite number");
  expect_one_line_error(spdnn_cli(SmallProblem().run_args() + " --bias nan"), "'nan' is not a finite number");
}

TEST(CliErrors, AnEmptyLayerFileIsAnError) {
  for (const char* empty : {"", "\n\n", "  \n"}) {
    SmallProblem p;
    write_text(p.weights / "n16-l1.tsv", empty);
    expect_one_line_error(spdnn_cli(p.run_args()), "n16-l1.tsv: no entries");
  }
}

// Out-of-range options are refused (--layers 0 used to run the default problem), and every command-line
// error is one line and exit code 2 (an unknown option used to exit with CLI11's 109).
TEST(CliErrors, OutOfRangeOptionsAndUnknownOptionsExitTwo) {
  for (const char* args : {"run --layers 0", "run --neurons 0", "run --neurons -5", "run --threads 0", "run --bias inf",
                           "generate --neurons 0 --out x", "convert a b --layers 0", "sparse run --matrix m.smtx --n 0",
                           "sparse bench --jobs -1", "sparse bench --max-unroll -3"})
    expect_one_line_error(spdnn_cli(args), "(see --help)");
  expect_one_line_error(spdnn_cli("run --no-such-option"), "--no-such-option");
  expect_one_line_error(spdnn_cli("no-such-command"), "unknown command 'no-such-command'");
  expect_one_line_error(spdnn_cli(""), "A subcommand is required");
  const Outcome help = spdnn_cli("run --help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("--layers"), std::string::npos);
  EXPECT_EQ(spdnn_cli("--version").exit_code, 0);
}

// A binary file given where text is expected: the message shows its bytes escaped, never raw.
TEST(CliErrors, BinaryBytesInMessagesAreEscaped) {
  SmallProblem p;
  write_text(p.images, std::string("\x01\x02\x1b[31m\xff\xfe\t1\t1\n", 13));
  const Outcome o = spdnn_cli(p.run_args());
  expect_one_line_error(o, "'\\x01\\x02\\x1b[31m\\xff\\xfe' is not a non-negative integer");
  for (char c : o.output) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "raw byte " << int(static_cast<unsigned char>(c));
  EXPECT_EQ(printable("a\tb\x7f"), "a\\x09b\\x7f");
}

// Non-finite values in .npy weights and biases are refused too.
TEST(Npy, NonFiniteValuesAreErrors) {
  test::TempDir dir;
  const float values[] = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  header.resize(117, ' ');
  header += '\n';
  std::ofstream(dir / "nan.npy", std::ios::binary) << std::string("\x93NUMPY\x01\x00", 8) << char(header.size()) << char(0)
                                                    << header << std::string(reinterpret_cast<const char*>(values), 8);
  const Error e = test::error_from([&] { io::read_npy(dir / "nan.npy"); });
  EXPECT_TRUE(test::says(e, "nan.npy: value 1 is nan")) << e.what();
}

// Every file spdnn writes goes to a temporary name renamed into place: a writer interrupted by an error
// leaves the old file and no temporary one; a process killed while writing leaves no file under the
// final name that is not complete.
TEST(AtomicWrites, AnInterruptedWriteLeavesTheOldFileOrTheNewOne) {
  SmallProblem p;
  const auto target = p.dir / "layer.tsv";
  const CsrMatrix layer = io::read_layer_tsv(p.weights / "n16-l1.tsv", 16);
  io::write_layer_tsv(target, layer);
  const std::string before = [&] { std::ifstream in(target); return std::string(std::istreambuf_iterator<char>(in), {}); }();
  // A writer that stops half-way: an error unwinds it before close().
  try {
    io::OutputFile out(target);
    out.write("1\t2\t");
    throw Error(Errc::io, "interrupted");
  } catch (const Error&) {
  }
  const std::string after = [&] { std::ifstream in(target); return std::string(std::istreambuf_iterator<char>(in), {}); }();
  EXPECT_EQ(after, before) << "the old file stands";
  for (const auto& f : std::filesystem::directory_iterator(p.dir.path())) EXPECT_EQ(f.path().string().find(".partial-"), std::string::npos) << f.path();

  // `spdnn generate` killed while it writes a network cache of 120 layers: the cache either does not
  // exist or is complete (it loads and verifies).
  const auto out = p.dir / "gen";
  const Outcome killed = test::shell(fmt::format("timeout -s KILL 0.4 {} generate -q --neurons 65536 --layers 120 --what network "
                                                 "--format bin --out {}", SPDNN_CLI_PATH, out.string()));
  EXPECT_NE(killed.exit_code, 0) << "the run was meant to be interrupted: " << killed.output;
  if (!std::filesystem::exists(out)) return;
  for (const auto& f : std::filesystem::directory_iterator(out)) {
    if (f.path().string().find(".partial-") != std::string::npos) continue;  // the interrupted write's own file
    EXPECT_NO_THROW(io::load_network_cache(f.path())) << f.path();
  }
}

}  // namespace spdnn
