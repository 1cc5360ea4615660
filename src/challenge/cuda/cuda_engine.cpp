// The `cuda` engine: the HPEC 2020 design (Hidayetoglu et al.) on one GPU, exact and without host
// round trips inside a batch. A run is four named steps:
//   1. layer_pack    each layer -> sliced ELL (sliced_ell.hpp) -> one packed blob
//   2. memory_plan   weights resident, or streamed through two device slots; the batch size
//   3. LayerLoop     the device state of the plan (layer_loop.hpp)
//   4. LayerLoop::run  each batch: densify, one layer kernel launch per layer (in CUDA graphs), balancing
//                    meetings with the engines that share a problem, one synchronization to read back
// (Kernels live in kernels.cu; this file is plain C++ against the CUDA runtime.)
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "challenge/cuda/column_layout.hpp"
#include "challenge/cuda/engine_factory.hpp"
#include "challenge/cuda/kernels.hpp"
#include "challenge/cuda/layer_loop.hpp"
#include "challenge/cuda/layer_pack.hpp"
#include "challenge/cuda/memory_plan.hpp"
#include "challenge/cuda/sliced_ell.hpp"
#include "core/env.hpp"
#include "cuda/check.hpp"
#include "cuda/device.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

namespace {

// The layer kernels a layer may get, in order of preference (sliced_ell.hpp: layout_layer takes the first
// whose merged input lists cost at most kMaxPaddedWork times the nonzeros and whose layout fits it).
// {16 rows, 256 threads, 1 output, 512-input chunks}: 32 KB of shared memory, four blocks per SM; 16 rows
// make four float4 reads per staged slot. 512 inputs hold the footprint of a 256-output tile of 32-input
// columns grouped by input set (RadiX-Net: 16 groups x 32 inputs); 1024 (64 KB, three blocks) measured
// 38.8 / 50.2 TE/s at 1024 / 4096 x 120. Several outputs a thread (SPDNN_LAYER_KERNEL=16,64,4) measured
// slower on every network (bench/results/layer_kernels_h200.md), so they are not candidates.
constexpr LayerKernelConfig kGeneralKernel{16, 256, 1, 512, 0};
// The same shape holding 32 steps a thread in registers, for layers whose tiles are one chunk of at most
// 32 steps (RadiX-Net's), on networks whose layers average more than kHeldFrom nonzeros: there the
// general kernel re-reads 6 bytes a nonzero from L2 every 16 rows, and holding them made the steady state
// 1.36x faster at 65536 x 120 (3.2 -> 2.4 ms a layer, H100); at 4096 x 480, whose weights stay in cache,
// it was 0.91x (bench/results/layer_kernels_h100.md).
constexpr LayerKernelConfig kHeldKernel{16, 256, 1, 512, 32};
constexpr int64_t kHeldFrom = int64_t{1} << 20;

// The feature-major candidates (column_layout.hpp), in order of preference: groups of 16 outputs over one
// merged input list, then 4, then single outputs (choose_layer_kernel takes the first that pads little);
// slices of 64 rows (2 a lane), 8 groups a block. The engine lays out general-mode networks whose layers
// average at least kColumnsFrom nonzeros and whose outputs share input lists (groups_share_inputs; single
// outputs were not measured against the sliced-ELL kernels) this way (not with balancing meetings, which
// move rows): on an
// H100 it measured 1.41x (4096 x 480), 1.81x (16384 x 480) and 1.87x (65536 x 120) the sliced-ELL
// kernels, and 0.87x at 1024 x 120, whose layers are too small to fill the GPU this way
// (bench/results/general_peers_columns_h100.md).
// Each warp stages 16 steps' inputs and weights by bulk copies, a stage ahead of its multiplies
// (column_staged_kernel.cuh): 100.0 against 86.8 TE/s at 65536 x 120 and 101.8 against 89.6 at 16384 x 120
// reading them directly (H100, same call; a steady-state layer at 65536 x 120 0.59 against 0.82 ms;
// bench/results/general_designs_s30_h100.md). Groups of 4 and 1 are staged alike, tested but not timed.
// SPDNN_LAYER_KERNEL=columns,64,256,16 reads directly.
constexpr LayerKernelConfig kColumnKernels[] = {{64, 256, 16, 0, 0, false, true, 16},
                                                {64, 256, 4, 0, 0, false, true, 16},
                                                {64, 256, 1, 0, 0, false, true, 16}};
constexpr int64_t kColumnsFrom = int64_t{1} << 17;

// The candidates for a network, in order of preference: the feature-major ones for general mode from
// kColumnsFrom nonzeros a layer (without meetings), else the sliced-ELL ones. In structure mode, where the
// layers after the first read only the previous layer's groups, the general kernel goes first where a tile is
// one chunk, then the whole-row kernel: at 16384 and 65536 neurons (1024 and 4096 groups) a RadiX-Net
// period's permuted inputs spread a tile over 10-13 narrow chunks, and a steady-state layer of one merged row
// took 56-70 us; whole rows took 24-34 us there, and 20 vs 27-36 us where narrow tiles are one chunk (H100,
// bench/results/structure_kernels_h100.md).
// SPDNN_LAYER_KERNEL="rows,threads,outputs[,chunk[,register steps]]" forces one kernel on every layer that
// it fits, and the general one on the rest (for measurements); "columns" the feature-major candidates and
// "columns,rows,threads,outputs[,held positions[,staged steps]]" one feature-major kernel, in general
// mode (structure mode keeps its own).
// bulk_copies: the device has them (compute capability 9 and up); without, the feature-major kernels
// read their inputs directly.
std::vector<LayerKernelConfig> layer_kernels(const Network& net, const NeuronGroups* groups, size_t shared_limit,
                                             bool meetings, bool bulk_copies) {
  const char* env = std::getenv("SPDNN_LAYER_KERNEL");
  if ((env == nullptr || *env == '\0') && groups == nullptr && !meetings && net.num_layers() > 0 &&
      net.edges() / net.num_layers() >= kColumnsFrom && groups_share_inputs(net))
    env = "columns";
  const bool columns = env != nullptr && std::string(env).starts_with("columns");
  if (columns && groups != nullptr) env = nullptr;
  if (columns && groups == nullptr) {
    if (std::string(env) == "columns") {
      std::vector<LayerKernelConfig> kernels(std::begin(kColumnKernels), std::end(kColumnKernels));
      if (!bulk_copies)
        for (LayerKernelConfig& k : kernels) k.stage_steps = 0;
      return kernels;
    }
    LayerKernelConfig c{0, 0, 0, 0, 0, false, true};
    if (std::sscanf(env, "columns,%d,%d,%d,%d,%d", &c.rows, &c.threads, &c.outputs_per_thread, &c.chunk_capacity,
                    &c.stage_steps) < 3 ||
        !has_layer_kernel(c))
      throw Error(Errc::usage, fmt::format("SPDNN_LAYER_KERNEL={}: no feature-major kernel of that shape "
                                           "(columns,rows,threads,outputs[,held positions[,staged steps]])", env));
    if (c.stage_steps > 0 && !bulk_copies)
      throw Error(Errc::usage, fmt::format("SPDNN_LAYER_KERNEL={}: staged steps need a GPU of compute capability 9.0 "
                                           "or later (bulk copies)", env));
    return {c};
  }
  if (env == nullptr || *env == '\0') {
    std::vector<LayerKernelConfig> kernels;
    if (net.num_layers() > 0 && net.edges() / net.num_layers() > kHeldFrom) kernels.push_back(kHeldKernel);
    if (groups != nullptr) {
      int32_t width = 0;  // positions a layer after the first reads
      for (size_t l = 0; l + 1 < groups->layers.size(); ++l) width = std::max(width, groups->layers[l].groups());
      if (const auto wide = whole_row_kernel(width, shared_limit); wide && width > kGeneralKernel.chunk_capacity) {
        LayerKernelConfig single = kGeneralKernel;
        single.single_chunk = true;
        kernels.push_back(single);
        kernels.push_back(*wide);
      }
    }
    kernels.push_back(kGeneralKernel);
    return kernels;
  }
  LayerKernelConfig c;
  if (std::sscanf(env, "%d,%d,%d,%d,%d", &c.rows, &c.threads, &c.outputs_per_thread, &c.chunk_capacity,
                  &c.register_steps) < 3 ||
      !has_layer_kernel(c))
    throw Error(Errc::usage, fmt::format("SPDNN_LAYER_KERNEL={}: no layer kernel of that shape "
                                         "(rows,threads,outputs[,chunk[,register steps]])", env));
  if (c.register_steps == 0) return {c};
  return {c, kGeneralKernel};
}

// Structure mode's first layer, where the inputs go as bits: the feature-major candidates over its groups
// of equivalent neurons (reading the bits directly: no dense inputs to clear and fill), its output
// transposed into the rows the sliced-ELL layers after it read. SPDNN_FIRST_LAYER=rows keeps it sliced
// ELL (for comparisons); =words runs it a lane a word (run_typed).
std::vector<LayerKernelConfig> structure_first_layer_kernels(const NeuronGroups* groups) {
  if (groups == nullptr || env_equals("SPDNN_FIRST_LAYER", "rows")) return {};
  std::vector<LayerKernelConfig> kernels(std::begin(kColumnKernels), std::end(kColumnKernels));
  for (LayerKernelConfig& k : kernels) k.stage_steps = 0;  // bits are read directly (see run_typed)
  return kernels;
}

// Marks the feature-major layers whose products are exact (exact_products.hpp) to multiply-add with one
// rounding, and returns how many: the first layer's inputs are `input_value` (bits) or unknown, a later
// layer's are the previous layer's outputs. SPDNN_EXACT_FMA=0 turns it off, for comparisons.
int mark_fused_layers(PackedNetwork& packed, const Network& net, std::optional<float> input_value) {
  if (env_equals("SPDNN_EXACT_FMA", "0")) return 0;
  int fused = 0;
  for (size_t l = 0; l < packed.layout.size(); ++l) {
    BlobLayout& b = packed.layout[l];
    if (!b.kernel.feature_major) continue;
    const float smallest = l == 0 ? std::fabs(input_value.value_or(0.0f)) : smallest_output(net.bias);
    const float largest = l == 0 ? std::fabs(input_value.value_or(0.0f)) : net.clip;
    b.fused = products_exact(b.exponents, smallest, largest);
    fused += b.fused ? 1 : 0;
  }
  return fused;
}

// The one value every stored input entry has (bit for bit), when the inputs go to the first layer as
// bits (LayerArgs::in_bits) and there is one. Feature-major first layers (general mode's, and structure
// mode's) read them so unless SPDNN_INPUT_BITS=0: a warp's 32 rows are one word. A sliced-ELL first layer
// only when SPDNN_INPUT_BITS=1:
// their staging from bits measured slower than from floats at 16384 and 65536 neurons, more than the
// clearing and filling it saves (bench/results/structure_kernels_h100.md).
std::optional<float> bits_input_value(const Features& x, bool feature_major) {
  const std::vector<float>& v = x.matrix.values;
  const bool wanted = feature_major ? !env_equals("SPDNN_INPUT_BITS", "0") : env_equals("SPDNN_INPUT_BITS", "1");
  if (!wanted || v.empty()) return std::nullopt;
  const auto first = std::bit_cast<uint32_t>(v.front());
  for (float f : v)
    if (std::bit_cast<uint32_t>(f) != first) return std::nullopt;
  return v.front();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

class CudaEngine final : public Engine {
 public:
  explicit CudaEngine(int device) : device_(device) { SPDNN_CUDA_CHECK(cudaGetDeviceProperties(&prop_, device)); }

  std::string name() const override { return "cuda"; }
  std::string device() const override {
    return fmt::format("GPU: {} ({} SMs, {:.0f} GiB)", prop_.name, prop_.multiProcessorCount,
                       prop_.totalGlobalMem / 1073741824.0);
  }
  std::optional<std::string> cannot_run(const Network& net, const Features& x) const override {
    if (x.neurons() != net.neurons) return fmt::format("inputs have {} neurons, the network {}", x.neurons(), net.neurons);
    if (x.count() >= INT32_MAX) return std::string("more than 2^31 inputs");
    return std::nullopt;
  }

  bool has_structure_mode() const override { return true; }

  // Structure mode here computes one output per group of equivalent neurons (layer_pack.hpp) and
  // merges rows that become equal (row_merge.hpp; SPDNN_MERGE_ROWS=0: not); balancing meetings are skipped.
  RunResult run(const Network& net, const Features& x, const RunOptions& opt) override {
    if (auto why = cannot_run(net, x)) throw Error(Errc::mismatch, "cuda engine: " + *why);
    SPDNN_CUDA_CHECK(cudaSetDevice(device_));
    std::optional<StructurePlan> plan;
    if (opt.mode != Mode::general) plan = plan_structure(net, opt.mode, opt.threads);
    const NeuronGroups* groups = plan && plan->groups ? &*plan->groups : nullptr;
    const std::vector<char> no_clip_rows;
    const std::vector<char>& clip_kept = plan ? plan->clip_kept : no_clip_rows;
    RowsFound found;
    RunResult r = opt.half_weights ? run_typed<__half>(net, x, opt, groups, clip_kept, found)
                                   : run_typed<float>(net, x, opt, groups, clip_kept, found);
    if (plan) {
      r.preprocess_s += plan->report.discovery_s;
      if (groups != nullptr) plan->report.distinct_rows = std::move(found.distinct_rows);
      plan->report.carried_at_clip = std::move(found.carried_at_clip);
      r.structure = std::move(plan->report);
    }
    return r;
  }

 private:
  // What structure mode found in the rows: the rows computed per layer (merged rows once) and the inputs
  // carried at the clip per layer (empty: not carried).
  struct RowsFound {
    std::vector<int64_t> distinct_rows, carried_at_clip;
  };
  // `clip_kept`: StructurePlan::clip_kept (empty: rows are not carried).
  template <class Weight>
  RunResult run_typed(const Network& net, const Features& x, const RunOptions& opt, const NeuronGroups* groups,
                      const std::vector<char>& clip_kept, RowsFound& found);

  int device_;
  cudaDeviceProp prop_{};
};

template <class Weight>
RunResult CudaEngine::run_typed(const Network& net, const Features& x, const RunOptions& opt,
                                const NeuronGroups* groups, const std::vector<char>& clip_kept, RowsFound& found) {
  const std::vector<LayerKernelConfig> kernels =
      layer_kernels(net, groups, prop_.sharedMemPerBlockOptin, opt.exchange && !opt.exchange_after.empty(), prop_.major >= 9);
  for (const LayerKernelConfig& k : kernels)
    if (!has_layer_kernel(k))
      throw Error(Errc::unsupported, fmt::format("no layer kernel for {} rows x {} threads x {} outputs", k.rows, k.threads,
                                                 k.outputs_per_thread));
  const int32_t layers = net.num_layers();
  const auto t_pre = std::chrono::steady_clock::now();
  RunResult result;
  ExecutionInfo info;
  info.half_weights = std::is_same_v<Weight, __half>;
  // Structure mode merges equal rows (row_merge.hpp); SPDNN_MERGE_ROWS=0 turns that off, for comparisons.
  const bool merge_rows = groups != nullptr && !env_equals("SPDNN_MERGE_ROWS", "0");

  // Balancing meetings (partitioned runs) after these layer counts: rows leave and arrive in neuron order,
  // so the physical order of the features there is kept too.
  std::vector<int32_t> meet;
  if (opt.exchange && groups == nullptr)
    for (int32_t k : opt.exchange_after)
      if (k >= 1 && k < layers) meet.push_back(k);
  const bool feature_major = kernels.front().feature_major;
  std::vector<LayerKernelConfig> first = structure_first_layer_kernels(groups);
  const std::optional<float> input_value = bits_input_value(x, feature_major || !first.empty());
  if (!input_value) first.clear();
  // Rows alone (row_tail.hpp) read output lists, packed only where they may run.
  PackedNetwork packed = pack_network<Weight>(net, meet, kernels, groups, first, row_tail_start() > 0 && !feature_major);
  info.half_weights_exact = packed.exact;
  // SPDNN_FIRST_LAYER=counts: that first layer as counts of on inputs where its weights are one value
  // (first_layer_counts.hpp; opt-in until it has run on a GPU), stored exactly (the table uses them).
  if (packed.first_columns && packed.exact && input_value && env_equals("SPDNN_FIRST_LAYER", "counts"))
    packed.first_counts = plan_first_layer_counts(net.layers.front(), &groups->layers.front(), packed.first_order,
                                                  *input_value, net.bias, net.clip);
  // Which kernels the layers got: "sliced-ELL 16 rows x 256 threads x 1 output, 32 steps in registers,
  // 512-input chunks (110 layers); 16 rows x 256 threads x 1 output, 512-input chunks (10 layers); fp32 weights"
  // "feature-major 64 rows x 256 threads x 16 outputs a group (120 layers); fp32 weights"
  std::string shapes;
  for (const LayerKernelConfig& k : kernels) {
    const auto used = std::count_if(packed.layout.begin(), packed.layout.end(), [&](const BlobLayout& b) { return b.kernel == k; });
    if (used == 0) continue;
    const std::string layers_used = fmt::format("{} layer{}", used, used == 1 ? "" : "s");
    if (feature_major)
      shapes += fmt::format("{}{} rows x {} threads x {} output{} a group{} ({})", shapes.empty() ? "" : "; ", k.rows,
                            k.threads, k.outputs_per_thread, k.outputs_per_thread == 1 ? "" : "s",
                            k.chunk_capacity > 0 ? fmt::format(", {} positions held a warp", k.chunk_capacity)
                            : k.stage_steps > 0  ? fmt::format(", {} steps staged a warp", k.stage_steps)
                                                 : "",
                            layers_used);
    else
      shapes += fmt::format("{}{} rows x {} threads x {} output{}{}, {}-input chunks ({})", shapes.empty() ? "" : "; ",
                            k.rows, k.threads, k.outputs_per_thread, k.outputs_per_thread == 1 ? "" : "s",
                            k.register_steps > 0 ? fmt::format(", {} steps in registers", k.register_steps) : "",
                            k.chunk_capacity, layers_used);
  }
  info.kernel = fmt::format("{} {}; {} weights{}", feature_major ? "feature-major" : "sliced-ELL", shapes,
                            info.half_weights ? "fp16" : "fp32",
                            groups == nullptr ? ""
                            : merge_rows      ? ", one output per neuron group, equal rows merged"
                                              : ", one output per neuron group");

  // The inputs that can be active at all (nonempty rows), in id order.
  std::vector<int32_t> rows;
  for (int64_t r = 0; r < x.count(); ++r)
    if (x.matrix.row_nnz(r) > 0) rows.push_back(static_cast<int32_t>(r));

  size_t free_bytes = 0, total_bytes = 0;
  SPDNN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (packed.first_counts) {
    info.kernel += ", first layer as counts of on inputs (one table of sums)";
  } else if (packed.first_columns) {
    const LayerKernelConfig& k = packed.layout.front().kernel;
    info.kernel += fmt::format(", first layer feature-major {} rows x {} threads x {} output{} a group, transposed", k.rows,
                               k.threads, k.outputs_per_thread, k.outputs_per_thread == 1 ? "" : "s");
  }
  if (input_value) info.kernel += ", inputs as bits";
  if (const int fused = mark_fused_layers(packed, net, input_value); fused > 0)
    info.kernel += fmt::format(", exact fused multiply-adds ({} layer{})", fused, fused == 1 ? "" : "s");
  // A first layer of bits reads its 4-byte words directly: staged, two blocks an SM instead of three made it
  // 1.33x slower (65536 x 120, H100). Set after the description, which counts it with its staged shape.
  if (input_value && !packed.layout.empty()) packed.layout.front().kernel.stage_steps = 0;
  const MemoryPlan plan = plan_memory(free_bytes, packed.total_bytes(), packed.max_blob, net.neurons,
                                      static_cast<int64_t>(rows.size()), x.nnz(), opt, input_value.has_value());
  info.weights_streamed = plan.weights_streamed;
  info.batch_inputs = plan.batch;
  info.batches = plan.batches;
  // Rows can move only while every row of this part is on the device at once, and in the rows layout.
  if (opt.exchange && (plan.batches != 1 || feature_major)) meet.clear();
  if (opt.exchange && meet.empty()) opt.exchange->leave();

  // Rows at the clip are carried where every later layer keeps them there (clip_row_kept), in the row
  // merges: bit for bit only where the weights are (fp16 weights that round are not).
  const bool carry_rows = merge_rows && packed.exact && !clip_kept.empty();
  if (carry_rows) info.kernel += ", rows at the clip carried";
  LayerLoop<Weight> loop(prop_, net, x, opt, packed, plan, meet, std::move(rows), merge_rows, input_value,
                         carry_rows ? clip_kept : std::vector<char>{});
  if (loop.row_tail_from() < layers)
    info.kernel += fmt::format(", rows alone from layer {} ({} a block)", loop.row_tail_from() + 1, loop.row_tail_rows());
  result.preprocess_s = seconds_since(t_pre);
  loop.run(result);
  if (loop.stopped_on_device()) info.kernel += ", batches stop on the device";
  found.distinct_rows = loop.distinct_rows();
  found.carried_at_clip = loop.carried_at_clip();
  if (opt.on_layer) opt.on_layer(layers, layers);
  result.execution = info;
  return result;
}

}  // namespace

std::unique_ptr<Engine> make_cuda_engine(std::string* why, int device_hint) {
  if (auto problem = why_no_cuda_device()) {
    if (why != nullptr) *why = *problem;
    return nullptr;
  }
  int count = 0;
  SPDNN_CUDA_CHECK(cudaGetDeviceCount(&count));
  int device = 0;
  if (device_hint >= 0) SPDNN_CUDA_CHECK(cudaSetDevice(device_hint % count));
  SPDNN_CUDA_CHECK(cudaGetDevice(&device));
  return std::make_unique<CudaEngine>(device);
}

std::unique_ptr<Engine> make_cuda_engine_on(int device) {
  const int count = cuda_device_count();
  if (device < 0 || device >= count)
    throw Error(Errc::usage, fmt::format("GPU {} does not exist: {} GPU{} visible", device, count, count == 1 ? " is" : "s are"));
  return std::make_unique<CudaEngine>(device);
}

}  // namespace spdnn::cuda
