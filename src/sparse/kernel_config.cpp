// Checks and text form of KernelConfig (see include/spdnn/sparse/kernel_config.hpp).
#include "spdnn/sparse/kernel_config.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <vector>

#include "spdnn/error.hpp"

namespace spdnn {

namespace {

bool power_of_two_upto_8(int v) { return v == 1 || v == 2 || v == 4 || v == 8; }

}  // namespace

std::optional<std::string> why_invalid(const KernelConfig& c) {
  if (c.rows < 1 || c.rows > 128) return fmt::format("{} rows per group (1..128)", c.rows);
  if (c.cols != 1 && c.cols != 2 && c.cols != 4) return fmt::format("{} columns per thread (1, 2 or 4)", c.cols);
  if (c.bound != 256 && c.bound != 512 && c.bound != 1024)
    return fmt::format("a launch bound of {} threads (256, 512 or 1024)", c.bound);
  if (c.threads < 32 || c.threads > c.bound || c.threads % 32 != 0)
    return fmt::format("{} threads per block (a multiple of 32, at most the bound {})", c.threads, c.bound);
  if (c.rows * c.cols > 128) return fmt::format("{} x {} accumulators per thread exceed 128", c.rows, c.cols);
  if (!power_of_two_upto_8(c.cluster_slices)) return fmt::format("{} K slices over a cluster (1, 2, 4 or 8)", c.cluster_slices);
  if (c.prefetch < 0 || c.prefetch > 64) return fmt::format("a prefetch of {} loads (0..64)", c.prefetch);
  // Split K over a cluster double-buffers each thread's partial sums in shared memory.
  if (c.cluster_slices > 1 && int64_t{8} * c.rows * c.cols * c.bound > 227 * 1024)
    return fmt::format("split K partial sums of {} x {} for up to {} threads exceed shared memory", c.rows, c.cols, c.bound);
  if (c.cluster_slices > 1 && c.rows * c.cols > 32)  // partial sums: 64 KB at 256 threads
    return fmt::format("split K holds at most 32 partial sums per thread, not {} x {}", c.rows, c.cols);
  if (!power_of_two_upto_8(c.block_slices)) return fmt::format("{} K slices in a block (1, 2, 4 or 8)", c.block_slices);
  if (c.block_slices > 1 && c.cluster_slices > 1) return std::string("K is split over a cluster or within a block, not both");
  if (!power_of_two_upto_8(c.block_groups)) return fmt::format("{} row groups in a block (1, 2, 4 or 8)", c.block_groups);
  if (c.block_groups > 1 && (c.block_slices > 1 || c.cluster_slices > 1))
    return std::string("row groups within a block do not split K");
  if (c.threads % (32 * thread_sets(c)) != 0)
    return fmt::format("{} threads do not make {} sets of whole warps", c.threads, thread_sets(c));
  if (c.block_slices > 1 && int64_t{4} * c.rows * c.cols * c.bound > 227 * 1024)
    return fmt::format("partial sums of {} x {} for up to {} threads exceed shared memory", c.rows, c.cols, c.bound);
  if (c.fixed_n != 0 && c.fixed_n != 1) return fmt::format("fixed_n = {} (0: N an argument, 1: N compiled in)", c.fixed_n);
  return std::nullopt;
}

// Where one width fills the SMs, warps of one block share its code stream; where none does, more blocks
// spread the work. DLMC 512 x 4608 at 95%, 8-row groups split 4 ways (H100, s36): batch 8, 512 threads
// (256 blocks) 27.8 us against 53.9 at 128 (832 blocks); batch 1, 128 threads (128 blocks) 11.5 us
// against 15.3 at 512 (64 blocks).
int untuned_threads(const KernelConfig& config, int sms, const std::function<int64_t(int threads)>& blocks) {
  int threads = config.threads;
  while (threads / 2 >= 128 && (threads / 2) % (32 * thread_sets(config)) == 0 && blocks(threads) < sms) threads /= 2;
  return threads;
}

void validate(const KernelConfig& c) {
  if (auto why = why_invalid(c)) throw Error(Errc::usage, fmt::format("kernel config {}: {}", to_string(c), *why));
}

KernelConfig parse_kernel_config(std::string_view text) {
  KernelConfig c;
  std::vector<std::string_view> seen;
  for (size_t at = 0; !text.empty() && at <= text.size();) {  // "" keeps every default
    size_t comma = text.find(',', at);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view pair = text.substr(at, comma - at);
    at = comma + 1;
    const size_t eq = pair.find('=');
    auto fail = [&](const std::string& why) {
      return Error(Errc::usage, fmt::format("kernel config '{}': {} (fields: {})", pair, why, kernel_config_field_names()));
    };
    if (eq == std::string_view::npos) throw fail("expected name=value");
    const std::string_view name = pair.substr(0, eq), value = pair.substr(eq + 1);
    const KernelConfigField* field = nullptr;
    for (const auto& f : kKernelConfigFields)
      if (f.name == name) field = &f;
    if (field == nullptr) throw fail(fmt::format("unknown field '{}'", name));
    for (auto s : seen)
      if (s == name) throw fail(fmt::format("'{}' given twice", name));
    seen.push_back(name);
    int v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty())
      throw fail(fmt::format("'{}' is not an integer", value));
    c.*(field->member) = v;
  }
  validate(c);
  return c;
}

std::string to_string(const KernelConfig& c) {
  std::string s;
  for (const auto& f : kKernelConfigFields) s += fmt::format("{}{}={}", s.empty() ? "" : ",", f.name, c.*(f.member));
  return s;
}

std::string kernel_config_field_names() {
  std::string s;
  for (const auto& f : kKernelConfigFields) s += fmt::format("{}{}", s.empty() ? "" : ", ", f.name);
  return s;
}

KernelConfig module_of(const KernelConfig& c) {
  KernelConfig m = c;
  for (const auto& f : kKernelConfigFields)
    if (f.launch) m.*(f.member) = KernelConfig{}.*(f.member);
  return m;
}

}  // namespace spdnn
