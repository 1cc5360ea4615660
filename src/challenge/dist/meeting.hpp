// The meeting point of the parts of a partitioned run: a barrier that can be aborted, and the
// balancing of active rows between parts (the shared side of RowExchange).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "spdnn/challenge/engine.hpp"

namespace spdnn::dist {

// Thrown in a part that was waiting when another part failed; the other part's error is the one to
// report.
struct PartAborted : std::runtime_error {
  PartAborted() : std::runtime_error("another part of the run failed") {}
};

// Who holds what at one meeting, and how many rows move: every part ends with the same number of
// active rows (within one), or as close as the capacities allow, unless the spread is already within
// `tolerance` of the mean. Parts that left have active = capacity = 0 and take no part.
struct MeetingPlan {
  std::vector<int64_t> give, receive;  // per part
  int64_t moved = 0;
};
MeetingPlan plan_meeting(const std::vector<int64_t>& active, const std::vector<int64_t>& capacity,
                         const std::vector<char>& present, double tolerance);

// Rows are kept in global input numbering here; each part's RowExchange translates.
class Meeting {
 public:
  explicit Meeting(int parts, double tolerance = 0.01) : parts_(parts), tolerance_(tolerance), present_(parts, 1),
                                                          active_(parts), capacity_(parts), deposits_(parts) {}

  // Barrier of every part (each calls once): runs `on_all` once, by the last to arrive.
  template <class F>
  void all_arrive(F&& on_all);

  ExchangePlan plan(int part, int64_t active, int64_t capacity);
  void deposit(int part, MovedRows given);          // a giver's rows (global ids); returns at once
  MovedRows collect(int part);                      // a receiver's rows (global ids), once all gave
  void leave(int part);
  void abort();                                     // wakes every waiting part with PartAborted

  int64_t rows_moved() const { return moved_total_; }

 private:
  void check_aborted() const {
    if (aborted_) throw PartAborted{};
  }
  void complete_plan();  // with the lock held, when every present part has arrived

  const int parts_;
  const double tolerance_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool aborted_ = false;
  // plan barrier
  std::vector<char> present_;
  std::vector<int64_t> active_, capacity_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
  std::vector<ExchangePlan> result_;
  int64_t previous_total_ = -1;
  bool last_ = false;
  // trade
  MeetingPlan current_;
  std::vector<MovedRows> deposits_;
  int givers_left_ = 0;
  int64_t moved_total_ = 0;
  // all_arrive barrier
  int all_arrived_ = 0;
  uint64_t all_generation_ = 0;
};

template <class F>
void Meeting::all_arrive(F&& on_all) {
  std::unique_lock lock(mu_);
  check_aborted();
  const uint64_t gen = all_generation_;
  if (++all_arrived_ == parts_) {
    lock.unlock();  // the others keep waiting: the generation changes only after on_all
    try {
      on_all();
    } catch (...) {
      abort();
      throw;
    }
    lock.lock();
    all_arrived_ = 0;
    ++all_generation_;
    cv_.notify_all();
    return;
  }
  cv_.wait(lock, [&] { return aborted_ || all_generation_ != gen; });
  check_aborted();
}

}  // namespace spdnn::dist
