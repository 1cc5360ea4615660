// Switches read from the environment: the engine's settings for measurements (SPDNN_EXACT_FMA=0,
// SPDNN_MERGE_ROWS=0, ...), which compare one design with another in the same build.
#pragma once

#include <cstdlib>
#include <string_view>

namespace spdnn {

// Whether the variable `name` is set to exactly `value`.
inline bool env_equals(const char* name, std::string_view value) {
  const char* env = std::getenv(name);
  return env != nullptr && value == env;
}

}  // namespace spdnn
