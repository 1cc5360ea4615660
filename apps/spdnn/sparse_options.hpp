// What `spdnn sparse run`, `bench` and `conv` share: the options that say how a generated kernel is
// obtained, and the reading of weight files, DLMC spatial sizes and file lists.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "spdnn/csr.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn::app {

// How the specialized kernel is obtained (every sparse subcommand takes these).
struct KernelOptions {
  std::string cache = "on", cache_dir;
  bool no_tune = false, generic = false, no_dependent_launch = false, no_fixed_stride = false, inline_ptx = true;
  int64_t max_unroll = SparseLinearOptions{}.max_unrolled_nnz;
  std::string config;  // name=value pairs (include/spdnn/sparse/kernel_config.hpp)
  std::vector<std::string> nvrtc_options;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--cache", cache, "Kernel cache: off, load-only or on")->capture_default_str();
    cmd->add_option("--cache-dir", cache_dir, "Kernel cache folder (default $SPDNN_KERNEL_CACHE or ~/.cache/spdnn/kernels)");
    cmd->add_flag("--no-tune", no_tune, "Use the first candidate configuration instead of timing a few");
    cmd->add_flag("--generic", generic, "Never generate code: the generic CSR kernel only");
    cmd->add_flag("--no-dependent-launch", no_dependent_launch,
                  "Launch as plain stream-ordered kernels, not with programmatic dependent launch");
    cmd->add_flag("--no-fixed-stride", no_fixed_stride,
                  "Generated kernels take N as an argument (one compiled set serves every N) instead of compiling it in");
    cmd->add_option("--max-unroll", max_unroll, "Matrices with more nonzeros use the generic kernel")->capture_default_str()
        ->check(non_negative());
    cmd->add_option("--nvrtc-option", nvrtc_options,
                    "An extra NVRTC option for every generated kernel, e.g. -Ofc=min (compiles about twice as fast; "
                    "part of the cache key); repeatable")
        ->allow_extra_args(false);
    cmd->add_flag("--inline-ptx,!--no-inline-ptx", inline_ptx,
                  "Generated group functions written as inline PTX (the default: the same code, compiled 2.4x "
                  "faster or more), or as C++ statements (--no-inline-ptx)");
    cmd->add_option("--config", config,
                    "A fixed kernel configuration instead of tuning: name=value pairs, e.g. rows=32,threads=512,bound=512,"
                    "block_slices=4,prefetch=32,fixed_n=1 (fields: " + kernel_config_field_names() +
                        "; unnamed ones keep their defaults)");
  }
  SparseLinearOptions linear() const {
    SparseLinearOptions o;
    o.cache = parse_kernel_cache_mode(cache);
    o.cache_dir = cache_dir;
    o.tune = !no_tune;
    o.specialize = !generic;
    o.max_unrolled_nnz = max_unroll;
    o.dependent_launch = !no_dependent_launch;
    o.fixed_stride = !no_fixed_stride;
    o.compiler_options = nvrtc_options;
    o.inline_ptx = inline_ptx;
    if (!config.empty()) o.config = parse_kernel_config(config);
    return o;
  }
};

// The data folder: $SPDNN_DATA_DIR, else the one found at configure time.
std::string data_dir();

// A file as benchmark reports name it: relative to the data folder when inside it ("dlmc/rn50/..."), so
// that results carry no machine paths; else as given.
std::string report_path(const std::string& path);

// A weight matrix from .smtx (DLMC pattern, values seeded by `seed`) or 2-D .npy (dense with zeros), .gz
// accepted.
CsrMatrix load_weights(const std::string& path, uint64_t seed);

// A weight file's name without its folder and extensions (".../x.smtx.gz" -> "x").
std::string layer_name(const std::string& path);

// The progress of a compile on a pool of threads: "compiling kernels: i/n modules, t s" on stderr when it
// starts (i = 0) and as modules finish (a large filter's module takes minutes); `*modules` (optional) gets n.
std::function<void(size_t, size_t)> compile_progress(size_t* modules = nullptr);

// Compiles what the first prepare() of `layer` for `size` would, on all cores, with compile_progress;
// nothing where all is cached.
void compile_with_progress(const LayerSizes& layer);

// How a layer got its kernel, one line for the terminal.
std::string report_line(const SparseLinearReport& r);

// The end of `spdnn sparse run` and `sparse conv run`: prints the check (the error against float64,
// passing at 1e-5) and the times, writes the JSON report (when `json_path` is given): the header, `layer`
// (what was run), then the kernel, the error, the verdict and the times. Returns the exit code.
int finish_layer_run(const SparseLinearReport& r, double error, double plain_us, double graph_us,
                     const nlohmann::ordered_json& layer, const std::string& json_path);

// The files matching glob `patterns` (each may also be a plain path), sorted, each once; a pattern that
// matches nothing is Error(io).
std::vector<std::string> expand(const std::vector<std::string>& patterns);

// rn50_batchsizes.txt: "layer,spatial size" lines (the dense operand's columns at batch 1).
std::map<std::string, int64_t> read_spatial_sizes(const std::string& path);

// The sparsity folder of a DLMC path (".../magnitude_pruning/0.9/x.smtx.gz" -> "0.9"), else computed.
std::string sparsity_of(const std::string& path, const CsrMatrix& w);

}  // namespace spdnn::app
