// The partitioned engine: K engines, one thread each, on contiguous slices of the inputs, with
// optional balancing of active rows between them (meeting.hpp).
#include "spdnn/challenge/partitioned_engine.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>

#include "challenge/dist/meeting.hpp"
#include "spdnn/challenge/dist.hpp"
#include "spdnn/error.hpp"

namespace spdnn {

std::optional<Partitioning> parse_partitioning(std::string_view s) {
  if (s == "static") return Partitioning::static_split;
  if (s == "balanced") return Partitioning::balanced;
  return std::nullopt;
}

std::string to_string(Partitioning p) { return p == Partitioning::static_split ? "static" : "balanced"; }

std::vector<int32_t> meeting_layers(int32_t layers) {
  // Not before layer 4: most inputs that die do so in the first layers, and rows moved then would
  // mostly die on arrival (at N = 16384 the active rows fall 52638, 41016, 26482, 16456, ...).
  std::vector<int32_t> at;
  for (int64_t l = 4; l < layers; l *= 2) at.push_back(static_cast<int32_t>(l));
  return at;
}

namespace {

// One part's side of the meeting: translates between the part's input numbering (its slice, then
// the rows it received, in order) and the global one, and measures the time spent in meetings: from
// arriving at one to leaving it with the rows received (the giver's copying out included).
class PartExchange final : public RowExchange {
 public:
  PartExchange(dist::Meeting& m, int part, dist::Slice slice) : m_(m), part_(part), slice_(slice) {}

  ExchangePlan plan(int32_t, int64_t active, int64_t capacity) override {
    arrived_ = std::chrono::steady_clock::now();
    ExchangePlan p = m_.plan(part_, active, capacity);
    ++meetings;
    given += p.give;
    if (p.give == 0 && p.receive == 0) meeting_s += seconds_since(arrived_);
    return p;
  }
  MovedRows trade(MovedRows rows) override {
    MovedRows out;
    if (!rows.ids.empty()) {
      for (int64_t& id : rows.ids) id = global(id);
      m_.deposit(part_, std::move(rows));
    } else {
      out = m_.collect(part_);
      for (int64_t& id : out.ids) {
        received_global.push_back(id);
        id = slice_.end - slice_.begin + static_cast<int64_t>(received_global.size()) - 1;
      }
    }
    meeting_s += seconds_since(arrived_);
    return out;
  }
  void leave() override { m_.leave(part_); }

  int64_t global(int64_t local) const {
    const int64_t own = slice_.end - slice_.begin;
    return local < own ? slice_.begin + local : received_global.at(static_cast<size_t>(local - own));
  }

  double meeting_s = 0.0;
  int64_t meetings = 0, given = 0;
  std::vector<int64_t> received_global;

 private:
  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }
  dist::Meeting& m_;
  std::chrono::steady_clock::time_point arrived_;
  int part_;
  dist::Slice slice_;
};

// A part's structure report into the run's: every part found the same neuron groups (each ran
// discovery on the same network); rows are counted over all parts.
void add_part(std::optional<StructureReport>& run, const StructureReport& part) {
  if (!run) {
    run = part;
    return;
  }
  run->discovery_s = std::max(run->discovery_s, part.discovery_s);
  run->row_grouping_s = std::max(run->row_grouping_s, part.row_grouping_s);
  for (size_t l = 0; l < part.distinct_rows.size() && l < run->distinct_rows.size(); ++l) {
    run->distinct_rows[l] += part.distinct_rows[l];
    if (l < part.saturated_rows.size() && l < run->saturated_rows.size()) run->saturated_rows[l] += part.saturated_rows[l];
    if (l < part.carried_at_clip.size() && l < run->carried_at_clip.size()) run->carried_at_clip[l] += part.carried_at_clip[l];
  }
}

class PartitionedEngine final : public Engine {
 public:
  PartitionedEngine(std::vector<std::unique_ptr<Engine>> parts, Partitioning mode)
      : parts_(std::move(parts)), mode_(mode) {
    if (parts_.empty()) throw Error(Errc::usage, "a partitioned run needs at least one part");
  }

  std::string name() const override { return parts_.front()->name(); }
  std::string device() const override {
    std::vector<std::string> all;
    for (const auto& p : parts_) all.push_back(p->device());
    if (std::all_of(all.begin(), all.end(), [&](const std::string& d) { return d == all.front(); }))
      return fmt::format("{} x {}", all.size(), all.front());
    return fmt::format("{}", fmt::join(all, "; "));
  }
  std::optional<std::string> cannot_run(const Network& net, const Features& x) const override {
    for (const auto& p : parts_)
      if (auto why = p->cannot_run(net, x)) return why;
    return std::nullopt;
  }

  bool has_structure_mode() const override {
    return std::all_of(parts_.begin(), parts_.end(), [](const auto& p) { return p->has_structure_mode(); });
  }

  RunResult run(const Network& net, const Features& x, const RunOptions& opt) override;

 private:
  std::vector<std::unique_ptr<Engine>> parts_;
  Partitioning mode_;
};

RunResult PartitionedEngine::run(const Network& net, const Features& x, const RunOptions& opt) {
  const int k_parts = static_cast<int>(parts_.size());
  dist::Meeting meeting(k_parts);
  const std::vector<int32_t> meetings = mode_ == Partitioning::balanced ? meeting_layers(net.num_layers())
                                                                        : std::vector<int32_t>{};
  const int total_threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  std::vector<dist::Slice> slices(k_parts);
  std::vector<std::unique_ptr<PartExchange>> exchanges(k_parts);
  std::vector<RunResult> results(k_parts);
  std::vector<std::exception_ptr> errors(k_parts);
  for (int k = 0; k < k_parts; ++k) {
    slices[k] = dist::slice_of(x.count(), k, k_parts);
    exchanges[k] = std::make_unique<PartExchange>(meeting, k, slices[k]);
  }

  auto work = [&](int k) {
    try {
      // Parts share the host's cores (preprocessing is multi-threaded).
      const int threads = std::max(1, total_threads / k_parts);
      omp_set_num_threads(threads);
      RunOptions o = opt;
      o.threads = threads;
      o.on_layer = k == 0 ? opt.on_layer : nullptr;
      // Parts start inference together (the caller's hook runs once, when all have arrived).
      o.before_inference = [&] {
        meeting.all_arrive([&] {
          if (opt.before_inference) opt.before_inference();
        });
      };
      if (!meetings.empty()) o.exchange = exchanges[k].get(), o.exchange_after = meetings;
      else o.exchange = nullptr, o.exchange_after.clear();
      results[k] = parts_[k]->run(net, dist::take_rows(x, slices[k]), o);
    } catch (...) {
      errors[k] = std::current_exception();
      meeting.abort();
    }
  };
  std::vector<std::thread> threads;
  for (int k = 1; k < k_parts; ++k) threads.emplace_back(work, k);
  work(0);
  for (auto& t : threads) t.join();
  // Report the failure that caused the others to stop, not their PartAborted.
  for (int pass = 0; pass < 2; ++pass)
    for (int k = 0; k < k_parts; ++k) {
      if (!errors[k]) continue;
      try {
        std::rethrow_exception(errors[k]);
      } catch (const dist::PartAborted&) {
        if (pass == 1) throw;
      } catch (const Error& e) {
        if (k_parts == 1) throw;
        throw Error(e.code(), fmt::format("part {} of {} ({}): {}", k + 1, k_parts, parts_[k]->device(), e.what()));
      }
    }

  RunResult r;
  r.layers.assign(static_cast<size_t>(net.num_layers()), LayerStats{});
  r.inference_begin_unix = 1e300;
  for (int k = 0; k < k_parts; ++k) {
    RunResult& p = results[k];
    const PartExchange& ex = *exchanges[k];
    for (int64_t id : p.categories) r.categories.push_back(ex.global(id - 1) + 1);
    for (size_t l = 0; l < p.layers.size() && l < r.layers.size(); ++l) {
      r.layers[l].active_inputs += p.layers[l].active_inputs;
      r.layers[l].nnz += p.layers[l].nnz;
    }
    if (!p.layer_seconds.empty()) {
      r.layer_seconds.resize(p.layer_seconds.size(), 0.0);
      for (size_t l = 0; l < p.layer_seconds.size(); ++l) r.layer_seconds[l] += p.layer_seconds[l];
    }
    r.preprocess_s = std::max(r.preprocess_s, p.preprocess_s);
    if (p.inference_end_unix > 0.0) {
      r.inference_begin_unix = std::min(r.inference_begin_unix, p.inference_begin_unix);
      r.inference_end_unix = std::max(r.inference_end_unix, p.inference_end_unix);
    }
    r.inference_s = std::max(r.inference_s, p.inference_s);
    PartReport rep;
    rep.device = parts_[k]->device();
    rep.inputs = slices[k].end - slices[k].begin;
    rep.survivors = static_cast<int64_t>(p.categories.size());
    rep.rows_given = ex.given;
    rep.rows_received = static_cast<int64_t>(ex.received_global.size());
    rep.inference_s = p.inference_s;
    rep.meeting_s = ex.meeting_s;
    rep.meetings = ex.meetings;
    r.parts.push_back(rep);
    if (k == 0) r.execution = p.execution;
    if (p.structure) add_part(r.structure, *p.structure);
  }
  // The run's inference spans from the common start to the last part's end.
  if (r.inference_end_unix > 0.0) r.inference_s = std::max(r.inference_s, r.inference_end_unix - r.inference_begin_unix);
  else r.inference_begin_unix = 0.0;
  std::sort(r.categories.begin(), r.categories.end());

  if (opt.keep_features) {
    std::vector<std::pair<int, int64_t>> where(static_cast<size_t>(x.count()), {-1, -1});  // (part, local row)
    for (int k = 0; k < k_parts; ++k) {
      const CsrMatrix& f = *results[k].features;
      for (int64_t row = 0; row < f.rows; ++row)
        if (f.row_nnz(row) > 0) where[exchanges[k]->global(row)] = {k, row};
    }
    CsrMatrix f;
    f.rows = x.count();
    f.cols = net.neurons;
    for (int64_t g = 0; g < f.rows; ++g) {
      if (auto [k, row] = where[g]; k >= 0) {
        const CsrMatrix& src = *results[k].features;
        f.col_idx.insert(f.col_idx.end(), src.row_cols(row).begin(), src.row_cols(row).end());
        f.values.insert(f.values.end(), src.row_values(row).begin(), src.row_values(row).end());
      }
      f.row_ptr.push_back(f.nnz());
    }
    r.features = std::move(f);
  }
  return r;
}

}  // namespace

std::unique_ptr<Engine> make_partitioned_engine(std::vector<std::unique_ptr<Engine>> parts, Partitioning mode) {
  return std::make_unique<PartitionedEngine>(std::move(parts), mode);
}

}  // namespace spdnn
