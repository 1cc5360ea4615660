// `spdnn sparse conv run` (one pruned convolution: generate/compile/load its kernel for an input size, run,
// check against float64, time) and `spdnn sparse conv bench` (the ResNet-50 3x3 sets, every path: spdnn's
// direct kernels, im2col + SparseLinear, cuDNN in strict fp32, TF32 and fp16).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.hpp"
#include "harness/conv_bench.hpp"
#include "json_report.hpp"
#include "sparse_options.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/weights.hpp"

namespace spdnn::app {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// A filter and the geometry its file gives: a 4-D .npy (K, C, R, S) names its kernel size; a 2-D one or
// a DLMC .smtx is K x C*R*S with R = S = `kernel`.
struct Filter {
  CsrMatrix w;
  Conv2dShape geometry;  // channels, out_channels, kernel size (batch and image size still to set)
};
Filter load_filter(const std::string& path, int64_t kernel, uint64_t seed) {
  Filter f;
  f.geometry.kernel_h = f.geometry.kernel_w = kernel;
  std::string name = fs::path(path).filename().string();
  if (name.ends_with(".gz")) name.resize(name.size() - 3);
  if (name.ends_with(".npy")) {
    io::NpyArray a = io::read_npy(path);
    if (a.shape.size() != 2 && a.shape.size() != 4)
      throw Error(Errc::mismatch, fmt::format("{}: {} dimensions, expected a filter K x C x R x S or K x C*R*S", path,
                                              a.shape.size()));
    if (a.shape.size() == 4) {  // K, C, R, S
      f.geometry.kernel_h = a.shape[2], f.geometry.kernel_w = a.shape[3];
      a.shape = {a.shape[0], a.shape[1] * a.shape[2] * a.shape[3]};
    }
    f.w = io::npy_to_csr(a, path);
  } else {
    f.w = load_weights(path, seed);
  }
  const int64_t taps = f.geometry.kernel_h * f.geometry.kernel_w;
  if (taps < 1 || f.w.cols % taps != 0)
    throw Error(Errc::mismatch, fmt::format("{}: a filter of {} columns is not C x {} x {} (set --kernel)", path, f.w.cols,
                                            f.geometry.kernel_h, f.geometry.kernel_w));
  f.geometry.out_channels = f.w.rows;
  f.geometry.channels = f.w.cols / taps;
  return f;
}

// "56" or "56x28": height and width.
std::pair<int64_t, int64_t> parse_size(const std::string& text) {
  auto whole = [](const std::string& part) {  // a whole number and nothing else
    size_t used = 0;
    const int64_t v = std::stoll(part, &used);
    if (used != part.size()) throw std::invalid_argument(part);
    return v;
  };
  const auto x = text.find('x');
  try {
    const int64_t h = whole(text.substr(0, x));
    const int64_t w = x == std::string::npos ? h : whole(text.substr(x + 1));
    if (h >= 1 && w >= 1) return {h, w};
  } catch (const std::exception&) {
  }
  throw Error(Errc::usage, fmt::format("--size '{}': expected HEIGHT or HEIGHTxWIDTH, both at least 1", text));
}

json shape_json(const Conv2dShape& s) {
  return {{"batch", s.batch},   {"channels", s.channels}, {"height", s.height},   {"width", s.width},
          {"out_channels", s.out_channels}, {"kernel_h", s.kernel_h}, {"kernel_w", s.kernel_w},
          {"stride", s.stride}, {"padding", s.padding},   {"dilation", s.dilation}};
}

struct RunOptions {
  std::string filter, input, bias, json, size = "56";
  int64_t kernel = 3, batch = 1, stride = 1, padding = -1, dilation = 1;
  bool relu = false;
  uint64_t seed = 1;
  KernelOptions kernel_options;
};

int run_conv(const RunOptions& o) {
  Filter f = load_filter(o.filter, o.kernel, o.seed);
  Conv2dShape s = f.geometry;
  s.stride = o.stride, s.dilation = o.dilation;
  s.padding = o.padding >= 0 ? o.padding : s.dilation * (s.kernel_h - 1) / 2;  // "same" for odd kernels, stride 1
  std::vector<float> x;
  if (!o.input.empty()) {
    io::NpyArray a = io::read_npy(o.input);
    if (a.shape.size() == 3) a.shape.insert(a.shape.begin(), 1);
    if (a.shape.size() != 4 || a.shape[1] != s.channels)
      throw Error(Errc::mismatch, fmt::format("{}: expected C x H x W or N x C x H x W with C = {} (the filter's)", o.input, s.channels));
    s.batch = a.shape[0], s.height = a.shape[2], s.width = a.shape[3];
    x = std::move(a.data);
  } else {
    std::tie(s.height, s.width) = parse_size(o.size);
    s.batch = o.batch;
  }
  std::vector<float> bias;
  if (!o.bias.empty()) bias = io::read_npy(o.bias).data;
  validate(s, f.w, nullptr, &bias);
  if (x.empty()) {
    std::mt19937_64 rng(o.seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    x.resize(static_cast<size_t>(s.input_size()));
    for (auto& v : x) v = uniform(rng);
  }
  SparseLinearOptions lo = o.kernel_options.linear();
  lo.relu = o.relu;
  SparseConv2d layer(f.w, bias, s, lo);  // (fails before any output: no GPU, a bad --config)
  fmt::print("filter      {}: {} x {} x {} x {}, {} nonzeros ({:.1f}% zeros)\n", o.filter, s.out_channels, s.channels, s.kernel_h,
             s.kernel_w, f.w.nnz(), 100.0 * (1.0 - static_cast<double>(f.w.nnz()) / static_cast<double>(f.w.rows * f.w.cols)));
  fmt::print("shape       {}\n", to_string(s));
  compile_with_progress({.conv = &layer, .sizes = {{s.batch, s.height, s.width}}});
  layer.prepare(s.batch, s.height, s.width);
  const SparseLinearReport& r = layer.report();
  fmt::print("kernel      {}\n", report_line(r));
  for (const auto& note : r.notes) fmt::print("note        {}\n", note);
  const std::vector<double> ref = conv2d_reference(s, f.w, x, bias, o.relu);
  const std::vector<float> y = layer.forward_host(x, s.batch, s.height, s.width);
  const double error = max_relative_error(y, ref);
  const SparseBenchTiming t = time_sparse_conv2d(layer, s, 3, 100);
  return finish_layer_run(r, error, t.plain_us, t.graph_us,
                          {{"filter", report_path(o.filter)}, {"shape", shape_json(s)}, {"nnz", f.w.nnz()}, {"relu", o.relu},
                           {"bias", !bias.empty()}},
                          o.json);
}

struct BenchOptions {
  std::vector<std::string> filters, sets{"dlmc", "sparsert"}, sparsities{"0.8", "0.9", "0.95", "0.98"}, paths = conv_bench_paths();
  std::vector<int> batches{1, 8};
  std::string size, json, sizes;
  int64_t kernel = 3;
  int rounds = 5, calls = 200, jobs = 0, arch = 0;
  bool compile_only = false;
  KernelOptions kernel_options;
};

// One filter of a benchmark set, with its image size (batch still to set).
struct SetFilter {
  std::string file, name, set, sparsity;
  Filter filter;
};

// The filters to time: --filters (image size from --size, or DLMC's spatial sizes), else the sets. DLMC's
// 3x3 layers (bottleneck_2_*) are out x in*9; rn50_batchsizes.txt gives their output size, which in
// the DLMC ResNet-50 is their input size (stride 1, padding 1: the stride 2 of a block group is its first
// 1x1 layer's). The SparseRT filters come with sample inputs, C x H x W, convolved with padding 1.
std::vector<SetFilter> bench_filters(const BenchOptions& o) {
  const std::string data = data_dir();
  const std::string sizes_file = !o.sizes.empty() ? o.sizes : data + "/dlmc/rn50_batchsizes.txt";
  std::map<std::string, int64_t> spatial;
  if (fs::exists(sizes_file)) spatial = read_spatial_sizes(sizes_file);
  auto dlmc_size = [&](SetFilter& f) {
    auto it = spatial.find(f.name);
    if (!o.size.empty()) std::tie(f.filter.geometry.height, f.filter.geometry.width) = parse_size(o.size);
    else if (it != spatial.end()) {
      const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(it->second))));
      if (side * side != it->second) throw Error(Errc::format, fmt::format("{}: spatial size {} is not square", sizes_file, it->second));
      f.filter.geometry.height = f.filter.geometry.width = side;
    } else {
      throw Error(Errc::usage, fmt::format("{}: no spatial size in {}; give --size", f.file, sizes_file));
    }
    f.filter.geometry.padding = (f.filter.geometry.kernel_h - 1) / 2;
  };
  std::vector<SetFilter> out;
  if (!o.filters.empty()) {
    for (const auto& file : expand(o.filters)) {
      SetFilter f{file, layer_name(file), "files", "", load_filter(file, o.kernel, 1)};
      f.sparsity = sparsity_of(file, f.filter.w);
      dlmc_size(f);
      out.push_back(std::move(f));
    }
    return out;
  }
  if (data.empty()) throw Error(Errc::usage, "no --filters given and no data folder (set SPDNN_DATA_DIR)");
  for (const auto& set : o.sets) {
    if (set == "dlmc") {
      for (const auto& sparsity : o.sparsities)
        for (const auto& file : expand({fmt::format("{}/dlmc/rn50/magnitude_pruning/{}/bottleneck_2_*.smtx.gz", data, sparsity)})) {
          SetFilter f{file, layer_name(file), set, sparsity, load_filter(file, 3, 1)};
          dlmc_size(f);
          out.push_back(std::move(f));
        }
    } else if (set == "sparsert") {
      for (const char* level : {"90", "95"}) {
        const std::string sparsity = level == std::string("90") ? "0.9" : "0.95";
        if (std::find(o.sparsities.begin(), o.sparsities.end(), sparsity) == o.sparsities.end()) continue;
        for (const auto& file : expand({fmt::format("{}/sparsert/resnet50_3x3/{}/filter_bg*.npy.gz", data, level)})) {
          SetFilter f{file, layer_name(file), set, sparsity, load_filter(file, 3, 1)};
          std::string input = file;
          input.replace(input.rfind("filter_"), 7, "input_");
          const io::NpyArray a = io::read_npy(input);
          if (a.shape.size() != 3 || a.shape[0] != f.filter.geometry.channels)
            throw Error(Errc::mismatch, fmt::format("{}: expected C x H x W with C = {}", input, f.filter.geometry.channels));
          f.filter.geometry.height = a.shape[1], f.filter.geometry.width = a.shape[2], f.filter.geometry.padding = 1;
          out.push_back(std::move(f));
        }
      }
    } else {
      throw Error(Errc::usage, fmt::format("--set '{}': expected dlmc or sparsert", set));
    }
  }
  return out;
}

int bench_conv(const BenchOptions& o) {
  const std::vector<SetFilter> filters = bench_filters(o);
  SparseBenchOptions options;
  options.paths = o.paths;
  options.rounds = o.rounds;
  options.calls = o.calls;
  options.linear = o.kernel_options.linear();
  // Compile every kernel first, in parallel (NVRTC needs no GPU), so that timing runs alone.
  const bool specialized = std::find(o.paths.begin(), o.paths.end(), "specialized") != o.paths.end();
  const bool can_compile = options.linear.cache == KernelCacheMode::on && options.linear.specialize;
  if (o.compile_only && (!specialized || !can_compile))
    throw Error(Errc::usage, "--compile-only fills the kernel cache: it needs the specialized path and --cache on");
  std::vector<double> compile_s(filters.size(), 0.0);
  if (specialized && can_compile) {
    const int arch = o.arch > 0 ? o.arch : current_gpu_arch();
    std::vector<PrecompileConv2d> layers;
    for (const auto& f : filters) layers.push_back({&f.filter.w, nullptr, {f.filter.geometry}});  // any batch
    size_t modules = 0;
    compile_s = precompile_sparse_conv2ds(layers, arch, options.linear, o.jobs > 0 ? static_cast<unsigned>(o.jobs) : 0,
                                          compile_progress(&modules));
    if (o.compile_only) {
      fmt::print("compiled {} kernel modules for sm_{} into {}\n", modules, arch,
                 options.linear.cache_dir.empty() ? std::string("the default kernel cache") : options.linear.cache_dir.string());
      return kExitOk;
    }
  }
  json cases = json::array();
  std::string device, cudnn;
  size_t index = 0;
  const size_t total = filters.size() * o.batches.size();
  for (size_t i = 0; i < filters.size(); ++i)
    for (int batch : o.batches) {
      ++index;
      const SetFilter& f = filters[i];
      Conv2dShape s = f.filter.geometry;
      s.batch = batch;
      const auto t0 = std::chrono::steady_clock::now();
      const ConvBenchResult r = bench_sparse_conv2d(f.filter.w, s, options);
      device = r.device;
      if (!r.cudnn.empty()) cudnn = r.cudnn;
      json timings = json::object();
      std::string line;
      for (const auto& t : r.timings) {
        if (!t.error.empty()) timings[t.path] = {{"error", t.error}};
        else timings[t.path] = {{"plain_us", t.plain_us}, {"graph_us", t.graph_us}, {"max_rel_error", t.max_rel_error}};
        if (!t.note.empty()) timings[t.path]["note"] = t.note;
        line += t.error.empty() ? fmt::format(" {} {:.1f}", t.path, t.graph_us) : fmt::format(" {} failed", t.path);
      }
      fmt::print(stderr, "[{}/{}] {} {} {} nnz {} batch {}: {} |{} (us, graph) {:.1f} s\n", index, total, f.set, f.sparsity, f.name,
                 f.filter.w.nnz(), batch, r.report.path, line,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      json c = {{"filter", report_path(f.file)}, {"name", f.name}, {"set", f.set}, {"sparsity", f.sparsity}, {"shape", shape_json(s)},
                {"nnz", f.filter.w.nnz()}, {"batch", batch}};
      if (specialized) {
        c["kernel"] = json::parse(to_json(r.report));
        c["kernel"]["precompile_s"] = compile_s[i];
      }
      c["timings"] = timings;
      cases.push_back(c);
      // Rewritten after every case, so that an interrupted run keeps what it measured.
      json partial = report_header(device);
      partial.update(json{{"rounds", o.rounds}, {"calls", o.calls}, {"cudnn", cudnn}, {"complete", false}, {"cases", cases}});
      write_json_report(o.json, partial);
    }
  json j = report_header(device);
  j.update(json{{"rounds", o.rounds}, {"calls", o.calls}, {"cudnn", cudnn}, {"complete", true}, {"cases", cases}});
  write_json_report(o.json, j);
  fmt::print("{} convolutions timed{}\n", cases.size(), o.json.empty() ? "" : " into " + o.json);
  return kExitOk;
}

}  // namespace

Command add_sparse_conv_command(CLI::App& sparse) {
  auto* conv = sparse.add_subcommand("conv", "Pruned convolutions (NCHW, as torch.nn.Conv2d): kernels generated per filter");
  conv->require_subcommand(1);

  auto ro = std::make_shared<RunOptions>();
  auto* run = conv->add_subcommand("run", "Run one convolution Y = act(conv(X, W) + b): build or load its kernel, check it, time it");
  run->add_option("--filter", ro->filter, "Filter: .npy (K x C x R x S, or K x C*R*S) or DLMC .smtx (K x C*R*S), .gz accepted")
      ->required();
  run->add_option("--kernel", ro->kernel, "R = S of a filter stored as K x C*R*S")->capture_default_str()->check(positive());
  run->add_option("--input", ro->input, "Input X (.npy, C x H x W or N x C x H x W; default: random of --batch and --size)");
  run->add_option("--size", ro->size, "Image size HEIGHT or HEIGHTxWIDTH of the random input")->capture_default_str();
  run->add_option("--batch", ro->batch, "Images in the random input")->capture_default_str()->check(positive());
  run->add_option("--stride", ro->stride, "Stride")->capture_default_str()->check(positive());
  run->add_option("--padding", ro->padding, "Zero padding (default: (R - 1) / 2 x dilation, the same size at stride 1)")
      ->check(non_negative());
  run->add_option("--dilation", ro->dilation, "Dilation")->capture_default_str()->check(positive());
  run->add_option("--bias", ro->bias, "Bias (.npy, one value per out-channel)");
  run->add_flag("--relu", ro->relu, "Apply ReLU");
  run->add_option("--seed", ro->seed, "Seed of generated weight values (.smtx) and of the random input")->capture_default_str();
  run->add_option("--json", ro->json, "Write a JSON report here");
  ro->kernel_options.add_to(run);

  auto bo = std::make_shared<BenchOptions>();
  auto* bench = conv->add_subcommand("bench", "Time convolutions by every path: generated, generic, im2col, cuDNN fp32/TF32/fp16");
  bench->add_option("--filters", bo->filters, "Glob(s) of filter files (default: the sets of --set under the data folder)");
  bench->add_option("--set", bo->sets, "Sets: dlmc (ResNet-50 3x3 layers), sparsert (real pruned filters)")
      ->delimiter(',')->capture_default_str();
  bench->add_option("--sparsity", bo->sparsities, "Sparsities of the sets")->delimiter(',')->capture_default_str();
  bench->add_option("--batch", bo->batches, "Batch sizes")->delimiter(',')->capture_default_str();
  bench->add_option("--size", bo->size, "Image size of --filters without a DLMC spatial size: HEIGHT or HEIGHTxWIDTH");
  bench->add_option("--kernel", bo->kernel, "R = S of --filters stored as K x C*R*S")->capture_default_str()->check(positive());
  bench->add_option("--sizes", bo->sizes, "Spatial sizes file (default <data>/dlmc/rn50_batchsizes.txt)");
  bench->add_option("--paths", bo->paths, "Paths to time")->delimiter(',')->capture_default_str();
  bench->add_option("--rounds", bo->rounds, "Interleaved rounds (the median is reported)")->capture_default_str()->check(positive());
  bench->add_option("--calls", bo->calls, "Calls per timing and per CUDA graph")->capture_default_str()->check(positive());
  bench->add_option("--json", bo->json, "Write all results here");
  bench->add_option("--jobs", bo->jobs, "Threads compiling kernels before timing starts (default: all cores)")->check(non_negative());
  bench->add_flag("--compile-only", bo->compile_only,
                  "Only fill the kernel cache (no GPU needed with --arch): e.g. on a build machine for a GPU server");
  bench->add_option("--arch", bo->arch, "Compute capability to compile for, e.g. 90 (default: the current GPU's)")
      ->check(CLI::Range(50, 200));
  bo->kernel_options.add_to(bench);

  return [run, ro, bo]() -> int { return run->parsed() ? run_conv(*ro) : bench_conv(*bo); };
}

}  // namespace spdnn::app
