// Distributed runs: inputs partitioned over processes (MPI ranks), the network duplicated on each.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/features.hpp"

namespace spdnn::dist {

// Rows [begin, end) of `count` for `rank` of `ranks`: contiguous, sizes differ by at most one.
struct Slice {
  int64_t begin = 0, end = 0;
};
Slice slice_of(int64_t count, int rank, int ranks);
// The rows of `x` in the slice, as a Features of their own (row r is input begin + r).
Features take_rows(const Features& x, Slice s);

// One rank's share, as reported.
struct RankReport {
  int64_t inputs = 0, survivors = 0;
  double inference_s = 0.0;
};

// The process group. Without MPI (or when not started by mpirun) it is one rank and every collective
// is the identity, so callers need no special case.
class World {
 public:
  World(int* argc, char*** argv);  // initializes MPI only when started by an MPI launcher
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The rank's index among the ranks on its node (to pick a GPU), and their number.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // True if any rank passes true (every rank must call it: a barrier for failures).
  bool any(bool mine) const;
  // Rank 0 receives every rank's categories (already global ids, ascending per rank), concatenated.
  std::vector<int64_t> gather_categories(const std::vector<int64_t>& mine) const;
  // Element-wise sums of the per-layer counts at rank 0.
  std::vector<LayerStats> reduce_layers(const std::vector<LayerStats>& mine) const;
  std::vector<RankReport> gather_reports(const RankReport& mine) const;
  double max(double v) const;
  double min(double v) const { return -max(-v); }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool initialized_ = false;
};

// Whether this build can run under mpirun.
bool built_with_mpi();

// Runs `phase` on every rank of `world` so that a failure on any rank ends every rank cleanly instead of
// leaving the others waiting: `phase` gets `line_up`, to call once where the ranks should start together
// (it throws on a rank whose peers have already failed), and after `phase` every rank votes. Returns
// nullopt when every rank succeeded, else this rank's one-line message (empty when another rank failed
// and says so itself). With one rank, `phase` runs as it is and its exceptions propagate.
std::optional<std::string> run_together(const World& world,
                                        const std::function<void(const std::function<void()>& line_up)>& phase);

}  // namespace spdnn::dist
