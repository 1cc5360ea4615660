// The cpu engine's working set: the active rows of Y, per-thread scratch, and the step that joins
// rows computed in parallel chunks. Shared by its general and structure paths.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel_errors.hpp"
#include "spdnn/challenge/features.hpp"

namespace spdnn::cpu {

// The active rows of Y: a CSR over active inputs plus each row's input id.
struct ActiveRows {
  std::vector<int64_t> ids;
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> cols;
  std::vector<float> vals;
  // Structure path only: how many inputs each row stands for (itself and the equal rows merged into it).
  std::vector<int64_t> copies;

  int64_t rows() const { return static_cast<int64_t>(ids.size()); }
  int64_t nnz() const { return static_cast<int64_t>(cols.size()); }
  // Empties the rows but keeps the memory: buffers are reused from layer to layer, because fresh
  // allocations fault their pages in one at a time, and page faults serialize threads.
  void clear() {
    ids.clear(), cols.clear(), vals.clear(), copies.clear();
    row_ptr.assign(1, 0);
  }
  void append(int64_t id, const int32_t* c, const float* v, int64_t count) {
    ids.push_back(id);
    cols.insert(cols.end(), c, c + count);
    vals.insert(vals.end(), v, v + count);
    row_ptr.push_back(nnz());
  }
};

// Per-thread scratch: the dense accumulator and the list of outputs touched in it.
struct Scratch {
  std::vector<float> acc;
  std::vector<uint8_t> touched_mask;
  std::vector<int32_t> touched;
  explicit Scratch(int64_t n) : acc(n, 0.0f), touched_mask(n, 0) { touched.reserve(n); }
};

// The inputs that have any nonzero, numbered by their row in `x`.
ActiveRows nonempty_rows(const Features& x);

// Joins parts[0 .. chunks) in order into `into` (whose memory is reused), in parallel: early layers of
// large networks hold gigabytes. `copies` are joined when the parts carry them.
void concatenate(std::vector<ActiveRows>& parts, int64_t chunks, ActiveRows& into, int threads);

// One layer over the rows of `y`, in parallel chunks of consecutive rows: body(begin, end, thread, out)
// appends what rows [begin, end) become (those that survive) to `out`. The chunks are joined in order, so
// rows keep their order; the result replaces `y`, whose memory goes to `spare` for the next layer.
template <class Body>
void advance_rows(ActiveRows& y, ActiveRows& spare, std::vector<ActiveRows>& parts, int threads, Body body) {
  const int64_t chunks = std::min<int64_t>(y.rows(), static_cast<int64_t>(parts.size()));
  ParallelErrors errors(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < chunks; ++c)
    errors.run(c, [&] {
      parts[c].clear();
      body(y.rows() * c / chunks, y.rows() * (c + 1) / chunks, omp_get_thread_num(), parts[c]);
    });
  errors.rethrow();
  ActiveRows next = std::move(spare);
  concatenate(parts, chunks, next, threads);
  spare = std::move(y);
  y = std::move(next);
}

}  // namespace spdnn::cpu
