// Balancing meetings in the cuda engine (see layer_loop.hpp): after the layers a meeting is planned for,
// the engines say how many rows each holds, and rows move between GPUs or processes through the exchange
// (dense in this layout's physical order, or through neuron order to an engine of another layout).
#include <cuda_fp16.h>
#include <fmt/format.h>

#include <vector>

#include "challenge/cuda/layer_loop.hpp"
#include "cuda/check.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

// A balancing meeting after k layers: the engines say how many rows each holds and move rows as planned.
template <class Weight>
void LayerLoop<Weight>::meet_after(int32_t k) {
  SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute_.s));
  int32_t active = 0;
  SPDNN_CUDA_CHECK(cudaMemcpy(&active, counts_.get() + k, sizeof active, cudaMemcpyDeviceToHost));
  const ExchangePlan plan = opt_.exchange->plan(k, active, batch_);
  active_before_meeting_[k] = active;  // layer k's count is the one before rows moved
  if (plan.give > 0 || plan.receive > 0)
    received_ += exchange_rows(side(k), counts_.get() + k, active, plan.give, packed_.order_after.at(k), side(k + 1));
  if (plan.last) meeting_ = false;
}

// Hands the last `give` of the `active` rows listed at `at` to the exchange and takes in what comes back,
// into free rows of `at` (rows travel in neuron order; here they are in the physical order `order`). The
// other side's buffers (`spare`) are free at a meeting (the next layer overwrites them), so rows are staged
// there. Returns the number of rows received.
template <class Weight>
int64_t LayerLoop<Weight>::exchange_rows(const Side& at, int32_t* count, int32_t active, int64_t give,
                                         const std::shared_ptr<const std::vector<int32_t>>& order, const Side& spare) {
  std::vector<int32_t> host_list(active), row_ids(batch_);
  SPDNN_CUDA_CHECK(cudaMemcpy(host_list.data(), at.list, active * sizeof(int32_t), cudaMemcpyDeviceToHost));
  SPDNN_CUDA_CHECK(cudaMemcpy(row_ids.data(), at.ids, batch_ * sizeof(int32_t), cudaMemcpyDeviceToHost));
  const int32_t keep = active - static_cast<int32_t>(give);
  // Rows leave as they are (dense, this layer's physical order): another GPU part of the same network has
  // the same layout and uploads them as they come.
  MovedRows out;
  if (give > 0) {
    out.layout = order;
    out.dense.resize(static_cast<size_t>(give) * n_);
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(spare.list, host_list.data() + keep, give * sizeof(int32_t), cudaMemcpyHostToDevice, compute_.s));
    SPDNN_CUDA_CHECK(launch_copy_rows(at.feat, spare.feat, spare.list, static_cast<int32_t>(give), n_, false, compute_.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(out.dense.data(), spare.feat, out.dense.size() * sizeof(float), cudaMemcpyDeviceToHost, compute_.s));
    for (int64_t k = 0; k < give; ++k) out.ids.push_back(row_ids[host_list[keep + k]]);
    SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute_.s));
  }
  MovedRows in = opt_.exchange->trade(std::move(out));
  const int64_t arrived = in.count();
  if (keep + arrived > batch_ || x_.count() + received_ + arrived >= INT32_MAX)
    throw Error(Errc::device, fmt::format("balancing sent {} rows to a GPU that holds at most {} more", arrived, batch_ - keep));
  std::vector<char> used(batch_, 0);
  for (int32_t k = 0; k < keep; ++k) used[host_list[k]] = 1;
  host_list.resize(keep);
  for (int32_t slot = 0; static_cast<int64_t>(host_list.size()) < keep + arrived; ++slot)
    if (!used[slot]) host_list.push_back(slot);
  if (arrived > 0) {
    if (!in.is_dense() || (in.layout != order && *in.layout != *order)) {
      // Rows from an engine of another layout: through neuron order into this one.
      in.to_neuron_order();
      std::vector<int32_t> position(n_);  // physical position of each neuron
      for (int32_t p = 0; p < n_; ++p) position[(*order)[p]] = p;
      in.dense.assign(static_cast<size_t>(arrived) * n_, 0.0f);
      for (int64_t k = 0; k < arrived; ++k)
        for (int64_t q = in.rows.row_ptr[k]; q < in.rows.row_ptr[k + 1]; ++q)
          in.dense[k * n_ + position[in.rows.col_idx[q]]] = in.rows.values[q];
    }
    for (int64_t k = 0; k < arrived; ++k) row_ids[host_list[keep + k]] = static_cast<int32_t>(in.ids[k]);
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(spare.list, host_list.data() + keep, arrived * sizeof(int32_t), cudaMemcpyHostToDevice, compute_.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(spare.feat, in.dense.data(), in.dense.size() * sizeof(float), cudaMemcpyHostToDevice, compute_.s));
    SPDNN_CUDA_CHECK(launch_copy_rows(spare.feat, at.feat, spare.list, static_cast<int32_t>(arrived), n_, true, compute_.s));
    SPDNN_CUDA_CHECK(cudaMemcpyAsync(at.ids, row_ids.data(), batch_ * sizeof(int32_t), cudaMemcpyHostToDevice, compute_.s));
  }
  const int32_t now = static_cast<int32_t>(host_list.size());
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(at.list, host_list.data(), now * sizeof(int32_t), cudaMemcpyHostToDevice, compute_.s));
  SPDNN_CUDA_CHECK(cudaMemcpyAsync(count, &now, sizeof now, cudaMemcpyHostToDevice, compute_.s));
  SPDNN_CUDA_CHECK(cudaStreamSynchronize(compute_.s));  // the host vectors go out of scope
  return arrived;
}

template void LayerLoop<float>::meet_after(int32_t);
template void LayerLoop<__half>::meet_after(int32_t);

}  // namespace spdnn::cuda
