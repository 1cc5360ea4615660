// Steps 3 and 4 of the cuda engine: the device state of a run (weights resident or in two streaming
// slots, features and active lists for one batch, per-layer counters), and the layer loop over each batch
// of inputs, with balancing meetings between the engines that share a problem.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "challenge/cuda/kernels.hpp"
#include "challenge/cuda/layer_pack.hpp"
#include "challenge/cuda/memory_plan.hpp"
#include "challenge/cuda/row_merge.hpp"
#include "challenge/cuda/row_tail.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/stream.hpp"
#include "spdnn/challenge/engine.hpp"

namespace spdnn::cuda {

// Structure mode's layers from this many on run as rows alone (row_tail.hpp); 0: never. Off by default
// until it has run on a GPU (built in session 40 while no GPU was lent; docs/challenge-engine.md).
inline constexpr int32_t kRowTailFrom = 0;
// kRowTailFrom, or SPDNN_ROW_TAIL=k where set (from k; 0: never); anything but a count is Errc::usage.
int32_t row_tail_start();

template <class Weight>
class LayerLoop {
 public:
  // Allocates the device state of `plan` and uploads (or pins, to stream) the packed weights, whose host
  // blobs it frees. `rows`: the inputs that can be active (nonempty rows), in id order; `meet`: the layer
  // counts after which to meet (RunOptions::exchange), empty for none; not with feature-major layers. Each
  // layer runs the kernel its layout was built for (BlobLayout::kernel). `merge_rows` (structure mode): rows that become bitwise
  // equal are merged after the layer counts of merges_after (row_merge.hpp). `input_value`: every input
  // entry has this value, and the first layer reads the inputs as bits (LayerArgs::in_bits). `clip_kept`
  // (with merge_rows; clip_row_kept, empty: none): the merges from kCarryFrom layers on carry rows at the
  // clip where it allows, and the batch stops at a checkpoint once no row is left to compute. In the rows
  // layout, the layers from kRowTailFrom (SPDNN_ROW_TAIL) on run as one launch of rows alone
  // (row_tail.hpp) where the weights are resident and nothing needs the layers one at a time (meetings, per-layer times).
  LayerLoop(const cudaDeviceProp& prop, const Network& net, const Features& x, const RunOptions& opt, PackedNetwork& packed,
            const MemoryPlan& plan, std::vector<int32_t> meet, std::vector<int32_t> rows, bool merge_rows = false,
            std::optional<float> input_value = std::nullopt, std::vector<char> clip_kept = {});
  ~LayerLoop();

  // Every batch: the per-layer counts, categories, features (RunOptions::keep_features), the inference
  // interval, each layer's time (RunOptions::layer_times) and the graph instantiation time (added to
  // preprocess_s) go into `result`.
  void run(RunResult& result);

  // The rows computed after each layer (merged rows once), summed over batches.
  const std::vector<int64_t>& distinct_rows() const { return distinct_rows_; }
  // Per layer, the inputs carried at the clip after it (StructureReport::carried_at_clip); empty when
  // rows are not carried.
  const std::vector<int64_t>& carried_at_clip() const { return carried_at_clip_; }
  // Whether a batch ran as one graph that stops itself once no row is left (layer_loop_graphs.cpp).
  bool stopped_on_device() const { return stopped_on_device_; }
  // The first layer (0-based) of the rows-alone tail and its rows a block; layers() when there is none.
  int32_t row_tail_from() const { return tail_from_; }
  int row_tail_rows() const { return tail_rows_; }

  // Merge equal rows after this many layers: every one of the first 4, then 2^k and 3 x 2^k (rows
  // converge early on the challenge's networks, and a merge of few rows costs little).
  static bool merges_after(int32_t k) {
    const int32_t odd = k % 3 == 0 ? k / 3 : k;
    return k <= 4 || (odd & (odd - 1)) == 0;
  }
  // Rows at the clip are looked for in the merges from this many layers on (before, few rows are), and
  // a batch may stop at the carrying merges from kCheckFrom layers on (each check is a host round trip).
  static constexpr int32_t kCarryFrom = 8, kCheckFrom = 16;

 private:
  struct Side {  // the buffers a layer reads: ping-pong by parity (layer l reads `a` when l is even)
    float* feat;
    int32_t *list, *ids, *mult;
  };
  Side side(int32_t l);
  void upload_batch(int64_t b0, int32_t r0);
  void stream_layer(int32_t l);
  void enqueue_layers(int32_t from, int32_t to, int32_t r0);
  // Graphs of the layers (layer_loop_graphs.cpp): segment [from, to); the whole batch, its segments
  // between `bounds` after the first run only while rows are left (nullptr: no conditional nodes here).
  cudaGraph_t capture_segment(int32_t from, int32_t to, int32_t r0);
  cudaGraphExec_t stopping_graph(const std::vector<int32_t>& bounds, int32_t r0);
  void meet_after(int32_t k);
  int64_t exchange_rows(const Side& at, int32_t* count, int32_t active, int64_t give,
                        const std::shared_ptr<const std::vector<int32_t>>& order, const Side& spare);
  void collect_batch(RunResult& result);
  void keep_survivors(int32_t survivors, const std::vector<int32_t>& ids);
  void expand_merged(RunResult& result, const std::vector<int32_t>& survivors);
  // Carrying rows at the clip (layer_loop_carry.cpp).
  bool carries_at(int32_t boundary) const;
  std::vector<int32_t> checkpoints() const;
  void collect_carried(RunResult& result, std::vector<int32_t>& survivors);
  // The rows-alone tail (layer_loop_tail.cpp): set up by the constructor where it applies, enqueued by
  // enqueue_layers in place of its layers.
  void init_row_tail();
  void enqueue_row_tail();
  // The first layer as counts (layer_loop_first.cpp), where PackedNetwork::first_counts has a plan: in
  // place of the feature-major first layer and its transpose, the batch's r0 rows into `out`.
  void init_first_counts();
  void enqueue_first_counts(const Side& out, int32_t r0);

  const cudaDeviceProp& prop_;
  const Network& net_;
  const Features& x_;
  const RunOptions& opt_;
  PackedNetwork& packed_;
  const MemoryPlan plan_;
  std::vector<int32_t> meet_;
  const std::vector<int32_t> rows_;
  const int32_t n_, layers_;
  const int64_t batch_;
  // The layers' feature layout (LayerKernelConfig::feature_major): features are [position][ld_ floats],
  // batch_ rows rounded up to whole 16-byte units (column_staged_kernel.cuh copies them); else
  // [row][n_ floats]. first_columns_ (structure mode, inputs as bits): only the first layer is
  // feature-major; it writes to the free input side and its output is transposed into rows for the next.
  const bool feature_major_;
  const bool first_columns_;
  const int64_t ld_;
  std::vector<std::pair<LayerKernelConfig, int>> blocks_per_sm_;  // of each kernel the layers use
  std::deque<Event> layer_begin_, layer_end_;                      // per layer, with RunOptions::layer_times

  Stream compute_, copy_;
  DeviceBuffer<unsigned char> weights_;
  struct Pinned;
  std::unique_ptr<Pinned> pinned_;  // the network in pinned host memory, when it streams
  Event slot_ready_[2], slot_free_[2];
  DeviceBuffer<float> feat_a_, feat_b_;
  DeviceBuffer<int32_t> list_a_, list_b_, ids_a_, ids_b_, categories_, row_total_, tiles_done_, counts_;
  DeviceBuffer<unsigned long long> nnz_, unread_nnz_;
  // Row merging (merge_rows): multiplicities per side, inputs per layer, the merge log, scratch.
  const bool merge_rows_;
  DeviceBuffer<int32_t> mult_a_, mult_b_, inputs_, log_count_, merge_first_, merge_slot_, merge_kept_;
  DeviceBuffer<uint64_t> merge_keys_;
  DeviceBuffer<MergedInput> log_;
  RowMergeScratch scratch_{};
  std::vector<int64_t> distinct_rows_;
  // Carrying (clip_kept_ nonempty): the rows carried in this batch, the layers it ran (it stops once no
  // row is left), the inputs carried per layer over batches.
  const std::vector<char> clip_kept_;
  DeviceBuffer<CarriedRow> carried_;
  DeviceBuffer<int32_t> carried_count_;
  int32_t ran_to_ = 0;
  bool stopped_on_device_ = false;
  // The rows-alone tail: its first layer (layers_: none), rows a block, grid, widest row, layers, and
  // where rows at the clip are carried.
  int32_t tail_from_ = 0;
  int tail_rows_ = 0, tail_blocks_ = 0;
  int32_t tail_width_ = 0;
  DeviceBuffer<RowTailLayer<Weight>> tail_layers_;
  DeviceBuffer<char> carry_at_;
  // The first layer as counts: whether it runs, and its plan on the device.
  bool first_counts_ = false;
  DeviceBuffer<int32_t> first_ptr_, first_pos_, first_weight_;
  DeviceBuffer<float> first_table_;
  std::vector<int64_t> carried_at_clip_;
  // The inputs' one value when they go to the first layer as bits, and the batch's input rows as bits.
  const std::optional<float> input_value_;
  int32_t input_words_ = 0;
  DeviceBuffer<uint32_t> in_bits_;
  DeviceBuffer<int64_t> in_ptr_;
  DeviceBuffer<int32_t> in_cols_;
  DeviceBuffer<float> in_vals_;
  // Sliced-ELL layers launch as programmatic dependents of the kernel before them (sm_90+; layer_kernel.cuh
  // says when they let the next one start); SPDNN_DEPENDENT_LAUNCH=0: plain launches, for comparisons.
  const bool dependent_launch_;

  // Per run: rows received by balancing (numbered from x.count() up), each layer's count before rows
  // moved at a meeting (-1: no meeting there), whether meetings go on, the kept features.
  int64_t received_ = 0;
  std::vector<int32_t> active_before_meeting_;
  bool meeting_ = false;
  std::vector<std::vector<std::pair<int32_t, float>>> kept_;
};

}  // namespace spdnn::cuda
