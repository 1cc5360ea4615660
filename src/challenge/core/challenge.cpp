// Verification of an answer against a truth, and the challenge throughput metric.
#include "spdnn/challenge/challenge.hpp"

namespace spdnn {

Verification verify_categories(const std::vector<int64_t>& answer, const std::vector<int64_t>& truth) {
  Verification v;
  size_t i = 0, j = 0;
  while (i < answer.size() || j < truth.size()) {
    if (j == truth.size() || (i < answer.size() && answer[i] < truth[j])) {
      ++v.extra, ++i;
    } else if (i == answer.size() || truth[j] < answer[i]) {
      ++v.missing, ++j;
    } else {
      ++i, ++j;
    }
  }
  v.passed = v.missing == 0 && v.extra == 0;
  return v;
}

double teraedges_per_s(int64_t inputs, int64_t edges, double seconds) {
  if (seconds <= 0) return 0.0;
  return static_cast<double>(inputs) * static_cast<double>(edges) / seconds / 1e12;
}

}  // namespace spdnn
