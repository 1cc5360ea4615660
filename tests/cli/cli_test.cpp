// The spdnn command line: bad input of every kind gives one line naming the problem and a non-zero
// exit; verification failures give exit code 1 and still write the report.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "support/cli_support.hpp"

namespace spdnn {

using namespace test;  // the CLI helpers: spdnn_cli, SmallProblem, expect_one_line_error, ...

TEST(Cli, SmallProblemRunsAndVerifies) {
  SmallProblem p;
  Outcome first = spdnn_cli(p.run_args() + " --categories " + (p.dir / "answer.tsv").string());
  ASSERT_EQ(first.exit_code, 0) << first.output;
  // The answer verifies against itself through --truth, and through `spdnn verify`.
  Outcome again = spdnn_cli(p.run_args() + " --engine reference --truth " + (p.dir / "answer.tsv").string());
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("passed"), std::string::npos);
  Outcome v = spdnn_cli(fmt::format("verify {} {}", (p.dir / "answer.tsv").string(), (p.dir / "answer.tsv").string()));
  EXPECT_EQ(v.exit_code, 0) << v.output;
}

TEST(Cli, FailedVerificationExitsOneAndWritesTheReport) {
  SmallProblem p;
  write_text(p.dir / "wrong.tsv", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n999\n");
  auto json = p.dir / "report.json";
  Outcome o = spdnn_cli(p.run_args() + " --truth " + (p.dir / "wrong.tsv").string() + " --json " + json.string());
  EXPECT_EQ(o.exit_code, 1) << o.output;
  std::ifstream in(json);
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_FALSE(j["verification"]["passed"].get<bool>());
  EXPECT_GE(j["verification"]["missing"].get<int>(), 1);
  EXPECT_EQ(j["network"]["neurons"], 16);
  EXPECT_EQ(j["layers"].size(), 2u);
  EXPECT_EQ(j["layers"][0]["layer"], 1);
  for (const char* key : {"inputs", "engine", "device", "timing_s", "teraedges_per_s", "categories"})
    EXPECT_TRUE(j.contains(key)) << key;
  Outcome v = spdnn_cli(fmt::format("verify {} {}", (p.dir / "wrong.tsv").string(), (p.dir / "wrong.tsv").string()));
  EXPECT_EQ(v.exit_code, 0);
}

// A report names the commit its binary was built from (taken at build time, not when the build folder was
// configured), marked "+dirty" where tracked files differed; "unknown" outside a git checkout.
TEST(Cli, ReportNamesTheCommitItWasBuiltFrom) {
  const Outcome git = test::shell("git -C '" SPDNN_SOURCE_DIR "' rev-parse --short HEAD");
  std::string head = git.exit_code == 0 ? git.output : "";
  while (!head.empty() && (head.back() == '\n' || head.back() == '\r')) head.pop_back();
  SmallProblem p;
  Outcome o = spdnn_cli(p.run_args() + " --json " + (p.dir / "r.json").string());
  ASSERT_EQ(o.exit_code, 0) << o.output;
  std::ifstream in(p.dir / "r.json");
  const std::string commit = nlohmann::json::parse(in)["commit"].get<std::string>();
  if (head.empty()) {
    EXPECT_EQ(commit, "unknown");
  } else {
    EXPECT_TRUE(commit == head || commit == head + "+dirty") << commit << " built, checkout at " << head;
  }
}

TEST(Cli, DataFolderInTheOfficialLayout) {
  SmallProblem p;
  Outcome o = spdnn_cli(fmt::format("run -q --data {} --bias -0.3 --json {}", p.dir.path().string(), (p.dir / "r.json").string()));
  EXPECT_EQ(o.exit_code, 0) << o.output;
  std::ifstream in(p.dir / "r.json");
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["network"]["layers"], 2);
  EXPECT_EQ(j["inputs"]["count"], 20);
}

// --mode structure gives the general mode's answer and counts, and the report says what it found.
TEST(Cli, StructureModeReportsWhatItFound) {
  TempDir dir;
  auto report = [&](const std::string& mode, const std::string& engine) {
    const auto path = dir / (mode + engine + ".json");
    Outcome o = spdnn_cli(fmt::format("run -q --layers 6 --engine {} --mode {} --json {}", engine, mode, path.string()));
    EXPECT_EQ(o.exit_code, 0) << o.output;
    std::ifstream in(path);
    return nlohmann::json::parse(in);
  };
  const nlohmann::json general = report("general", "cpu"), structure = report("structure", "cpu");
  EXPECT_EQ(general["mode"], "general");
  EXPECT_FALSE(general.contains("structure"));
  EXPECT_EQ(structure["mode"], "structure");
  EXPECT_EQ(structure["structure"]["mode_asked"], "structure");
  EXPECT_GT(structure["structure"]["discovery_s"].get<double>(), 0.0);
  ASSERT_EQ(structure["layers"].size(), 6u);
  for (size_t l = 0; l < 6; ++l) {
    EXPECT_EQ(structure["layers"][l]["active_inputs"], general["layers"][l]["active_inputs"]);
    EXPECT_EQ(structure["layers"][l]["nnz"], general["layers"][l]["nnz"]);
    EXPECT_EQ(structure["layers"][l]["distinct_neurons"], l == 5 ? 32 : 64);
    EXPECT_LE(structure["layers"][l]["distinct_rows"], structure["layers"][l]["active_inputs"]);
  }
  EXPECT_EQ(structure["categories"], general["categories"]);
  // The reference engine has no structure mode: asked for, an error; under auto, general with a note.
  SmallProblem p;
  expect_one_line_error(spdnn_cli(p.run_args() + " --engine reference --mode structure"),
                        "--mode structure: engine reference has no structure mode");
  Outcome o = spdnn_cli(fmt::format("run --weights {} --inputs {} --bias -0.3 --engine reference --mode auto --json {}",
                                    p.weights.string(), p.images.string(), (dir / "auto.json").string()));
  EXPECT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("engine reference has no structure mode; running general"), std::string::npos) << o.output;
  expect_one_line_error(spdnn_cli(p.run_args() + " --mode fast"), "--mode");
}

TEST(CliErrors, MissingFiles) {
  SmallProblem p;
  expect_one_line_error(spdnn_cli("run -q --weights /nonexistent/dir --inputs x.tsv"), "/nonexistent/dir: no such weights folder");
  expect_one_line_error(spdnn_cli(fmt::format("run -q --weights {} --inputs /nonexistent/img.tsv --bias -0.3", p.weights.string())),
                        "/nonexistent/img.tsv: no such file");
  expect_one_line_error(spdnn_cli(fmt::format("run -q --weights {} --layers 3 --inputs {} --bias -0.3", p.weights.string(), p.images.string())),
                        "n16-l3.tsv[.gz]");
  expect_one_line_error(spdnn_cli("verify /nonexistent/a.tsv /nonexistent/b.tsv"), "/nonexistent/a.tsv: no such file");
}

TEST(CliErrors, MalformedLayerFiles) {
  struct Case {
    std::string text, message;
  };
  for (const Case& c : {Case{"1\t2\n", "n16-l2.tsv:2: expected 3 fields, found 2"},
                        Case{"1\tabc\t0.25\n", "n16-l2.tsv:2: field 2: 'abc' is not a non-negative integer"},
                        Case{"0\t1\t0.25\n", "n16-l2.tsv:2: row index 0 out of range [1, 16]"},
                        Case{"1\t17\t0.25\n", "n16-l2.tsv:2: column index 17 out of range [1, 16]"}}) {
    SmallProblem p;
    write_text(p.weights / "n16-l2.tsv", "1\t1\t0.25\n" + c.text);
    expect_one_line_error(spdnn_cli(p.run_args()), c.message);
  }
}

TEST(CliErrors, MalformedImagesAndTruth) {
  SmallProblem p;
  write_text(p.dir / "img.tsv", "1\t3\t1\n2\t99\t1\n");
  expect_one_line_error(spdnn_cli(fmt::format("run -q --weights {} --inputs {} --bias -0.3", p.weights.string(), (p.dir / "img.tsv").string())),
                        "img.tsv:2: neuron index 99 out of range [1, 16]");
  write_text(p.dir / "truth.tsv", "1\nseven\n");
  expect_one_line_error(spdnn_cli(p.run_args() + " --truth " + (p.dir / "truth.tsv").string()), "truth.tsv:2: field 1: 'seven'");
}

TEST(CliErrors, LayerFilesOfDifferentN) {
  SmallProblem p;
  write_text(p.weights / "n32-l3.tsv", "1\t1\t0.25\n");
  expect_one_line_error(spdnn_cli(fmt::format("run -q --weights {} --inputs {}", p.weights.string(), p.images.string())),
                        "layer files of different N (16, 32)");
}

TEST(CliErrors, TruncatedGzip) {
  SmallProblem p;
  Network net = random_network({.neurons = 16, .layers = 1, .per_row = 16, .random_values = true, .seed = 3});
  io::write_layer_tsv(p.dir / "full.tsv.gz", net.layers[0]);
  std::ifstream in(p.dir / "full.tsv.gz", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove(p.weights / "n16-l1.tsv");
  write_text(p.weights / "n16-l1.tsv.gz", bytes.substr(0, bytes.size() * 2 / 3));
  expect_one_line_error(spdnn_cli(p.run_args()), "n16-l1.tsv.gz: truncated gzip data");
}

TEST(CliErrors, DamagedBinaryCaches) {
  SmallProblem p;
  auto cache = p.dir / "net.spdnn";
  ASSERT_EQ(spdnn_cli(fmt::format("convert -q {} {} --bias -0.3", p.weights.string(), cache.string())).exit_code, 0);
  Outcome ok = spdnn_cli(fmt::format("run -q --weights {} --inputs {}", cache.string(), p.images.string()));
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  std::ifstream in(cache, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), {});
  struct Case {
    size_t offset;
    char value;
    std::string message;
  };
  for (const Case& c : {Case{1, 'x', "not an spdnn cache (wrong magic"}, Case{8, 7, "cache version 7"}, Case{good.size() - 100, 0x55, "checksum mismatch"}}) {
    std::string bad = good;
    bad[c.offset] = c.value;
    write_text(p.dir / "bad.spdnn", bad);
    expect_one_line_error(spdnn_cli(fmt::format("run -q --weights {} --inputs {}", (p.dir / "bad.spdnn").string(), p.images.string())),
                          "bad.spdnn: " + c.message);
  }
}

TEST(CliErrors, BadOptions) {
  SmallProblem p;
  expect_one_line_error(spdnn_cli(p.run_args() + " --engine warp-drive"), "unknown engine 'warp-drive'");
  EXPECT_NE(spdnn_cli("run --no-such-option").exit_code, 0);
  expect_one_line_error(spdnn_cli("run -q --neurons 1000 --layers 1"), "RadiX-Net needs N = 16 * 2^D");
  expect_one_line_error(spdnn_cli(fmt::format("run -q --weights {} --inputs {} --neurons 16", p.weights.string(), p.images.string())),
                        "no challenge bias is defined for N = 16");
  expect_one_line_error(spdnn_cli(p.run_args() + " --partition sideways"), "--partition sideways: expected static or balanced");
  expect_one_line_error(spdnn_cli(p.run_args() + " --engine cpu --gpus 2"), "--gpus and --devices choose GPUs");
  expect_one_line_error(spdnn_cli(p.run_args() + " --devices 0,x"), "--devices 0,x: expected GPU numbers");
  expect_one_line_error(spdnn_cli(p.run_args() + " --devices 63"), "GPU 63 does not exist");
  // More GPUs than there are: no GPU at all says why; otherwise the count is named.
  expect_one_line_error(spdnn_cli(p.run_args() + " --gpus 64"), gpu_count() == 0 ? "engine cuda:" : "--gpus 64: only");
}

TEST(Cli, ConvertRoundTripsThroughTheCache) {
  SmallProblem p;
  auto xcache = p.dir / "x.spdnn";
  ASSERT_EQ(spdnn_cli(fmt::format("convert -q {} {} --neurons 16", p.images.string(), xcache.string())).exit_code, 0);
  ASSERT_EQ(spdnn_cli(fmt::format("convert -q {} {}", xcache.string(), (p.dir / "back.tsv").string())).exit_code, 0);
  EXPECT_EQ(io::read_images_tsv(p.dir / "back.tsv", 16).matrix, io::read_images_tsv(p.images, 16).matrix);
  auto ncache = p.dir / "n.spdnn";
  ASSERT_EQ(spdnn_cli(fmt::format("convert -q {} {} --bias -0.3", p.weights.string(), ncache.string())).exit_code, 0);
  ASSERT_EQ(spdnn_cli(fmt::format("convert -q {} {} --gzip", ncache.string(), (p.dir / "out").string())).exit_code, 0);
  EXPECT_EQ(io::read_layer_tsv(p.dir / "out" / "n16-l2.tsv.gz", 16), io::read_layer_tsv(p.weights / "n16-l2.tsv", 16));
}

}  // namespace spdnn

namespace spdnn {

// `spdnn sparse run`: bad files name themselves; without a GPU the one line says so.
TEST(CliErrors, SparseRunOnMissingFilesAndWithoutAGpu) {
  test::TempDir dir;
  expect_one_line_error(spdnn_cli(fmt::format("sparse run --matrix {} --n 4", (dir / "none.smtx").string())), "none.smtx");
  write_text(dir / "m.smtx", "2, 5, 3\n0 2 3\n4 1 0\n");
  // A kernel configuration is checked before anything runs, in every build, and the line says what is wrong.
  const std::string run = fmt::format("sparse run --matrix {} --n 4 ", (dir / "m.smtx").string());
  expect_one_line_error(spdnn_cli(run + "--config rows=8,threads=3"), "3 threads per block");
  expect_one_line_error(spdnn_cli(run + "--config rows=8,bogus=1"), "unknown field 'bogus'");
  expect_one_line_error(spdnn_cli(run + "--config rows=8,rows=16"), "'rows' given twice");
  expect_one_line_error(spdnn_cli(run + "--config rows=eight"), "'eight' is not an integer");
  expect_one_line_error(spdnn_cli(run + "--config rows"), "expected name=value");
#ifdef SPDNN_HAVE_CUDA
  if (gpu_count() == 0) {
    const Outcome o = spdnn_cli(fmt::format("sparse run --matrix {} --n 4", (dir / "m.smtx").string()));
    EXPECT_EQ(o.exit_code, 2) << o.output;
    EXPECT_NE(o.output.find("sparse linear layers need a GPU: "), std::string::npos) << o.output;
  }
#endif
}

// `spdnn sparse bench --compile-only --arch 90` fills the kernel cache on a machine without a GPU (a
// build machine): one module per candidate shape of the matrix, and no timing.
TEST(Cli, SparseBenchCompileOnlyFillsTheCacheWithoutAGpu) {
  test::TempDir dir;
  std::string smtx = "40, 64, 8\n0 2 4 6";  // rows 0-3 have 2 nonzeros each, rows 4-39 none
  for (int r = 4; r <= 40; ++r) smtx += " 8";
  write_text(dir / "m.smtx", smtx + "\n0 1 2 3 4 5 6 7\n");
  const std::string command = fmt::format("sparse bench --compile-only --arch 90 --n 8 --cache-dir {} --matrices {}",
                                          (dir / "cache").string(), (dir / "m.smtx").string());
  const Outcome o = spdnn_cli(command);
#ifdef SPDNN_HAVE_CUDA
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_NE(o.output.find("kernel modules for sm_90"), std::string::npos) << o.output;
  size_t modules = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir / "cache")) modules += f.path().extension() == ".cubin";
  EXPECT_GE(modules, 1u);
  // Progress from the start (a large matrix's first module takes minutes), and at the end.
  EXPECT_NE(o.output.find(fmt::format("compiling kernels: 0/{} modules", modules)), std::string::npos) << o.output;
  EXPECT_NE(o.output.find(fmt::format("compiling kernels: {0}/{0} modules", modules)), std::string::npos) << o.output;
  EXPECT_EQ(spdnn_cli(command).exit_code, 0) << "a second run finds everything cached";
  expect_one_line_error(spdnn_cli(command + " --cache off"), "--compile-only fills the kernel cache");
  // A fixed configuration the emitter cannot produce (split-K partial sums of 32 rows for 1024 threads
  // exceed shared memory) is an error, not a silent skip reported as compiled.
  expect_one_line_error(spdnn_cli(command + " --config rows=32,threads=1024,cluster_slices=8,prefetch=8,bound=1024"),
                        "exceed shared memory");
  expect_one_line_error(spdnn_cli(command + " --config rows=8,threads=32,fixed_n=2"), "fixed_n = 2");
  // A valid one compiles exactly its module.
  const Outcome one = spdnn_cli(fmt::format("sparse bench --compile-only --arch 90 --n 8 --cache-dir {} --matrices {} "
                                            "--config rows=8,prefetch=32,fixed_n=1", (dir / "one").string(), (dir / "m.smtx").string()));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  // By default each N gets modules of its own (N compiled in); with --no-fixed-stride one set serves both.
  auto count_modules = [](const std::filesystem::path& folder) {
    size_t n = 0;
    for (const auto& f : std::filesystem::directory_iterator(folder)) n += f.path().extension() == ".cubin";
    return n;
  };
  write_text(dir / "sizes.txt", "m,4\n");  // N = 4 x batch: 4 and 8
  const std::string two_n = fmt::format("sparse bench --compile-only --arch 90 --sizes {} --batch 1,2 --matrices {} --cache-dir ",
                                        (dir / "sizes.txt").string(), (dir / "m.smtx").string());
  ASSERT_EQ(spdnn_cli(two_n + (dir / "fixed").string()).exit_code, 0);
  ASSERT_EQ(spdnn_cli(two_n + (dir / "argument").string() + " --no-fixed-stride").exit_code, 0);
  EXPECT_EQ(count_modules(dir / "fixed"), 2 * count_modules(dir / "argument"));
  EXPECT_EQ(count_modules(dir / "argument"), modules) << "the same candidates as the first run, for any N";
  EXPECT_EQ(count_modules(dir / "one"), 1u);
  // Untuned, a layer compiles its first candidate only, and none below 64 columns (where it takes the
  // generic kernel: kUntunedGenericBelowN).
  const std::string untuned = fmt::format("sparse bench --compile-only --arch 90 --no-tune --matrices {} --cache-dir ",
                                          (dir / "m.smtx").string());
  const Outcome narrow = spdnn_cli(untuned + (dir / "narrow").string() + " --n 63");
  ASSERT_EQ(narrow.exit_code, 0) << narrow.output;
  EXPECT_NE(narrow.output.find("compiled 0 kernel modules"), std::string::npos) << narrow.output;
  ASSERT_EQ(spdnn_cli(untuned + (dir / "wide").string() + " --n 64").exit_code, 0);
  EXPECT_EQ(count_modules(dir / "wide"), 1u);
#else
  expect_one_line_error(o, "sparse linear layers need a GPU build of spdnn");
#endif
}

}  // namespace spdnn
