// World without MPI: one rank, collectives are identities.
#include "spdnn/challenge/dist.hpp"

namespace spdnn::dist {

bool built_with_mpi() { return false; }
World::World(int*, char***) {}
World::~World() = default;
bool World::any(bool mine) const { return mine; }
std::vector<int64_t> World::gather_categories(const std::vector<int64_t>& mine) const { return mine; }
std::vector<LayerStats> World::reduce_layers(const std::vector<LayerStats>& mine) const { return mine; }
std::vector<RankReport> World::gather_reports(const RankReport& mine) const { return {mine}; }
double World::max(double v) const { return v; }

}  // namespace spdnn::dist
