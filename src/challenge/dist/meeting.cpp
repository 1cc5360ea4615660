// Balancing meetings between the parts of a partitioned run.
#include "challenge/dist/meeting.hpp"

#include <algorithm>
#include <numeric>

namespace spdnn::dist {

MeetingPlan plan_meeting(const std::vector<int64_t>& active, const std::vector<int64_t>& capacity,
                         const std::vector<char>& present, double tolerance) {
  const size_t n = active.size();
  MeetingPlan p;
  p.give.assign(n, 0);
  p.receive.assign(n, 0);
  std::vector<size_t> who;
  int64_t total = 0;
  for (size_t k = 0; k < n; ++k)
    if (present[k]) who.push_back(k), total += active[k];
  if (who.size() < 2 || total == 0) return p;
  // Targets by water filling: the smallest capacities are served first, each part gets an equal share
  // of what remains (rounded up), never more than it can hold.
  std::vector<size_t> by_capacity = who;
  std::stable_sort(by_capacity.begin(), by_capacity.end(), [&](size_t a, size_t b) { return capacity[a] < capacity[b]; });
  std::vector<int64_t> target(n, 0);
  int64_t remaining = total;
  int64_t left = static_cast<int64_t>(who.size());
  for (size_t k : by_capacity) {
    target[k] = std::min(capacity[k], (remaining + left - 1) / left);
    remaining -= target[k], --left;
  }
  // Rows still unplaced (capacities too small for an even share) go wherever there is room.
  for (size_t k : by_capacity) {
    const int64_t more = std::min(remaining, capacity[k] - target[k]);
    target[k] += more, remaining -= more;
  }
  if (remaining > 0) return p;  // cannot happen: every part holds its own active rows
  int64_t worst = 0;
  for (size_t k : who) worst = std::max(worst, active[k] - target[k]);
  const double mean = static_cast<double>(total) / static_cast<double>(who.size());
  if (worst <= std::max<int64_t>(1, static_cast<int64_t>(tolerance * mean))) return p;
  for (size_t k : who) {
    p.give[k] = std::max<int64_t>(0, active[k] - target[k]);
    p.receive[k] = std::max<int64_t>(0, target[k] - active[k]);
    p.moved += p.give[k];
  }
  return p;
}

ExchangePlan Meeting::plan(int part, int64_t active, int64_t capacity) {
  std::unique_lock lock(mu_);
  check_aborted();
  active_[part] = active, capacity_[part] = capacity;
  const uint64_t gen = generation_;
  ++arrived_;
  if (arrived_ == std::count(present_.begin(), present_.end(), 1)) complete_plan();
  else cv_.wait(lock, [&] { return aborted_ || generation_ != gen; });
  check_aborted();
  return result_[part];
}

void Meeting::complete_plan() {
  std::vector<int64_t> active(parts_, 0), capacity(parts_, 0);
  int64_t total = 0;
  for (int k = 0; k < parts_; ++k)
    if (present_[k]) active[k] = active_[k], capacity[k] = capacity_[k], total += active_[k];
  // Rows move only once the active count has settled (changed by at most 10% since the last meeting):
  // before that, most rows moved would die soon after arriving. Meetings end with one that finds the
  // count steady (within 1%) or the parts even.
  const bool settled = previous_total_ >= 0 && std::abs(total - previous_total_) * 10 <= previous_total_;
  current_ = settled ? plan_meeting(active, capacity, present_, tolerance_)
                     : MeetingPlan{std::vector<int64_t>(parts_, 0), std::vector<int64_t>(parts_, 0), 0};
  last_ = settled && (std::abs(total - previous_total_) * 100 <= previous_total_ || current_.moved == 0);
  previous_total_ = total;
  result_.assign(parts_, ExchangePlan{});
  givers_left_ = 0;
  for (int k = 0; k < parts_; ++k) {
    result_[k] = {current_.give[k], current_.receive[k], last_};
    deposits_[k] = {};
    givers_left_ += current_.give[k] > 0;
  }
  moved_total_ += current_.moved;
  arrived_ = 0;
  ++generation_;
  cv_.notify_all();
}

void Meeting::deposit(int part, MovedRows given) {
  std::lock_guard lock(mu_);
  check_aborted();
  deposits_[part] = std::move(given);
  if (--givers_left_ == 0) cv_.notify_all();
}

MovedRows Meeting::collect(int part) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return aborted_ || givers_left_ == 0; });
  check_aborted();
  // The receivers take the givers' rows in part order: receiver k gets positions [from, from + want)
  // of the concatenation. Dense rows stay dense if every giver involved sent the same layout.
  int64_t from = 0;
  for (int k = 0; k < part; ++k) from += current_.receive[k];
  const int64_t want = current_.receive[part];
  struct Piece {
    MovedRows* d;
    int64_t first, last;
  };
  std::vector<Piece> pieces;
  int64_t at = 0;
  for (int g = 0; g < parts_; ++g) {
    MovedRows& d = deposits_[g];
    const int64_t first = std::max<int64_t>(0, from - at), last = std::min(d.count(), from + want - at);
    if (first < last) pieces.push_back({&d, first, last});
    at += d.count();
  }
  bool dense = !pieces.empty();
  for (const Piece& p : pieces)
    dense = dense && p.d->is_dense() && (p.d->layout == pieces.front().d->layout || *p.d->layout == *pieces.front().d->layout);
  MovedRows out;
  if (dense) {
    out.layout = pieces.front().d->layout;
    const int64_t n = static_cast<int64_t>(out.layout->size());
    for (const Piece& p : pieces) {
      out.ids.insert(out.ids.end(), p.d->ids.begin() + p.first, p.d->ids.begin() + p.last);
      out.dense.insert(out.dense.end(), p.d->dense.begin() + p.first * n, p.d->dense.begin() + p.last * n);
    }
    return out;
  }
  for (const Piece& p : pieces) {
    p.d->to_neuron_order();  // once per deposit: the next receiver finds it converted
    const CsrMatrix& r = p.d->rows;
    out.rows.cols = r.cols;
    for (int64_t k = p.first; k < p.last; ++k) {
      out.ids.push_back(p.d->ids[k]);
      out.rows.col_idx.insert(out.rows.col_idx.end(), r.row_cols(k).begin(), r.row_cols(k).end());
      out.rows.values.insert(out.rows.values.end(), r.row_values(k).begin(), r.row_values(k).end());
      out.rows.row_ptr.push_back(out.rows.nnz());
    }
  }
  out.rows.rows = out.count();
  return out;
}

void Meeting::leave(int part) {
  std::lock_guard lock(mu_);
  if (!present_[part]) return;
  present_[part] = 0;
  // The others may all be waiting for this part.
  if (arrived_ > 0 && arrived_ == std::count(present_.begin(), present_.end(), 1)) complete_plan();
}

void Meeting::abort() {
  std::lock_guard lock(mu_);
  aborted_ = true;
  cv_.notify_all();
}

}  // namespace spdnn::dist
