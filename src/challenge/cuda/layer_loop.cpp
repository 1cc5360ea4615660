// The cuda engine's device state and layer loop (see layer_loop.hpp).
//
//   per batch   inputs (CSR) -> dense rows of the nonempty inputs; then per layer one launch of the layer
//               kernel (SpMM + bias + ReLU + clip; the last tile done with a block of rows appends its
//               surviving rows to the next active list and counts them in device memory, where the next
//               launch reads them; feature-major layers mark them and select_rows lists them in order).
//               One synchronization per batch reads the counts and the survivors.
//   graphs      the layers between meetings and checkpoints are captured as CUDA graphs (unless weights
//               stream: two streams), so the per-layer launches cost one graph launch; without meetings
//               the whole batch is one graph that stops itself (layer_loop_graphs.cpp).
#include "challenge/cuda/layer_loop.hpp"

#include <cuda_fp16.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_set>

#include "challenge/cpu/grouped_rows.hpp"
#include "core/env.hpp"
#include "cuda/check.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

template <class Weight>
struct LayerLoop<Weight>::Pinned {
  unsigned char* p = nullptr;
  explicit Pinned(size_t n) {
    if (n > 0 && cudaHostAlloc(reinterpret_cast<void**>(&p), n, cudaHostAllocDefault) != cudaSuccess) {
      (void)cudaGetLastError();
      throw Error(Errc::out_of_memory, fmt::format("cannot pin {:.1f} MiB of host memory for streamed weights", n / 1048576.0));
    }
  }
  ~Pinned() {
    if (p != nullptr) cudaFreeHost(p);
  }
};

template <class Weight>
LayerLoop<Weight>::LayerLoop(const cudaDeviceProp& prop, const Network& net, const Features& x, const RunOptions& opt,
                             PackedNetwork& packed, const MemoryPlan& plan, std::vector<int32_t> meet,
                             std::vector<int32_t> rows, bool merge_rows, std::optional<float> input_value,
                             std::vector<char> clip_kept)
    : prop_(prop),
      net_(net),
      x_(x),
      opt_(opt),
      packed_(packed),
      plan_(plan),
      meet_(std::move(meet)),
      rows_(std::move(rows)),
      n_(net.neurons),
      layers_(net.num_layers()),
      batch_(plan.batch),
      feature_major_(!packed.layout.empty() && packed.layout.front().kernel.feature_major && !packed.first_columns),
      first_columns_(packed.first_columns),
      ld_(feature_major_ || first_columns_ ? (batch_ + 3) / 4 * 4 : n_),
      merge_rows_(merge_rows),
      clip_kept_(merge_rows ? std::move(clip_kept) : std::vector<char>{}),
      input_value_(input_value),
      dependent_launch_(prop.major >= 9 && !env_equals("SPDNN_DEPENDENT_LAUNCH", "0")) {
  if (first_columns_ && !input_value_)
    throw Error(Errc::unsupported, "a feature-major first layer before sliced-ELL layers reads its inputs as bits");
  weights_.allocate(plan_.weight_device_bytes, plan_.weights_streamed ? "two streamed weight layers" : "the network's weights");
  if (plan_.weights_streamed) {
    pinned_ = std::make_unique<Pinned>(packed_.total_bytes());
    for (int32_t l = 0; l < layers_; ++l) std::memcpy(pinned_->p + packed_.offset[l], packed_.blob[l].data(), packed_.blob[l].size());
  } else {
    for (int32_t l = 0; l < layers_; ++l)
      SPDNN_CUDA_CHECK(cudaMemcpyAsync(weights_.get() + packed_.offset[l], packed_.blob[l].data(), packed_.blob[l].size(),
                                       cudaMemcpyHostToDevice, compute_.s));
    SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute_.s));
  }
  packed_.blob = {};
  const size_t feat = static_cast<size_t>(feature_major_ || first_columns_ ? ld_ * n_ : batch_ * n_);
  feat_a_.allocate(feat, "features (current layer)");
  feat_b_.allocate(feat, "features (next layer)");
  list_a_.allocate(batch_, "active list");
  list_b_.allocate(batch_, "active list (next)");
  ids_a_.allocate(batch_, "input ids");
  ids_b_.allocate(batch_, "input ids (next)");
  categories_.allocate(batch_, "categories");
  row_total_.allocate(batch_, "per-row nonzero totals");
  int min_rows = 1 << 30;
  for (const BlobLayout& b : packed_.layout) min_rows = std::min(min_rows, b.kernel.rows);
  tiles_done_.allocate(batch_ / std::max(1, std::min(min_rows, static_cast<int>(batch_))) + 1, "per-row-block tile counters");
  counts_.allocate(layers_ + 1, "per-layer active counts");
  nnz_.allocate(std::max(layers_, 1), "per-layer nonzero counts");
  if (first_columns_) unread_nnz_.allocate(1, "the first layer's unweighted nonzero count");
  if (merge_rows_) {
    const auto capacity = static_cast<int32_t>(batch_);
    mult_a_.allocate(batch_, "row multiplicities");
    mult_b_.allocate(batch_, "row multiplicities (next)");
    inputs_.allocate(layers_ + 1, "per-layer input counts");
    log_.allocate(batch_, "the row merge log");
    log_count_.allocate(1, "the row merge log's length");
    const int32_t table = row_merge_table_size(capacity);
    merge_keys_.allocate(table, "the row merge's hash table");
    merge_first_.allocate(table, "the row merge's first rows");
    merge_slot_.allocate(batch_, "the row merge's slots");
    merge_kept_.allocate(batch_ + 1, "rows kept by merging");
    if (!clip_kept_.empty()) {
      carried_.allocate(batch_, "rows carried at the clip");
      carried_count_.allocate(1, "the count of rows carried at the clip");
      carried_at_clip_.assign(layers_, 0);
    }
    scratch_ = {merge_keys_.get(), merge_first_.get(), merge_slot_.get(), merge_kept_.get(), table, capacity};
    SPDNN_CUDA_CHECK(launch_row_merge_clear(scratch_, compute_.s));
  }
  SPDNN_CUDA_CHECK(cudaMemsetAsync(row_total_.get(), 0, row_total_.size() * sizeof(int32_t), compute_.s));
  SPDNN_CUDA_CHECK(cudaMemsetAsync(tiles_done_.get(), 0, tiles_done_.size() * sizeof(int32_t), compute_.s));
  int64_t max_batch_nnz = 0;
  const int64_t candidates = static_cast<int64_t>(rows_.size());
  for (int64_t b0 = 0; b0 < candidates; b0 += batch_) {
    const int64_t b1 = std::min(candidates, b0 + batch_);
    max_batch_nnz = std::max(max_batch_nnz, x_.matrix.row_ptr[rows_[b1 - 1] + 1] - x_.matrix.row_ptr[rows_[b0]]);
  }
  if (input_value_) {  // a row's words, or feature-major a position's, whole sectors of 8 (densify_column_bits)
    const bool columns = feature_major_ || first_columns_;
    input_words_ = columns ? static_cast<int32_t>((batch_ + 255) / 256 * 8) : static_cast<int32_t>((n_ + 31) / 32);
    in_bits_.allocate(static_cast<size_t>(columns ? n_ : batch_) * input_words_, "input rows as bits");
  }
  in_ptr_.allocate(batch_ + 1, "input row offsets");
  in_cols_.allocate(std::max<int64_t>(max_batch_nnz, 1), "input columns");
  in_vals_.allocate(std::max<int64_t>(max_batch_nnz, 1), "input values");
  for (const BlobLayout& b : packed_.layout) {
    if (std::any_of(blocks_per_sm_.begin(), blocks_per_sm_.end(), [&](const auto& k) { return k.first == b.kernel; })) continue;
    int blocks = 0;
    SPDNN_CUDA_CHECK(prepare_layer_kernel<Weight>(b.kernel, &blocks));
    if (blocks == 0) throw Error(Errc::unsupported, "layer kernel cannot run on this device (shared memory)");
    blocks_per_sm_.emplace_back(b.kernel, blocks);
  }
  if (opt_.layer_times)
    for (int32_t l = 0; l < layers_; ++l) layer_begin_.emplace_back(cudaEventDefault), layer_end_.emplace_back(cudaEventDefault);
  init_row_tail();
  init_first_counts();
}

template <class Weight>
LayerLoop<Weight>::~LayerLoop() = default;

template <class Weight>
typename LayerLoop<Weight>::Side LayerLoop<Weight>::side(int32_t l) {
  return l % 2 == 0 ? Side{feat_a_.get(), list_a_.get(), ids_a_.get(), mult_a_.get()}
                    : Side{feat_b_.get(), list_b_.get(), ids_b_.get(), mult_b_.get()};
}

// This batch's input rows (CSR, rebased) and their ids, and the counters reset.
template <class Weight>
void LayerLoop<Weight>::upload_batch(int64_t b0, int32_t r0) {
  std::vector<int64_t> ptr(r0 + 1, 0);
  std::vector<int32_t> cols;
  std::vector<float> vals;
  for (int32_t k = 0; k < r0; ++k) {
    const int32_t r = rows_[b0 + k];
    cols.insert(cols.end(), x_.matrix.row_cols(r).begin(), x_.matrix.row_cols(r).end());
    vals.insert(vals.end(), x_.matrix.row_values(r).begin(), x_.matrix.row_values(r).end());
    ptr[k + 1] = static_cast<int64_t>(cols.size());
  }
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(in_ptr_.get(), ptr.data(), ptr.size() * sizeof(int64_t), cudaMemcpyHostToDevice, compute_.s));
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(in_cols_.get(), cols.data(), cols.size() * sizeof(int32_t), cudaMemcpyHostToDevice, compute_.s));
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(in_vals_.get(), vals.data(), vals.size() * sizeof(float), cudaMemcpyHostToDevice, compute_.s));
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(ids_a_.get(), rows_.data() + b0, r0 * sizeof(int32_t), cudaMemcpyHostToDevice, compute_.s));
  SPDNN_CUDA_CHECK(cudaMemsetAsync(counts_.get(), 0, counts_.size() * sizeof(int32_t), compute_.s));
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(counts_.get(), &r0, sizeof r0, cudaMemcpyHostToDevice, compute_.s));
  SPDNN_CUDA_CHECK(cudaMemsetAsync(nnz_.get(), 0, nnz_.size() * sizeof(unsigned long long), compute_.s));
  if (merge_rows_) {
    SPDNN_CUDA_CHECK(launch_fill(mult_a_.get(), r0, 1, compute_.s));
    SPDNN_CUDA_CHECK(cudaMemsetAsync(inputs_.get(), 0, inputs_.size() * sizeof(int32_t), compute_.s));
    SPDNN_CUDA_CHECK(cudaMemsetAsync(log_count_.get(), 0, sizeof(int32_t), compute_.s));
    if (!clip_kept_.empty()) SPDNN_CUDA_CHECK(cudaMemsetAsync(carried_count_.get(), 0, sizeof(int32_t), compute_.s));
  }
  SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute_.s));  // `ptr`, `cols`, `vals` are host temporaries
}

// Copies layer l into slot l % 2 once its last user is done.
template <class Weight>
void LayerLoop<Weight>::stream_layer(int32_t l) {
  const int s = l % 2;
  SPDNN_CUDA_CHECK(cudaStreamWaitEvent(copy_.s, slot_free_[s].e));
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(weights_.get() + s * packed_.max_blob, pinned_->p + packed_.offset[l], packed_.layout[l].bytes,
                                   cudaMemcpyHostToDevice, copy_.s));
  SPDNN_CUDA_CHECK(cudaEventRecord(slot_ready_[s].e, copy_.s));
}

// Layers [from, to) of the batch's r0 rows: the densification before layer 0, the survivors' ids after the
// last layer. Enqueued without host synchronization.
template <class Weight>
void LayerLoop<Weight>::enqueue_layers(int32_t from, int32_t to, int32_t r0) {
  if (from == 0) {
    if (plan_.weights_streamed) {
      for (int s = 0; s < 2; ++s) SPDNN_CUDA_CHECK(cudaEventRecord(slot_free_[s].e, compute_.s));
      for (int32_t l = 0; l < std::min(layers_, 2); ++l) stream_layer(l);
    }
    if (input_value_ && (feature_major_ || first_columns_)) {
      SPDNN_CUDA_CHECK(launch_densify_column_bits(in_ptr_.get(), in_cols_.get(), r0, n_, input_words_, in_bits_.get(), compute_.s));
    } else if (input_value_) {
      SPDNN_CUDA_CHECK(launch_densify_bits(in_ptr_.get(), in_cols_.get(), r0, input_words_, in_bits_.get(), compute_.s));
    } else if (feature_major_) {
      SPDNN_CUDA_CHECK(launch_densify_columns(in_ptr_.get(), in_cols_.get(), in_vals_.get(), r0, n_, ld_, feat_a_.get(), compute_.s));
    } else {
      SPDNN_CUDA_CHECK(cudaMemsetAsync(feat_a_.get(), 0, static_cast<size_t>(r0) * n_ * sizeof(float), compute_.s));
      SPDNN_CUDA_CHECK(launch_densify(in_ptr_.get(), in_cols_.get(), in_vals_.get(), r0, n_, feat_a_.get(), compute_.s));
    }
    SPDNN_CUDA_CHECK(launch_iota(list_a_.get(), r0, compute_.s));
    SPDNN_CUDA_SYNC_IF_DEBUG("densify/iota");
  }
  // With meetings, rows arrive in free slots anywhere in the batch's buffers.
  const int rows = static_cast<int>(meet_.empty() ? r0 : batch_);
  for (int32_t l = from; l < to; ++l) {
    if (l == tail_from_) {  // every layer left, rows alone
      enqueue_row_tail();
      break;
    }
    const Side in = side(l), out = side(l + 1);
    const unsigned char* base = weights_.get() + (plan_.weights_streamed ? (l % 2) * packed_.max_blob : packed_.offset[l]);
    if (plan_.weights_streamed) SPDNN_CUDA_CHECK(cudaStreamWaitEvent(compute_.s, slot_ready_[l % 2].e));
    LayerArgs<Weight> a{};
    a.in = in.feat, a.out = out.feat, a.active = in.list, a.count = counts_.get() + l, a.ids_in = in.ids, a.ids_out = out.ids;
    a.next_active = out.list, a.next_count = counts_.get() + l + 1, a.row_total = row_total_.get();
    a.tiles_done = tiles_done_.get(), a.nnz = nnz_.get() + l, a.bias = net_.bias, a.clip = net_.clip;
    const LayerKernelConfig& kernel = packed_.layout[l].kernel;
    // A feature-major first layer before row-major ones writes to its input side (its inputs are bits).
    const bool transposed = l == 0 && first_columns_;
    // ... and leaves the layer's nonzero count, each output counted for its group's neurons, to the
    // transpose (its own, once an output, goes to a word nobody reads).
    if (transposed) a.out = in.feat, a.nnz = unread_nnz_.get();
    a.stride = static_cast<int32_t>(kernel.feature_major ? ld_ : n_);
    if (l > 0) a.in_nnz = nnz_.get() + l - 1;
    bind_layer(a, packed_.layout[l], base);
    if (merge_rows_) a.mult_in = in.mult, a.mult_out = out.mult, a.next_inputs = inputs_.get() + l + 1;
    if (l == 0 && input_value_) a.in_bits = in_bits_.get(), a.in_value = *input_value_, a.in_words = input_words_;
    const int blocks_per_sm =
        std::find_if(blocks_per_sm_.begin(), blocks_per_sm_.end(), [&](const auto& k) { return k.first == kernel; })->second;
    const int tiles = packed_.layout[l].tiles, row_blocks = (rows + kernel.rows - 1) / kernel.rows;
    // Feature-major: a persistent grid over the layer's items (column_kernel.cuh), as many blocks as fit.
    const int blocks = kernel.feature_major ? blocks_per_sm * prop_.multiProcessorCount : tiles;
    const int grid_rows = kernel.feature_major ? 1
                                               : std::clamp(blocks_per_sm * prop_.multiProcessorCount * 2 / std::max(tiles, 1), 1,
                                                            std::max(1, std::min(row_blocks, 65535)));
    // External records: under stream capture a plain record only orders streams and leaves no timed node.
    if (!layer_begin_.empty()) SPDNN_CUDA_CHECK(cudaEventRecordWithFlags(layer_begin_[l].e, compute_.s, cudaEventRecordExternal));
    if (transposed && first_counts_) enqueue_first_counts(out, r0);  // rows written, marked and counted
    else SPDNN_CUDA_CHECK(launch_layer_kernel<Weight>(kernel, a, blocks, grid_rows, packed_.layout[l].fused, dependent_launch_, compute_.s));
    if (kernel.feature_major)
      SPDNN_CUDA_CHECK(launch_select_rows(a.count, row_total_.get(), in.list, in.ids, out.ids, out.list, a.next_count, compute_.s));
    if (transposed) {
      // Rows in the layout the next layer reads; rows stay where they were (every multiplicity is 1 before
      // the first merge), so the inputs they stand for are the rows kept.
      if (!first_counts_)
        SPDNN_CUDA_CHECK(launch_columns_to_rows(a.out, ld_, packed_.layout[l].outputs, a.count, r0, out.feat, n_, a.out_weight,
                                                nnz_.get() + l, compute_.s));
      if (merge_rows_) {
        SPDNN_CUDA_CHECK(launch_fill(out.mult, r0, 1, compute_.s));
        SPDNN_CUDA_CHECK(cudaMemcpyAsync(a.next_inputs, a.next_count, sizeof(int32_t), cudaMemcpyDeviceToDevice, compute_.s));
      }
    }
    if (!layer_end_.empty()) SPDNN_CUDA_CHECK(cudaEventRecordWithFlags(layer_end_[l].e, compute_.s, cudaEventRecordExternal));
    SPDNN_CUDA_SYNC_IF_DEBUG("layer_kernel");
    if (merge_rows_ && l + 1 < layers_ && merges_after(l + 1)) {
      const ClipCarry carry = carries_at(l + 1) ? ClipCarry{carried_.get(), carried_count_.get(), net_.clip, l + 1} : ClipCarry{};
      SPDNN_CUDA_CHECK(launch_row_merge(out.feat, n_, packed_.layout[l].outputs, out.list, counts_.get() + l + 1, out.ids,
                                        out.mult, log_.get(), log_count_.get(), scratch_, carry, compute_.s));
      SPDNN_CUDA_SYNC_IF_DEBUG("row_merge");
    }
    if (plan_.weights_streamed) {
      SPDNN_CUDA_CHECK(cudaEventRecord(slot_free_[l % 2].e, compute_.s));
      if (l + 2 < layers_) stream_layer(l + 2);
    }
  }
  if (to == layers_)
    SPDNN_CUDA_CHECK(launch_gather_ids(side(layers_).list, counts_.get() + layers_, side(layers_).ids, categories_.get(),
                                       static_cast<int32_t>(batch_), compute_.s));
}

// Per-layer counts and the survivors of the batch just run (and their features, when kept).
template <class Weight>
void LayerLoop<Weight>::collect_batch(RunResult& result) {
  std::vector<int32_t> counts(layers_ + 1);
  std::vector<unsigned long long> nnz(layers_);
  SPDNN_CUDA_CHECK(cudaMemcpy(counts.data(), counts_.get(), (layers_ + 1) * sizeof(int32_t), cudaMemcpyDeviceToHost));
  if (layers_ > 0) SPDNN_CUDA_CHECK(cudaMemcpy(nnz.data(), nnz_.get(), layers_ * sizeof(unsigned long long), cudaMemcpyDeviceToHost));
  std::vector<int32_t> inputs;  // with merged rows, counts[] are the rows computed, inputs[] the inputs they stand for
  if (merge_rows_) {
    inputs.resize(layers_ + 1);
    SPDNN_CUDA_CHECK(cudaMemcpy(inputs.data(), inputs_.get(), (layers_ + 1) * sizeof(int32_t), cudaMemcpyDeviceToHost));
  }
  distinct_rows_.resize(layers_, 0);
  for (int32_t l = 0; l < layers_; ++l) distinct_rows_[l] += counts[l + 1];
  for (int32_t l = 0; l < layers_; ++l) {
    result.layers[l].active_inputs += active_before_meeting_[l + 1] >= 0 ? active_before_meeting_[l + 1]
                                      : merge_rows_                       ? inputs[l + 1]
                                                                          : counts[l + 1];
    result.layers[l].nnz += static_cast<int64_t>(nnz[l]);
  }
  if (!layer_begin_.empty()) {
    result.layer_seconds.resize(layers_, 0.0);
    for (int32_t l = 0; l < ran_to_; ++l) {  // layers after a stop did not run (0 s)
      float ms = 0.0f;
      SPDNN_CUDA_CHECK(cudaEventElapsedTime(&ms, layer_begin_[l].e, layer_end_[l].e));
      result.layer_seconds[l] += ms / 1e3;
    }
  }
  const int32_t survivors = counts[layers_];
  std::vector<int32_t> ids(std::max(survivors, 0));
  SPDNN_CUDA_CHECK(cudaMemcpy(ids.data(), categories_.get(), survivors * sizeof(int32_t), cudaMemcpyDeviceToHost));
  for (int32_t k = 0; k < survivors; ++k) result.categories.push_back(int64_t{ids[k]} + 1);
  if (opt_.keep_features) kept_.resize(static_cast<size_t>(x_.count() + received_));
  if (opt_.keep_features && survivors > 0) keep_survivors(survivors, ids);
  if (!clip_kept_.empty()) collect_carried(result, ids);
  if (merge_rows_) expand_merged(result, ids);
}

// The final rows of the batch's survivors (`ids`: their inputs), in neuron order.
template <class Weight>
void LayerLoop<Weight>::keep_survivors(int32_t survivors, const std::vector<int32_t>& ids) {
  std::vector<int32_t> list(survivors);
  std::vector<float> row(n_);
  float* in = side(layers_).feat;
  SPDNN_CUDA_CHECK(cudaMemcpy(list.data(), side(layers_).list, survivors * sizeof(int32_t), cudaMemcpyDeviceToHost));
  for (int32_t k = 0; k < survivors; ++k) {
    if (feature_major_)  // one float from each position
      SPDNN_CUDA_CHECK(cudaMemcpy2D(row.data(), sizeof(float), in + list[k], ld_ * sizeof(float), sizeof(float), n_,
                                    cudaMemcpyDeviceToHost));
    else
      SPDNN_CUDA_CHECK(cudaMemcpy(row.data(), in + static_cast<size_t>(list[k]) * n_, n_ * sizeof(float), cudaMemcpyDeviceToHost));
    auto& dst = kept_[ids[k]];
    for (int32_t j = 0; j < n_; ++j)  // neuron order; in structure mode a group's value for each of its neurons
      if (const float v = row[packed_.last_position[j]]; v != 0.0f) dst.emplace_back(j, v);
  }
}

// Inputs merged into survivors (the log of this batch's merges, followed to the row that computed them)
// are survivors too, with the same final features.
template <class Weight>
void LayerLoop<Weight>::expand_merged(RunResult& result, const std::vector<int32_t>& survivors) {
  int32_t entries = 0;
  SPDNN_CUDA_CHECK(cudaMemcpy(&entries, log_count_.get(), sizeof entries, cudaMemcpyDeviceToHost));
  if (entries <= 0) return;
  std::vector<MergedInput> log(entries);
  SPDNN_CUDA_CHECK(cudaMemcpy(log.data(), log_.get(), entries * sizeof(MergedInput), cudaMemcpyDeviceToHost));
  cpu::InputRoots roots(x_.count() + received_);  // the structure path's bookkeeping of merged inputs
  for (const MergedInput& m : log) roots.merge(m.input, m.into);
  std::unordered_set<int64_t> alive(survivors.begin(), survivors.end());
  for (const MergedInput& m : log) {
    const int64_t root = roots.find(m.input);
    if (!alive.count(root)) continue;
    result.categories.push_back(int64_t{m.input} + 1);
    if (opt_.keep_features) kept_[m.input] = kept_[root];
  }
}

template <class Weight>
void LayerLoop<Weight>::run(RunResult& result) {
  // SPDNN_CUDA_GRAPHS=0 disables graphs (for measurements). (Debug synchronization after each launch
  // cannot happen inside a capture.)
  const bool graphs = !env_equals("SPDNN_CUDA_GRAPHS", "0") && !sync_after_launch() && !plan_.weights_streamed;
  result.layers.resize(layers_);
  active_before_meeting_.assign(layers_ + 1, -1);
  Event t_begin(cudaEventDefault), t_end(cudaEventDefault);
  float inference_ms = 0.0f;
  // Parts of one run line up here: just before the first timed launch, once inputs are uploaded and
  // graphs instantiated, so that the common span counts none of that.
  bool started = false;
  auto start_once = [&] {
    if (!started && opt_.before_inference) opt_.before_inference();
    started = true;
  };
  // Segments between meetings and checkpoints; each is one graph (instantiation counts as preprocessing).
  std::vector<int32_t> bounds{0};
  bounds.insert(bounds.end(), meet_.begin(), meet_.end());
  const std::vector<int32_t> checks = checkpoints();
  bounds.insert(bounds.end(), checks.begin(), checks.end());
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  bounds.push_back(layers_);
  const size_t segments = bounds.size() - 1;
  const int64_t candidates = static_cast<int64_t>(rows_.size());
  for (int64_t b0 = 0; b0 < candidates; b0 += batch_) {
    const int32_t r0 = static_cast<int32_t>(std::min(candidates, b0 + batch_) - b0);
    upload_batch(b0, r0);
    // One graph that stops on the device where the host has nothing to do between segments, else one a
    // segment (layer_loop_graphs.cpp). Instantiation counts as preprocessing.
    std::vector<cudaGraphExec_t> execs;
    struct ExecsGuard {
      std::vector<cudaGraphExec_t>& e;
      ~ExecsGuard() {
        for (cudaGraphExec_t g : e)
          if (g != nullptr) cudaGraphExecDestroy(g);
      }
    } execs_guard{execs};
    bool device_stops = false;
    if (graphs) {
      const auto t_graph = std::chrono::steady_clock::now();
      // SPDNN_DEVICE_STOP=0: the host reads the counts at checkpoints (1024 x 120: 5% slower, H100).
      if (!checks.empty() && meet_.empty() && layer_begin_.empty() && !env_equals("SPDNN_DEVICE_STOP", "0"))
        if (cudaGraphExec_t whole = stopping_graph(bounds, r0)) execs.push_back(whole), device_stops = stopped_on_device_ = true;
      for (size_t g = 0; !device_stops && g < segments; ++g) {
        cudaGraph_t graph = capture_segment(bounds[g], bounds[g + 1], r0);
        execs.push_back(nullptr);
        cudaError_t inst = cudaGraphInstantiate(&execs.back(), graph, 0);
        cudaGraphDestroy(graph);
        SPDNN_CUDA_CHECK(inst);
      }
      result.preprocess_s += seconds_since(t_graph);
    }
    start_once();
    if (result.inference_begin_unix == 0.0) result.inference_begin_unix = unix_seconds();
    SPDNN_CUDA_CHECK(cudaEventRecord(t_begin.e, compute_.s));
    meeting_ = !meet_.empty();
    ran_to_ = layers_;
    if (device_stops) SPDNN_CUDA_CHECK(cudaGraphLaunch(execs.front(), compute_.s));
    for (size_t g = 0; !device_stops && g < segments; ++g) {
      if (graphs) SPDNN_CUDA_CHECK(cudaGraphLaunch(execs[g], compute_.s));
      else enqueue_layers(bounds[g], bounds[g + 1], r0);
      if (g + 1 == segments) break;
      if (meeting_ && std::binary_search(meet_.begin(), meet_.end(), bounds[g + 1])) meet_after(bounds[g + 1]);
      if (std::binary_search(checks.begin(), checks.end(), bounds[g + 1])) {
        // No row left to compute (carried at the clip, or dead): the layers after this would only launch.
        int32_t left = 0;
        SPDNN_CUDA_CHECK(cudaMemcpyAsync(&left, counts_.get() + bounds[g + 1], sizeof left, cudaMemcpyDeviceToHost, compute_.s));
        SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute_.s));
        if (left == 0) {
          ran_to_ = bounds[g + 1];
          break;
        }
      }
    }
    SPDNN_CUDA_CHECK(cudaEventRecord(t_end.e, compute_.s));
    SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute_.s));
    result.inference_end_unix = unix_seconds();
    float ms = 0.0f;
    SPDNN_CUDA_CHECK(cudaEventElapsedTime(&ms, t_begin.e, t_end.e));
    inference_ms += ms;
    collect_batch(result);
  }
  start_once();  // also when there was nothing to run
  if (!meet_.empty()) opt_.exchange->leave();
  std::sort(result.categories.begin(), result.categories.end());  // survivors come in no particular order
  result.inference_s = inference_ms / 1e3;
  if (opt_.keep_features) {
    kept_.resize(static_cast<size_t>(x_.count() + received_));
    CsrMatrix features;
    features.rows = x_.count() + received_;
    features.cols = n_;
    for (const auto& row : kept_) {
      for (auto [c, v] : row) features.col_idx.push_back(c), features.values.push_back(v);
      features.row_ptr.push_back(features.nnz());
    }
    result.features = std::move(features);
  }
}

template class LayerLoop<float>;
template class LayerLoop<__half>;

}  // namespace spdnn::cuda
