// `spdnn sparse run` (one pruned layer: generate/compile/load its kernel, run, check, time) and
// `spdnn sparse bench` (many layers, every path: spdnn's kernels, cuBLAS, cuSPARSE); `spdnn sparse conv`
// is sparse_conv_command.cpp.
#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.hpp"
#include "json_report.hpp"
#include "sparse_options.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/weights.hpp"
#include "harness/sparse_bench.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn::app {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

int run_one(const std::string& matrix, const std::string& bias_path, bool relu, int64_t n, uint64_t seed,
            const KernelOptions& ko, const std::string& json_path) {
  CsrMatrix w = load_weights(matrix, seed);
  std::vector<float> bias;
  if (!bias_path.empty()) bias = io::read_npy(bias_path).data;
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != w.rows)
    throw Error(Errc::mismatch, fmt::format("{}: {} biases for a weight matrix of {} rows ({})", bias_path, bias.size(), w.rows, matrix));
  SparseLinearOptions lo = ko.linear();
  lo.relu = relu;
  SparseLinear layer(w, bias, lo);  // (fails before any output: no GPU, a bad --config)
  fmt::print("matrix      {}: {} x {}, {} nonzeros; N = {}\n", matrix, w.rows, w.cols, w.nnz(), n);
  compile_with_progress({.linear = &layer, .sizes = {{n, 0, 0}}});
  layer.prepare(n);
  const SparseLinearReport& r = layer.report();
  fmt::print("kernel      {}\n", report_line(r));
  for (const auto& note : r.notes) fmt::print("note        {}\n", note);

  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(w.cols * n));
  for (auto& v : x) v = uniform(rng);
  const std::vector<double> ref = sparse_linear_reference(w, x, n, bias, relu);
  const std::vector<float> y = layer.forward_host(x, n);
  const double error = max_relative_error(y, ref);
  const SparseBenchTiming t = time_sparse_linear(layer, n, 3, 100);
  return finish_layer_run(r, error, t.plain_us, t.graph_us,
                          {{"matrix", matrix}, {"rows", w.rows}, {"cols", w.cols}, {"nnz", w.nnz()}, {"n", n}, {"relu", relu},
                           {"bias", !bias.empty()}},
                          json_path);
}

}  // namespace

Command add_sparse_command(CLI::App& app) {
  auto* sparse = app.add_subcommand("sparse", "Pruned DL layers: kernels generated for a known sparse weight matrix");
  sparse->require_subcommand(1);

  struct RunOptions {
    std::string matrix, bias, json;
    bool relu = false;
    int64_t n = 256;
    uint64_t seed = 1;
    KernelOptions kernel;
  };
  Command conv = add_sparse_conv_command(*sparse);
  auto ro = std::make_shared<RunOptions>();
  auto* run = sparse->add_subcommand("run", "Run one layer Y = act(W X + b): build or load its kernel, check it, time it");
  run->add_option("--matrix", ro->matrix, "Weights: DLMC .smtx (values generated) or .npy (dense with zeros)")->required();
  run->add_option("--bias", ro->bias, "Bias (.npy, one value per row of W)");
  run->add_flag("--relu", ro->relu, "Apply ReLU");
  run->add_option("--n", ro->n, "Columns of X (batch x height x width)")->capture_default_str()->check(positive());
  run->add_option("--seed", ro->seed, "Seed of generated weight values and of X")->capture_default_str();
  run->add_option("--json", ro->json, "Write a JSON report here");
  ro->kernel.add_to(run);

  struct BenchOptions {
    std::vector<std::string> matrices;
    std::vector<int> batches{1, 8};
    int64_t n = 0, default_n = 256;
    std::vector<std::string> paths = sparse_bench_paths();
    int rounds = 5, calls = 200;
    std::string json, sizes;
    int jobs = 0;
    bool compile_only = false;
    int arch = 0;
    KernelOptions kernel;
  };
  auto bo = std::make_shared<BenchOptions>();
  auto* bench = sparse->add_subcommand("bench", "Time layers by every path: generated, generic, cuBLAS, cuSPARSE");
  bench->add_option("--matrices", bo->matrices,
                    "Glob(s) of weight files (default: the ResNet-50 1x1 layers of DLMC at 0.8-0.98 under the data folder)");
  bench->add_option("--n", bo->n, "Columns of X for every matrix (default: spatial size x batch)")->check(positive());
  bench->add_option("--batch", bo->batches, "Batch sizes: N = the layer's spatial size (rn50_batchsizes.txt) x batch")
      ->delimiter(',')->capture_default_str();
  bench->add_option("--default-n", bo->default_n, "N for matrices without a spatial size (e.g. Transformer)")->capture_default_str()
      ->check(positive());
  bench->add_option("--sizes", bo->sizes, "Spatial sizes file (default <data>/dlmc/rn50_batchsizes.txt)");
  bench->add_option("--paths", bo->paths, "Paths to time")->delimiter(',');
  bench->add_option("--rounds", bo->rounds, "Interleaved rounds (the median is reported)")->capture_default_str()->check(positive());
  bench->add_option("--calls", bo->calls, "Calls per timing and per CUDA graph")->capture_default_str()->check(positive());
  bench->add_option("--json", bo->json, "Write all results here");
  bench->add_option("--jobs", bo->jobs, "Threads compiling kernels before timing starts (default: all cores)")
      ->check(non_negative());
  bench->add_flag("--compile-only", bo->compile_only,
                  "Only fill the kernel cache (no GPU needed with --arch): e.g. on a build machine for a GPU server");
  bench->add_option("--arch", bo->arch, "Compute capability to compile for, e.g. 90 (default: the current GPU's)")
      ->check(CLI::Range(50, 200));
  bo->kernel.add_to(bench);

  return [run, ro, bench, bo, conv, sparse]() -> int {
    if (run->parsed()) return run_one(ro->matrix, ro->bias, ro->relu, ro->n, ro->seed, ro->kernel, ro->json);
    if (sparse->got_subcommand("conv")) return conv();
    (void)bench;
    const std::string data = data_dir();
    std::vector<std::string> patterns = bo->matrices;
    if (patterns.empty()) {
      if (data.empty()) throw Error(Errc::usage, "no --matrices given and no data folder (set SPDNN_DATA_DIR)");
      for (const char* s : {"0.8", "0.9", "0.95", "0.98"})
        for (const char* p : {"bottleneck_1*", "bottleneck_3*", "bottleneck_projection*"})
          patterns.push_back(fmt::format("{}/dlmc/rn50/magnitude_pruning/{}/{}.smtx.gz", data, s, p));
    }
    const std::vector<std::string> files = expand(patterns);
    std::map<std::string, int64_t> spatial;
    const std::string sizes = !bo->sizes.empty() ? bo->sizes : data + "/dlmc/rn50_batchsizes.txt";
    if (bo->n == 0 && fs::exists(sizes)) spatial = read_spatial_sizes(sizes);
    SparseBenchOptions options;
    options.paths = bo->paths;
    options.rounds = bo->rounds;
    options.calls = bo->calls;
    options.linear = bo->kernel.linear();
    // Every (matrix, N) to time.
    struct Case {
      std::string file, name;
      CsrMatrix w;
      int64_t n;
      int batch;  // 0: N not derived from a batch size
      double precompile_s = 0;  // compiling the matrix's modules (for all its N): the same on each of its cases
    };
    std::vector<Case> todo;
    for (const auto& file : files) {
      CsrMatrix w = load_weights(file, 1);
      const std::string name = layer_name(file);
      std::vector<std::pair<int64_t, int>> runs;
      if (bo->n > 0) runs.emplace_back(bo->n, 0);
      else if (auto it = spatial.find(name); it != spatial.end())
        for (int b : bo->batches) runs.emplace_back(it->second * b, b);
      else runs.emplace_back(bo->default_n, 0);
      for (auto [n, batch] : runs) todo.push_back({file, name, w, n, batch});
    }
    // Compile every kernel first, in parallel (NVRTC needs no GPU), so that timing runs alone.
    const bool specialized = std::find(bo->paths.begin(), bo->paths.end(), "specialized") != bo->paths.end();
    if (bo->compile_only && (!specialized || options.linear.cache != KernelCacheMode::on || !options.linear.specialize))
      throw Error(Errc::usage, "--compile-only fills the kernel cache: it needs the specialized path and --cache on");
    if (specialized && options.linear.cache == KernelCacheMode::on && options.linear.specialize) {
      const int arch = bo->arch > 0 ? bo->arch : current_gpu_arch();
      // One entry per matrix file with every N it is timed at (its cases are consecutive).
      std::vector<PrecompileLayer> layers;
      std::vector<size_t> layer_of(todo.size());
      for (size_t i = 0; i < todo.size(); ++i) {
        if (i == 0 || todo[i].file != todo[i - 1].file) layers.push_back({&todo[i].w, nullptr, {}});
        layers.back().ns.push_back(todo[i].n);
        layer_of[i] = layers.size() - 1;
      }
      size_t modules = 0;
      const std::vector<double> seconds = precompile_sparse_linears(
          layers, arch, options.linear, bo->jobs > 0 ? static_cast<unsigned>(bo->jobs) : 0, compile_progress(&modules));
      for (size_t i = 0; i < todo.size(); ++i) todo[i].precompile_s = seconds[layer_of[i]];
      if (bo->compile_only) {
        fmt::print("compiled {} kernel modules for sm_{} into {}\n", modules, arch,
                   options.linear.cache_dir.empty() ? std::string("the default kernel cache") : options.linear.cache_dir.string());
        return 0;
      }
    }
    json cases = json::array();
    std::string device;
    size_t index = 0;
    for (const Case& cs : todo) {
      ++index;
      const CsrMatrix& w = cs.w;
      const std::string& name = cs.name;
      const std::string& file = cs.file;
      const int64_t n = cs.n;
      const int batch = cs.batch;
      {
        const auto t0 = std::chrono::steady_clock::now();
        SparseBenchResult r = bench_sparse_linear(w, n, options);
        device = r.device;
        json timings = json::object();
        std::string line;
        for (const auto& t : r.timings) {
          if (!t.error.empty()) timings[t.path] = {{"error", t.error}};
          else timings[t.path] = {{"plain_us", t.plain_us}, {"graph_us", t.graph_us}, {"max_rel_error", t.max_rel_error}};
          line += t.error.empty() ? fmt::format(" {} {:.1f}", t.path, t.graph_us) : fmt::format(" {} failed", t.path);
        }
        fmt::print(stderr, "[{}/{}] {} {}x{} nnz {} N {}: {} |{} (us, graph) {:.1f} s\n", index, todo.size(), name, w.rows, w.cols,
                   w.nnz(), n, r.report.path, line,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        json c = {{"matrix", report_path(file)}, {"name", name}, {"sparsity", sparsity_of(file, w)}, {"rows", w.rows}, {"cols", w.cols},
                  {"nnz", w.nnz()}, {"n", n}};
        if (batch > 0) c["batch"] = batch;
        if (specialized) {
          c["kernel"] = json::parse(to_json(r.report));
          c["kernel"]["precompile_s"] = cs.precompile_s;
        }
        c["timings"] = timings;
        cases.push_back(c);
        // Rewritten after every layer, so that an interrupted run keeps what it measured.
        json partial = report_header(device);
        partial.update(json{{"rounds", bo->rounds}, {"calls", bo->calls}, {"complete", false}, {"cases", cases}});
        write_json_report(bo->json, partial);
      }
    }
    json j = report_header(device);
    j.update(json{{"rounds", bo->rounds}, {"calls", bo->calls}, {"complete", true}, {"cases", cases}});
    write_json_report(bo->json, j);
    fmt::print("{} layer runs timed{}\n", cases.size(), bo->json.empty() ? "" : " into " + bo->json);
    return kExitOk;
  };
}

}  // namespace spdnn::app
