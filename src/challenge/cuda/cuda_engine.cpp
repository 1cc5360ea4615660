// The `cuda` engine: the HPEC 2020 design (Hidayetoglu et al.) on one GPU, exact and without host
// round trips inside a batch.
//
//   preprocess  each layer -> sliced ELL (sliced_ell.hpp) -> one packed blob; all blobs go to the
//               device, or, when they do not fit (or streaming is forced), stay in pinned host memory
//               and stream through two device slots on a copy stream, overlapped with compute.
//   (Kernels live in kernels.cu; this file is plain C++ against the CUDA runtime.)
//   per batch   inputs (CSR) -> dense rows of the nonempty inputs; then per layer:
//                 layer_kernel (SpMM + bias + ReLU + clip; the last tile done with a row block appends
//                 its surviving rows to the next active list and counts them in device memory,
//                 where the next launch reads them): one launch per layer.
//               One synchronization per batch reads the per-layer counts and the survivors.
//   batching    inputs are processed in batches sized from free device memory (or forced).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fmt/format.h>
#include <memory>
#include <numeric>

#include "cuda/check.hpp"
#include "cuda/device.hpp"
#include "cuda/device_buffer.hpp"
#include "challenge/cuda/engine_factory.hpp"
#include "challenge/cuda/kernels.hpp"
#include "challenge/cuda/layer_blob.hpp"
#include "challenge/cuda/sliced_ell.hpp"
#include "cuda/stream.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

namespace {

// ---- kernel configuration (tuning table) -----------------------------------------------------------
struct KernelConfig {
  KernelShape shape;   // feature rows per block pass x outputs per block
  int chunk_capacity;  // footprint inputs staged at once: shared memory = capacity * rows * 4 bytes
};
// {16 rows, 256 outputs, 512-input chunks}: 32 KB of shared memory and 64 registers a thread, four
// blocks per H100 SM; 16 rows make four float4 reads per staged slot. 512 inputs hold the footprint of a
// 256-output tile of 32-input columns grouped by input set (RadiX-Net: 16 groups x 32 inputs); 1024
// (64 KB, three blocks) measured 38.8 / 50.2 TE/s at 1024 / 4096 x 120.
constexpr KernelConfig kDefaultConfig{{16, 256}, 512};

// ---- RAII for pinned host memory -----------------------------------------------------------------
struct PinnedBytes {
  unsigned char* p = nullptr;
  explicit PinnedBytes(size_t n) {
    if (n > 0 && cudaHostAlloc(reinterpret_cast<void**>(&p), n, cudaHostAllocDefault) != cudaSuccess) {
      (void)cudaGetLastError();
      throw Error(Errc::out_of_memory, fmt::format("cannot pin {:.1f} MiB of host memory for streamed weights", n / 1048576.0));
    }
  }
  ~PinnedBytes() {
    if (p != nullptr) cudaFreeHost(p);
  }
};

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

  RunResult run(const Network& net, const Features& x, const RunOptions& opt) override {
    if (auto why = cannot_run(net, x)) throw Error(Errc::mismatch, "cuda engine: " + *why);
    SPDNN_CUDA_CHECK(cudaSetDevice(device_));
    return opt.half_weights ? run_typed<__half>(net, x, opt) : run_typed<float>(net, x, opt);
  }

 private:
  template <class Weight>
  RunResult run_typed(const Network& net, const Features& x, const RunOptions& opt);

  int device_;
  cudaDeviceProp prop_{};
};

template <class Weight>
RunResult CudaEngine::run_typed(const Network& net, const Features& x, const RunOptions& opt) {
  const KernelConfig cfg = kDefaultConfig;
  if (!has_layer_kernel(cfg.shape))
    throw Error(Errc::unsupported, fmt::format("no layer kernel for {} rows x {} outputs", cfg.shape.rows, cfg.shape.tile_outputs));
  const int32_t n = net.neurons, layers = net.num_layers();
  const auto t_pre = std::chrono::steady_clock::now();
  RunResult result;
  ExecutionInfo info;
  info.half_weights = std::is_same_v<Weight, __half>;
  info.kernel = fmt::format("sliced-ELL {} rows x {} outputs, {}-input chunks, {} weights", cfg.shape.rows,
                            cfg.shape.tile_outputs, cfg.chunk_capacity, info.half_weights ? "fp16" : "fp32");

  // ---- weights: sliced ELL per layer, packed ----------------------------------------------------
  // Layer l's layout needs layer l-1's output order. Each thread walks a contiguous range of layers,
  // transposing each layer once for both its order and its layout; it recomputes only the order of
  // the layer before its range (keeping every transpose instead would cost as much memory as the
  // network).
  std::vector<std::vector<unsigned char>> blob(layers);
  std::vector<BlobLayout> layout(layers);
  std::vector<char> exact(layers, 1);
  std::vector<int32_t> last_order;  // the last layer's output order (to return features)
  // Balancing meetings (partitioned runs): after these layer counts, rows leave and arrive in neuron
  // order, so the physical order of the features there is kept too.
  std::vector<int32_t> meet;
  if (opt.exchange)
    for (int32_t k : opt.exchange_after)
      if (k >= 1 && k < layers) meet.push_back(k);
  std::vector<int> meet_index(layers + 1, -1);
  for (size_t m = 0; m < meet.size(); ++m) meet_index[meet[m]] = static_cast<int>(m);
  std::vector<std::shared_ptr<const std::vector<int32_t>>> meet_order(meet.size());
  const int ranges = std::max(1, std::min<int>(layers, omp_get_max_threads()));
  std::vector<std::exception_ptr> errors(ranges);
#pragma omp parallel for schedule(static, 1)
  for (int range = 0; range < ranges; ++range) {
    try {
      const int32_t first = static_cast<int32_t>(int64_t{layers} * range / ranges);
      const int32_t end = static_cast<int32_t>(int64_t{layers} * (range + 1) / ranges);
      std::vector<int32_t> previous;  // output order of layer l - 1; empty: the identity (inputs)
      if (first > 0) previous = group_outputs(transpose(net.layers[first - 1]));
      std::vector<int32_t> in_position(n);
      for (int32_t l = first; l < end; ++l) {
        if (previous.empty()) std::iota(in_position.begin(), in_position.end(), 0);
        else
          for (int32_t p = 0; p < n; ++p) in_position[previous[p]] = p;
        const CsrMatrix inputs_of = transpose(net.layers[l]);
        std::vector<int32_t> order = group_outputs(inputs_of);
        SlicedEllLayer s = build_sliced_ell(inputs_of, in_position, order, cfg.shape.tile_outputs, cfg.chunk_capacity);
        bool ok = true;
        layout[l] = pack_layer<Weight>(s, blob[l], ok);
        exact[l] = ok;
        if (meet_index[l + 1] >= 0) meet_order[meet_index[l + 1]] = std::make_shared<const std::vector<int32_t>>(order);
        previous = std::move(order);
      }
      if (end == layers) last_order = std::move(previous);
    } catch (...) {
      errors[range] = std::current_exception();
    }
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  info.half_weights_exact = std::all_of(exact.begin(), exact.end(), [](char c) { return c != 0; });
  std::vector<size_t> offset(layers + 1, 0);
  size_t max_blob = 0;
  for (int32_t l = 0; l < layers; ++l) offset[l + 1] = offset[l] + layout[l].bytes, max_blob = std::max(max_blob, layout[l].bytes);

  // ---- the inputs that can be active at all (nonempty rows), in id order ---------------------------
  std::vector<int32_t> rows;
  for (int64_t r = 0; r < x.count(); ++r)
    if (x.matrix.row_nnz(r) > 0) rows.push_back(static_cast<int32_t>(r));
  const int64_t candidates = static_cast<int64_t>(rows.size());

  // ---- memory plan: weights resident or streamed; batch size from what is left --------------------
  size_t free_bytes = 0, total_bytes = 0;
  SPDNN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  // Engines sharing the GPU (several parts or ranks on one device) each plan with their share.
  free_bytes = static_cast<size_t>(static_cast<double>(free_bytes) * std::clamp(opt.device_memory_share, 0.01, 1.0));
  const size_t reserve = 256u << 20;  // CUB scratch, per-layer counters, allocator slack
  const double avg_input_nnz = candidates > 0 ? static_cast<double>(x.nnz()) / candidates : 0.0;
  const size_t per_row = 2 * static_cast<size_t>(n) * sizeof(float) + 4 * sizeof(int32_t) + 1 +
                         static_cast<size_t>(avg_input_nnz * 8 + 8) * 2;
  const size_t min_rows = static_cast<size_t>(std::min<int64_t>(std::max<int64_t>(candidates, 1), 4096));
  info.weights_streamed = opt.stream_weights || offset[layers] + min_rows * per_row + reserve > free_bytes;
  const size_t weight_device_bytes = info.weights_streamed ? 2 * max_blob : offset[layers];
  if (weight_device_bytes + reserve + per_row > free_bytes)
    throw Error(Errc::out_of_memory, fmt::format("GPU out of memory: {:.1f} MiB of weights{} and one input row need more than the {:.1f} MiB free",
                                                 weight_device_bytes / 1048576.0, info.weights_streamed ? " (two streamed layers)" : "",
                                                 free_bytes / 1048576.0));
  int64_t batch = opt.batch_inputs > 0 ? opt.batch_inputs
                                       : static_cast<int64_t>((free_bytes - weight_device_bytes - reserve) / per_row);
  batch = std::clamp<int64_t>(batch, 1, std::max<int64_t>(candidates, 1));
  info.batch_inputs = batch;
  info.batches = candidates == 0 ? 0 : (candidates + batch - 1) / batch;
  // Rows can move only while every row of this part is on the device at once.
  if (opt.exchange && info.batches != 1) meet.clear();
  const bool meets = !meet.empty();
  if (opt.exchange && !meets) opt.exchange->leave();

  // ---- device state --------------------------------------------------------------------------------
  Stream compute, copy;
  DeviceBuffer<unsigned char> weights(weight_device_bytes, info.weights_streamed ? "two streamed weight layers" : "the network's weights");
  std::unique_ptr<PinnedBytes> pinned;
  if (info.weights_streamed) {
    pinned = std::make_unique<PinnedBytes>(offset[layers]);
    for (int32_t l = 0; l < layers; ++l) std::memcpy(pinned->p + offset[l], blob[l].data(), blob[l].size());
  } else {
    for (int32_t l = 0; l < layers; ++l)
      SPDNN_CUDA_CHECK(cudaMemcpyAsync(weights.get() + offset[l], blob[l].data(), blob[l].size(), cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute.s));
  }
  blob = {};
  const size_t feat = static_cast<size_t>(batch) * n;
  DeviceBuffer<float> feat_a(feat, "features (current layer)"), feat_b(feat, "features (next layer)");
  DeviceBuffer<int32_t> list_a(batch, "active list"), list_b(batch, "active list (next)");
  DeviceBuffer<int32_t> ids_a(batch, "input ids"), ids_b(batch, "input ids (next)"), categories(batch, "categories");
  DeviceBuffer<int32_t> row_total(batch, "per-row nonzero totals");
  DeviceBuffer<int32_t> tiles_done(batch / cfg.shape.rows + 1, "per-row-block tile counters");
  DeviceBuffer<int32_t> counts(layers + 1, "per-layer active counts");
  DeviceBuffer<unsigned long long> nnz(std::max(layers, 1), "per-layer nonzero counts");
  SPDNN_CUDA_CHECK(cudaMemsetAsync(row_total.get(), 0, row_total.size() * sizeof(int32_t), compute.s));
  SPDNN_CUDA_CHECK(cudaMemsetAsync(tiles_done.get(), 0, tiles_done.size() * sizeof(int32_t), compute.s));
  int64_t max_batch_nnz = 0;
  for (int64_t b0 = 0; b0 < candidates; b0 += batch) {
    const int64_t b1 = std::min(candidates, b0 + batch);
    max_batch_nnz = std::max(max_batch_nnz, x.matrix.row_ptr[rows[b1 - 1] + 1] - x.matrix.row_ptr[rows[b0]]);
  }
  DeviceBuffer<int64_t> in_ptr(batch + 1, "input row offsets");
  DeviceBuffer<int32_t> in_cols(std::max<int64_t>(max_batch_nnz, 1), "input columns");
  DeviceBuffer<float> in_vals(std::max<int64_t>(max_batch_nnz, 1), "input values");

  const size_t shared_bytes = static_cast<size_t>(cfg.chunk_capacity) * cfg.shape.rows * sizeof(float);
  int blocks_per_sm = 0;
  SPDNN_CUDA_CHECK(prepare_layer_kernel<Weight>(cfg.shape, shared_bytes, &blocks_per_sm));
  if (blocks_per_sm == 0) throw Error(Errc::unsupported, "layer kernel cannot run on this device (shared memory)");

  Event slot_ready[2], slot_free[2];
  Event t_begin(cudaEventDefault), t_end(cudaEventDefault);
  auto stream_layer = [&](int32_t l) {  // copy layer l into slot l % 2 once its last user is done
    const int s = l % 2;
    SPDNN_CUDA_CHECK(cudaStreamWaitEvent(copy.s, slot_free[s].e));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(weights.get() + s * max_blob, pinned->p + offset[l], layout[l].bytes,
                                     cudaMemcpyHostToDevice, copy.s));
    SPDNN_CUDA_CHECK(cudaEventRecord(slot_ready[s].e, copy.s));
  };
  result.preprocess_s = seconds_since(t_pre);
  const char* graphs_env = std::getenv("SPDNN_CUDA_GRAPHS");  // "0" disables graphs (for measurements)
  // (Debug synchronization after each launch cannot happen inside a capture.)
  const bool use_graphs = (graphs_env == nullptr || std::string(graphs_env) != "0") && !sync_after_launch();

  result.layers.resize(layers);
  std::vector<int32_t> host_counts(layers + 1);
  std::vector<unsigned long long> host_nnz(layers);
  std::vector<int32_t> host_ids(batch);
  float inference_ms = 0.0f;
  CsrMatrix final_features;
  final_features.rows = x.count();
  final_features.cols = n;
  std::vector<std::vector<std::pair<int32_t, float>>> kept(opt.keep_features ? x.count() : 0);

  // Balancing: hands the last `give` of the `active` rows listed at `list` to the exchange and takes
  // in what comes back, into free rows of `feat` (rows travel in neuron order; here they are in the
  // physical order `order`). Returns the number of rows received.
  int64_t received = 0;
  std::vector<int32_t> active_before_meeting(layers + 1, -1);
  // The other side's buffers (features, list) are free at a meeting (the next layer overwrites them),
  // so rows are staged there.
  auto exchange_rows = [&](float* feat, int32_t* list, int32_t* ids, int32_t* count, int32_t active, int64_t give,
                           const std::shared_ptr<const std::vector<int32_t>>& order, float* spare_feat,
                           int32_t* spare_index) -> int64_t {
    std::vector<int32_t> host_list(active), row_ids(batch);
    SPDNN_CUDA_CHECK(cudaMemcpy(host_list.data(), list, active * sizeof(int32_t), cudaMemcpyDeviceToHost));
    SPDNN_CUDA_CHECK(cudaMemcpy(row_ids.data(), ids, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    const int32_t keep = active - static_cast<int32_t>(give);
    // Rows leave as they are (dense, this layer's physical order): another GPU part of the same
    // network has the same layout and uploads them as they come.
    MovedRows out;
    if (give > 0) {
      out.layout = order;
      out.dense.resize(static_cast<size_t>(give) * n);
      SPDNN_CUDA_CHECK(cudaMemcpyAsync(spare_index, host_list.data() + keep, give * sizeof(int32_t), cudaMemcpyHostToDevice, compute.s));
      SPDNN_CUDA_CHECK(launch_copy_rows(feat, spare_feat, spare_index, static_cast<int32_t>(give), n, false, compute.s));
      SPDNN_CUDA_CHECK(cudaMemcpyAsync(out.dense.data(), spare_feat, out.dense.size() * sizeof(float), cudaMemcpyDeviceToHost, compute.s));
      for (int64_t k = 0; k < give; ++k) out.ids.push_back(row_ids[host_list[keep + k]]);
      SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute.s));
    }
    MovedRows in = opt.exchange->trade(std::move(out));
    const int64_t arrived = in.count();
    if (keep + arrived > batch || x.count() + received + arrived >= INT32_MAX)
      throw Error(Errc::device, fmt::format("balancing sent {} rows to a GPU that holds at most {} more", arrived, batch - keep));
    std::vector<char> used(batch, 0);
    for (int32_t k = 0; k < keep; ++k) used[host_list[k]] = 1;
    host_list.resize(keep);
    for (int32_t slot = 0; static_cast<int64_t>(host_list.size()) < keep + arrived; ++slot)
      if (!used[slot]) host_list.push_back(slot);
    if (arrived > 0) {
      if (!in.is_dense() || (in.layout != order && *in.layout != *order)) {
        // Rows from an engine of another layout: through neuron order into this one.
        in.to_neuron_order();
        std::vector<int32_t> position(n);  // physical position of each neuron
        for (int32_t p = 0; p < n; ++p) position[(*order)[p]] = p;
        in.dense.assign(static_cast<size_t>(arrived) * n, 0.0f);
        for (int64_t k = 0; k < arrived; ++k)
          for (int64_t q = in.rows.row_ptr[k]; q < in.rows.row_ptr[k + 1]; ++q)
            in.dense[k * n + position[in.rows.col_idx[q]]] = in.rows.values[q];
      }
      for (int64_t k = 0; k < arrived; ++k) row_ids[host_list[keep + k]] = static_cast<int32_t>(in.ids[k]);
      SPDNN_CUDA_CHECK(cudaMemcpyAsync(spare_index, host_list.data() + keep, arrived * sizeof(int32_t), cudaMemcpyHostToDevice, compute.s));
      SPDNN_CUDA_CHECK(cudaMemcpyAsync(spare_feat, in.dense.data(), in.dense.size() * sizeof(float), cudaMemcpyHostToDevice, compute.s));
      SPDNN_CUDA_CHECK(launch_copy_rows(spare_feat, feat, spare_index, static_cast<int32_t>(arrived), n, true, compute.s));
      SPDNN_CUDA_CHECK(cudaMemcpyAsync(ids, row_ids.data(), batch * sizeof(int32_t), cudaMemcpyHostToDevice, compute.s));
    }
    const int32_t now = static_cast<int32_t>(host_list.size());
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(list, host_list.data(), now * sizeof(int32_t), cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(count, &now, sizeof now, cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute.s));  // the host vectors go out of scope
    return arrived;
  };

  // Parts of one run line up here: just before the first timed launch, once inputs are uploaded and
  // graphs instantiated, so that the common span counts none of that.
  bool started = false;
  auto start_once = [&] {
    if (!started && opt.before_inference) opt.before_inference();
    started = true;
  };
  for (int64_t b0 = 0; b0 < candidates; b0 += batch) {
    const int64_t b1 = std::min(candidates, b0 + batch);
    const int32_t r0 = static_cast<int32_t>(b1 - b0);
    // Upload this batch's input rows (CSR, rebased) and their ids.
    std::vector<int64_t> ptr(r0 + 1, 0);
    std::vector<int32_t> cols;
    std::vector<float> vals;
    for (int32_t k = 0; k < r0; ++k) {
      const int32_t r = rows[b0 + k];
      cols.insert(cols.end(), x.matrix.row_cols(r).begin(), x.matrix.row_cols(r).end());
      vals.insert(vals.end(), x.matrix.row_values(r).begin(), x.matrix.row_values(r).end());
      ptr[k + 1] = static_cast<int64_t>(cols.size());
    }
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(in_ptr.get(), ptr.data(), ptr.size() * sizeof(int64_t), cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(in_cols.get(), cols.data(), cols.size() * sizeof(int32_t), cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(in_vals.get(), vals.data(), vals.size() * sizeof(float), cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(ids_a.get(), rows.data() + b0, r0 * sizeof(int32_t), cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaMemsetAsync(counts.get(), 0, counts.size() * sizeof(int32_t), compute.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(counts.get(), &r0, sizeof r0, cudaMemcpyHostToDevice, compute.s));
    SPDNN_CUDA_CHECK(cudaMemsetAsync(nnz.get(), 0, nnz.size() * sizeof(unsigned long long), compute.s));
    SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute.s));  // `ptr`, `cols`, `vals` are host temporaries

    // Everything from here to the survivors' ids is enqueued without host synchronization, except at
    // balancing meetings. The buffers a layer reads: ping-pong by parity (layer l reads the `a` side when l is even).
    struct Side {
      float* feat;
      int32_t *list, *ids;
    };
    auto side = [&](int32_t l) {
      return l % 2 == 0 ? Side{feat_a.get(), list_a.get(), ids_a.get()} : Side{feat_b.get(), list_b.get(), ids_b.get()};
    };
    // Layers [from, to): the densification before layer 0, the survivors' ids after the last layer.
    auto enqueue_layers = [&](int32_t from, int32_t to) {
      if (from == 0) {
        if (info.weights_streamed) {
          for (int s = 0; s < 2; ++s) SPDNN_CUDA_CHECK(cudaEventRecord(slot_free[s].e, compute.s));
          for (int32_t l = 0; l < std::min(layers, 2); ++l) stream_layer(l);
        }
        SPDNN_CUDA_CHECK(cudaMemsetAsync(feat_a.get(), 0, static_cast<size_t>(r0) * n * sizeof(float), compute.s));
        SPDNN_CUDA_CHECK(launch_densify(in_ptr.get(), in_cols.get(), in_vals.get(), r0, n, feat_a.get(), compute.s));
        SPDNN_CUDA_CHECK(launch_iota(list_a.get(), r0, compute.s));
        SPDNN_CUDA_SYNC_IF_DEBUG("densify/iota");
      }
      const int row_blocks = (static_cast<int>(meets ? batch : r0) + cfg.shape.rows - 1) / cfg.shape.rows;
      for (int32_t l = from; l < to; ++l) {
        const Side in = side(l), out = side(l + 1);
        const unsigned char* base = weights.get() + (info.weights_streamed ? (l % 2) * max_blob : offset[l]);
        if (info.weights_streamed) SPDNN_CUDA_CHECK(cudaStreamWaitEvent(compute.s, slot_ready[l % 2].e));
        LayerArgs<Weight> a{};
        a.in = in.feat, a.out = out.feat, a.active = in.list, a.count = counts.get() + l, a.ids_in = in.ids, a.ids_out = out.ids;
        a.next_active = out.list, a.next_count = counts.get() + l + 1, a.row_total = row_total.get();
        a.tiles_done = tiles_done.get(), a.nnz = nnz.get() + l, a.neurons = n, a.bias = net.bias, a.clip = net.clip;
        bind_layer(a, layout[l], base);
        const int tiles = layout[l].tiles;
        const int grid_rows = std::clamp(blocks_per_sm * prop_.multiProcessorCount * 2 / std::max(tiles, 1), 1,
                                         std::min(row_blocks, 65535));
        SPDNN_CUDA_CHECK(launch_layer_kernel<Weight>(cfg.shape, a, tiles, grid_rows, shared_bytes, compute.s));
        SPDNN_CUDA_SYNC_IF_DEBUG("layer_kernel");
        if (info.weights_streamed) {
          SPDNN_CUDA_CHECK(cudaEventRecord(slot_free[l % 2].e, compute.s));
          if (l + 2 < layers) stream_layer(l + 2);
        }
      }
      if (to == layers)
        SPDNN_CUDA_CHECK(launch_gather_ids(side(layers).list, counts.get() + layers, side(layers).ids, categories.get(),
                                           static_cast<int32_t>(batch), compute.s));
    };
    // Segments between meetings; each is captured as one CUDA graph (unless weights stream: two
    // streams), so the per-layer launches cost one graph launch (instantiation counts as preprocessing).
    std::vector<int32_t> bounds{0};
    bounds.insert(bounds.end(), meet.begin(), meet.end());
    bounds.push_back(layers);
    const size_t segments = bounds.size() - 1;
    const bool graphs = use_graphs && !info.weights_streamed;
    std::vector<cudaGraphExec_t> execs(graphs ? segments : 0, nullptr);
    struct ExecsGuard {
      std::vector<cudaGraphExec_t>& e;
      ~ExecsGuard() {
        for (cudaGraphExec_t g : e)
          if (g != nullptr) cudaGraphExecDestroy(g);
      }
    } execs_guard{execs};
    if (graphs) {
      const auto t_graph = std::chrono::steady_clock::now();
      for (size_t g = 0; g < segments; ++g) {
        cudaGraph_t graph = nullptr;
        SPDNN_CUDA_CHECK(cudaStreamBeginCapture(compute.s, cudaStreamCaptureModeThreadLocal));
        try {
          enqueue_layers(bounds[g], bounds[g + 1]);
        } catch (...) {
          cudaStreamEndCapture(compute.s, &graph);
          if (graph != nullptr) cudaGraphDestroy(graph);
          throw;
        }
        SPDNN_CUDA_CHECK(cudaStreamEndCapture(compute.s, &graph));
        cudaError_t inst = cudaGraphInstantiate(&execs[g], graph, 0);
        cudaGraphDestroy(graph);
        SPDNN_CUDA_CHECK(inst);
      }
      result.preprocess_s += seconds_since(t_graph);
    }
    start_once();
    if (result.inference_begin_unix == 0.0) result.inference_begin_unix = unix_seconds();
    SPDNN_CUDA_CHECK(cudaEventRecord(t_begin.e, compute.s));
    bool meeting = meets;
    for (size_t g = 0; g < segments; ++g) {
      if (graphs) SPDNN_CUDA_CHECK(cudaGraphLaunch(execs[g], compute.s));
      else enqueue_layers(bounds[g], bounds[g + 1]);
      if (meeting && g + 1 < segments) {
        const int32_t k = bounds[g + 1];
        const Side at = side(k);
        SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute.s));
        int32_t active = 0;
        SPDNN_CUDA_CHECK(cudaMemcpy(&active, counts.get() + k, sizeof active, cudaMemcpyDeviceToHost));
        const ExchangePlan plan = opt.exchange->plan(k, active, batch);
        active_before_meeting[k] = active;  // layer k's count is the one before rows moved
        if (plan.give > 0 || plan.receive > 0)
          received += exchange_rows(at.feat, at.list, at.ids, counts.get() + k, active, plan.give, meet_order[meet_index[k]],
                                    side(k + 1).feat, side(k + 1).list);
        if (plan.last) meeting = false;
      }
    }
    SPDNN_CUDA_CHECK(cudaEventRecord(t_end.e, compute.s));
    SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute.s));
    float* in = side(layers).feat;
    int32_t* list = side(layers).list;
    result.inference_end_unix = unix_seconds();
    float ms = 0.0f;
    SPDNN_CUDA_CHECK(cudaEventElapsedTime(&ms, t_begin.e, t_end.e));
    inference_ms += ms;

    // Per-layer counts and the survivors of this batch.
    SPDNN_CUDA_CHECK(cudaMemcpy(host_counts.data(), counts.get(), (layers + 1) * sizeof(int32_t), cudaMemcpyDeviceToHost));
    if (layers > 0)
      SPDNN_CUDA_CHECK(cudaMemcpy(host_nnz.data(), nnz.get(), layers * sizeof(unsigned long long), cudaMemcpyDeviceToHost));
    for (int32_t l = 0; l < layers; ++l) {
      result.layers[l].active_inputs += active_before_meeting[l + 1] >= 0 ? active_before_meeting[l + 1] : host_counts[l + 1];
      result.layers[l].nnz += static_cast<int64_t>(host_nnz[l]);
    }
    const int32_t survivors = host_counts[layers];
    SPDNN_CUDA_CHECK(cudaMemcpy(host_ids.data(), categories.get(), survivors * sizeof(int32_t), cudaMemcpyDeviceToHost));
    for (int32_t k = 0; k < survivors; ++k) result.categories.push_back(int64_t{host_ids[k]} + 1);
    if (opt.keep_features) kept.resize(static_cast<size_t>(x.count() + received));
    if (opt.keep_features && survivors > 0) {
      std::vector<int32_t> host_list(survivors);
      std::vector<float> row(n);
      SPDNN_CUDA_CHECK(cudaMemcpy(host_list.data(), list, survivors * sizeof(int32_t), cudaMemcpyDeviceToHost));
      for (int32_t k = 0; k < survivors; ++k) {
        SPDNN_CUDA_CHECK(cudaMemcpy(row.data(), in + static_cast<size_t>(host_list[k]) * n, n * sizeof(float), cudaMemcpyDeviceToHost));
        auto& dst = kept[host_ids[k]];
        for (int32_t p = 0; p < n; ++p)
          if (row[p] != 0.0f) dst.emplace_back(layers > 0 ? last_order[p] : p, row[p]);
        std::sort(dst.begin(), dst.end());
      }
    }
  }
  start_once();  // also when there was nothing to run
  if (meets) opt.exchange->leave();
  std::sort(result.categories.begin(), result.categories.end());  // survivors come in no particular order
  result.inference_s = inference_ms / 1e3;
  if (opt.keep_features) {
    kept.resize(static_cast<size_t>(x.count() + received));
    final_features.rows = x.count() + received;
    for (size_t r = 0; r < kept.size(); ++r) {
      for (auto [c, v] : kept[r]) final_features.col_idx.push_back(c), final_features.values.push_back(v);
      final_features.row_ptr.push_back(final_features.nnz());
    }
    result.features = std::move(final_features);
  }
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
