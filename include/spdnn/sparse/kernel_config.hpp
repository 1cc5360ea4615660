// The one configuration type of the generated sparse-linear kernels: how a kernel maps the rows of W and
// the columns of X to threads. Its fields by name, its checks (with reasons), and its text form
// `rows=32,cols=1,threads=128,...` (the CLI's --config, reports, tuning records and cache keys) all come
// from kKernelConfigFields below.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace spdnn {

// Each thread computes `rows` consecutive rows of Y (a row group) for `cols` adjacent columns, so every
// X value it loads serves all nonzeros of those rows in that column of W; what the other fields change,
// and the measurements behind them, is in docs/generated-kernels.md.
struct KernelConfig {
  int rows = 16;            // rows of W per group, 1..128
  int cols = 1;             // adjacent columns of X per thread (1, 2 or 4; N must be a multiple of it)
  int threads = 128;        // threads per block: a launch parameter, so one module serves every width
  int cluster_slices = 1;   // K split over a thread-block cluster (1, 2, 4, 8; sm_90 and later)
  int prefetch = 0;         // loads written this many columns ahead of their multiply-adds (0..64)
  int bound = 256;          // the launch bound, 256, 512 or 1024 threads (registers <= 65536 / bound)
  int block_slices = 1;     // K split within a block: sets of threads / S, each a slice (1, 2, 4, 8)
  int block_groups = 1;     // row groups within a block: sets of threads / G, each a group (1, 2, 4, 8)
  int fixed_n = 0;          // 1: the call's N is compiled in (the module serves that N only); 0: an argument

  bool operator==(const KernelConfig&) const = default;
};

// A field by name: its member, what it means, and whether it is a launch parameter (the same compiled
// module serves every value of it).
struct KernelConfigField {
  std::string_view name;
  int KernelConfig::*member;
  std::string_view meaning;
  bool launch = false;
};
inline constexpr std::array<KernelConfigField, 9> kKernelConfigFields{{
    {"rows", &KernelConfig::rows, "rows of W per group (1..128)"},
    {"cols", &KernelConfig::cols, "adjacent columns of X per thread (1, 2, 4)"},
    {"threads", &KernelConfig::threads, "threads per block (a multiple of 32, at most the bound)", true},
    {"cluster_slices", &KernelConfig::cluster_slices, "K split over a thread-block cluster (1, 2, 4, 8)"},
    {"prefetch", &KernelConfig::prefetch, "loads written this many columns ahead (0..64)"},
    {"bound", &KernelConfig::bound, "launch bound in threads (256, 512, 1024)"},
    {"block_slices", &KernelConfig::block_slices, "K split within a block (1, 2, 4, 8)"},
    {"block_groups", &KernelConfig::block_groups, "row groups within a block (1, 2, 4, 8)"},
    {"fixed_n", &KernelConfig::fixed_n, "1: the call's N compiled in; 0: N an argument"},
}};

// Why the emitter cannot produce `config`, or nullopt when it can.
std::optional<std::string> why_invalid(const KernelConfig& config);
// Throws Error(usage) "kernel config <text>: <reason>" for a configuration the emitter cannot produce.
void validate(const KernelConfig& config);

// `name=value` pairs separated by commas, in any order; fields not named keep their defaults. Throws
// Error(usage) naming the offending pair for an unknown name, a repeated name or a value that is not an
// integer, and (validate) for a configuration the emitter cannot produce.
KernelConfig parse_kernel_config(std::string_view text);
// Every field, in the order of kKernelConfigFields: parse_kernel_config(to_string(c)) == c.
std::string to_string(const KernelConfig& config);
// The fields' names, "rows, cols, threads, ...", for messages and help.
std::string kernel_config_field_names();

// The module a configuration compiles to: its launch parameters at their defaults.
KernelConfig module_of(const KernelConfig& config);

// The K slices of a group's code wherever they run (1: no split), and the sets of threads of a block
// (each a slice or a row group).
inline int slices_of(const KernelConfig& c) { return c.cluster_slices * c.block_slices; }
inline int thread_sets(const KernelConfig& c) { return c.block_slices * c.block_groups; }

// An untuned layer's block width: `config.threads` (its first candidate's), halved down to 128 threads
// (whole warps per thread set) while `blocks(threads)`, its grid at that width, is smaller than `sms`.
int untuned_threads(const KernelConfig& config, int sms, const std::function<int64_t(int threads)>& blocks);

}  // namespace spdnn
