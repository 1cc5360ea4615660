// Which engine a run uses: one engine by name, or one cuda engine per GPU under a partitioned engine, with
// the GPUs of a node shared out between the processes (MPI ranks) on it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/partitioned_engine.hpp"

namespace spdnn {

struct EngineRequest {
  std::string engine = "auto";  // auto | reference | cpu | cuda
  int gpus = 0;                 // GPUs to use; 0: every visible GPU, shared out between the ranks of this node
  std::vector<int> devices;     // GPUs by number instead (a number may repeat: parts sharing a GPU)
  Partitioning partition = Partitioning::balanced;
  int local_rank = 0, local_size = 1;  // this process among the ranks of its node
  int ranks = 1;                       // ranks in all
};

struct AssembledEngine {
  std::unique_ptr<Engine> engine;
  int gpus = 1;               // parts (GPUs) the engine drives
  double memory_share = 1.0;  // the fraction of a GPU's free memory each part may plan with
  std::string note;           // for the user, when `auto` fell back (no GPU: the cpu engine)
};

// Throws Error(usage) for GPUs that do not exist or a CPU engine asked for GPUs, Error(unsupported)
// for `cuda` without a usable GPU.
AssembledEngine assemble_engine(const EngineRequest& request);

}  // namespace spdnn
