// A SparseLinearReport as JSON: the one form that the CLI's reports and the Python package both show.
#include <nlohmann/json.hpp>

#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

namespace {

nlohmann::ordered_json config_json(const KernelConfig& c) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& f : kKernelConfigFields) j[std::string(f.name)] = c.*(f.member);
  return j;
}

}  // namespace

std::string to_json(const SparseLinearReport& r) {
  nlohmann::ordered_json j = {{"path", r.path}};
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (r.path == "specialized") j["config"] = config_json(r.config);
  j["generate_s"] = r.generate_seconds;
  j["compile_s"] = r.compile_seconds;
  j["tune_s"] = r.tune_seconds;
  j["modules_compiled"] = r.modules_compiled;
  j["cache_hits"] = r.cache_hits;
  j["cache_dir"] = r.cache_dir;
  if (!r.notes.empty()) j["notes"] = r.notes;
  if (!r.tuning.empty()) {
    j["tuning"] = nlohmann::ordered_json::array();
    for (const auto& t : r.tuning) {
      nlohmann::ordered_json tried = t.config ? config_json(*t.config) : nlohmann::ordered_json{{"generic", true}};
      tried["us"] = t.microseconds;
      j["tuning"].push_back(tried);
    }
  }
  return j.dump();
}

}  // namespace spdnn
