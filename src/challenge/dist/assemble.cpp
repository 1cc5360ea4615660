// Which engine a run uses (see include/spdnn/challenge/assemble.hpp).
#include "spdnn/challenge/assemble.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "spdnn/error.hpp"

namespace spdnn {

AssembledEngine assemble_engine(const EngineRequest& r) {
  AssembledEngine out;
  const bool wants_gpus = r.gpus > 0 || !r.devices.empty();
  if (wants_gpus && r.engine != "cuda" && r.engine != "auto")
    throw Error(Errc::usage, fmt::format("--gpus and --devices choose GPUs; engine {} runs on the CPU", r.engine));
  if (r.engine != "cuda" && r.engine != "auto") {
    out.engine = make_engine(r.engine, &out.note);
    return out;
  }
  const int visible = gpu_count();
  std::vector<int> devices = r.devices;
  for (int d : devices)
    if (d < 0 || d >= visible) throw Error(Errc::usage, fmt::format("--devices: GPU {} does not exist ({} visible)", d, visible));
  if (devices.empty() && visible > 0) {
    // Default: every visible GPU, shared out between the ranks of this node.
    const int k = r.gpus > 0 ? r.gpus : std::max(1, visible / r.local_size);
    if (r.ranks == 1 && k > visible)
      throw Error(Errc::usage, fmt::format("--gpus {}: only {} GPU{} visible (--devices can place several parts on one GPU)",
                                           k, visible, visible == 1 ? " is" : "s are"));
    for (int j = 0; j < k; ++j) devices.push_back((r.local_rank * k + j) % visible);
  } else if (devices.empty()) {
    // No GPU: `cuda` (asked for, or GPUs asked for) throws saying why; `auto` falls back to cpu with a note.
    out.engine = make_engine(wants_gpus ? "cuda" : r.engine, &out.note);
    return out;
  }
  // GPUs used by several parts (or by several ranks of this node) are shared out.
  int most = 0;
  for (int d : devices) most = std::max<int>(most, static_cast<int>(std::count(devices.begin(), devices.end(), d)));
  const int ranks_per_gpu = std::max(1, (r.local_size * static_cast<int>(devices.size()) + visible - 1) / visible);
  out.memory_share = 1.0 / std::max(most, r.devices.empty() ? ranks_per_gpu : most);
  out.gpus = static_cast<int>(devices.size());
  if (devices.size() == 1) {
    out.engine = make_gpu_engine(devices.front());
    return out;
  }
  std::vector<std::unique_ptr<Engine>> engines;
  for (int d : devices) engines.push_back(make_gpu_engine(d));
  out.engine = make_partitioned_engine(std::move(engines), r.partition);
  return out;
}

}  // namespace spdnn
