// The shared parts of the sparse subcommands (see sparse_options.hpp).
#include "sparse_options.hpp"

#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "json_report.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/weights.hpp"

namespace spdnn::app {

namespace fs = std::filesystem;

std::string data_dir() {
  if (const char* env = std::getenv("SPDNN_DATA_DIR"); env != nullptr && *env != '\0') return env;
  return SPDNN_DEFAULT_DATA_DIR;
}

CsrMatrix load_weights(const std::string& path, uint64_t seed) {
  std::string name = fs::path(path).filename().string();
  if (name.ends_with(".gz")) name.resize(name.size() - 3);
  if (name.ends_with(".smtx")) return io::read_smtx(path, seed);
  if (name.ends_with(".npy")) return io::npy_to_csr(io::read_npy(path), path);
  throw Error(Errc::usage, fmt::format("{}: expected a .smtx or .npy file (optionally .gz)", path));
}

std::string report_path(const std::string& path) {
  const std::string data = data_dir();
  if (data.empty()) return path;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(data, ec), file = fs::weakly_canonical(path, ec);
  if (ec) return path;
  const fs::path relative = file.lexically_relative(root);
  return relative.empty() || *relative.begin() == ".." ? path : relative.generic_string();
}

std::function<void(size_t, size_t)> compile_progress(size_t* modules) {
  return [modules, start = std::chrono::steady_clock::now()](size_t done, size_t total) {
    if (modules != nullptr) *modules = total;
    fmt::print(stderr, "compiling kernels: {}/{} modules, {:.0f} s\n", done, total,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  };
}

void compile_with_progress(const LayerSizes& layer) { precompile_layers({layer}, 0, compile_progress()); }

std::string layer_name(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  for (const char* ext : {".gz", ".smtx", ".npy"})
    if (name.ends_with(ext)) name.resize(name.size() - std::string_view(ext).size());
  return name;
}

std::string report_line(const SparseLinearReport& r) {
  std::string s = r.path == "specialized" ? "specialized (" + to_string(r.config) + ")" : fmt::format("generic ({})", r.reason);
  return s + fmt::format("; generate {:.2f} s, compile {:.2f} s ({} modules), tune {:.2f} s, {} cache hits", r.generate_seconds,
                         r.compile_seconds, r.modules_compiled, r.tune_seconds, r.cache_hits);
}


std::vector<std::string> expand(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  for (const auto& pattern : patterns) {
    glob_t g{};
    const int status = glob(pattern.c_str(), 0, nullptr, &g);
    if (status == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    if (status != 0 && fs::exists(pattern)) files.push_back(pattern);
    else if (status != 0) throw Error(Errc::io, fmt::format("{}: no matrix matches", pattern));
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

std::map<std::string, int64_t> read_spatial_sizes(const std::string& path) {
  std::map<std::string, int64_t> sizes;
  std::ifstream in(path);
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto comma = line.find(',');
    if (line.empty()) continue;
    try {
      if (comma == std::string::npos) throw std::invalid_argument("no comma");
      sizes[line.substr(0, comma)] = std::stoll(line.substr(comma + 1));
    } catch (const std::exception&) {
      throw Error(Errc::format, fmt::format("{}:{}: expected 'layer,size'", path, number));
    }
  }
  return sizes;
}

std::string sparsity_of(const std::string& path, const CsrMatrix& w) {
  const std::string dir = fs::path(path).parent_path().filename().string();
  if (!dir.empty() && std::all_of(dir.begin(), dir.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }))
    return dir;
  return fmt::format("{:.3f}", 1.0 - static_cast<double>(w.nnz()) / std::max<double>(1, static_cast<double>(w.rows * w.cols)));
}

int finish_layer_run(const SparseLinearReport& r, double error, double plain_us, double graph_us,
                     const nlohmann::ordered_json& layer, const std::string& json_path) {
  const bool ok = error <= 1e-5;
  fmt::print("check       max |y - ref| / max |ref| = {:.2e} against float64: {}\n", error, ok ? "passed" : "FAILED");
  fmt::print("time        {:.2f} us per call back to back, {:.2f} us in a CUDA graph\n", plain_us, graph_us);
  nlohmann::ordered_json j = report_header(r.device);
  j.update(layer);
  j.update(nlohmann::ordered_json{{"kernel", nlohmann::ordered_json::parse(to_json(r))}, {"max_rel_error", error}, {"passed", ok},
                                  {"plain_us", plain_us}, {"graph_us", graph_us}});
  write_json_report(json_path, j);
  return ok ? kExitOk : kExitVerificationFailed;
}

}  // namespace spdnn::app
