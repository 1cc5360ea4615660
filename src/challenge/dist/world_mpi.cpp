// World over MPI (OpenMPI). MPI is initialized only when an MPI launcher started the process, so the
// same binary runs alone without touching MPI.
#include <mpi.h>

#include <cstdlib>
#include <numeric>

#include "spdnn/challenge/dist.hpp"

namespace spdnn::dist {

namespace {
bool started_by_launcher() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}
}  // namespace

bool built_with_mpi() { return true; }

World::World(int* argc, char*** argv) {
  if (!started_by_launcher()) return;
  MPI_Init(argc, argv);
  initialized_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

World::~World() {
  if (initialized_) MPI_Finalize();
}

bool World::any(bool mine) const {
  if (!initialized_) return mine;
  int in = mine ? 1 : 0, out = 0;
  MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return out != 0;
}

std::vector<int64_t> World::gather_categories(const std::vector<int64_t>& mine) const {
  if (!initialized_) return mine;
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(size_), displs(size_, 0);
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int64_t> all;
  if (rank_ == 0) {
    std::partial_sum(counts.begin(), counts.end() - 1, displs.begin() + 1);
    all.resize(static_cast<size_t>(displs.back()) + counts.back());
  }
  MPI_Gatherv(mine.data(), n, MPI_INT64_T, all.data(), counts.data(), displs.data(), MPI_INT64_T, 0, MPI_COMM_WORLD);
  return all;
}

std::vector<LayerStats> World::reduce_layers(const std::vector<LayerStats>& mine) const {
  if (!initialized_) return mine;
  std::vector<int64_t> flat, sum(mine.size() * 2);
  for (const LayerStats& s : mine) flat.push_back(s.active_inputs), flat.push_back(s.nnz);
  MPI_Reduce(flat.data(), sum.data(), static_cast<int>(flat.size()), MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  std::vector<LayerStats> out(mine.size());
  for (size_t l = 0; l < mine.size(); ++l) out[l] = {sum[2 * l], sum[2 * l + 1]};
  return out;
}

std::vector<RankReport> World::gather_reports(const RankReport& mine) const {
  if (!initialized_) return {mine};
  double mine_flat[3] = {static_cast<double>(mine.inputs), static_cast<double>(mine.survivors), mine.inference_s};
  std::vector<double> all(3 * static_cast<size_t>(size_));
  MPI_Gather(mine_flat, 3, MPI_DOUBLE, all.data(), 3, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  std::vector<RankReport> out;
  if (rank_ == 0)
    for (int r = 0; r < size_; ++r)
      out.push_back({static_cast<int64_t>(all[3 * r]), static_cast<int64_t>(all[3 * r + 1]), all[3 * r + 2]});
  return out;
}

double World::max(double v) const {
  if (!initialized_) return v;
  double out = v;
  MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

}  // namespace spdnn::dist
