// The failure vote of ranks that run one problem together (see run_together in dist.hpp).
#include <new>

#include "spdnn/challenge/dist.hpp"

namespace spdnn::dist {

namespace {
// Thrown on a rank that learns, at the line-up, that another rank failed before it.
struct PeerFailed {};
}  // namespace

std::optional<std::string> run_together(const World& world,
                                        const std::function<void(const std::function<void()>& line_up)>& phase) {
  // The line-up is the same vote as the one after the phase: a rank that failed before it votes there.
  const std::function<void()> line_up = [&world] {
    if (world.size() > 1 && world.any(false)) throw PeerFailed{};
  };
  if (world.size() == 1) {
    phase(line_up);
    return std::nullopt;
  }
  std::optional<std::string> failure;
  try {
    phase(line_up);
  } catch (const PeerFailed&) {
    return std::string();  // the vote is already complete: the failed rank says why
  } catch (const std::bad_alloc&) {
    failure = "out of host memory";
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (world.any(failure.has_value())) return failure.value_or(std::string());
  return std::nullopt;
}

}  // namespace spdnn::dist
