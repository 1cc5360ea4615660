// The CLI's JSON reports (see json_report.hpp).
#include "json_report.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>

#include "commands.hpp"
#include "spdnn/atomic_file.hpp"

namespace spdnn::app {

nlohmann::ordered_json report_header(const std::string& device) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {{"spdnn_version", SPDNN_VERSION}, {"commit", git_commit()}, {"device", device}, {"date", date},
          {"command", command_line()}};
}

namespace {

std::string compact(const nlohmann::ordered_json& j) {
  if (!j.is_object()) return j.dump() + "\n";
  std::string out = "{\n";
  bool first = true;
  for (const auto& [key, value] : j.items()) {
    out += fmt::format("{}  {}: ", first ? "" : ",\n", nlohmann::ordered_json(key).dump());
    first = false;
    if (value.is_array() && !value.empty() && value.front().is_object()) {
      out += "[\n";
      for (size_t i = 0; i < value.size(); ++i) out += fmt::format("    {}{}\n", value[i].dump(), i + 1 < value.size() ? "," : "");
      out += "  ]";
    } else {
      out += value.dump();
    }
  }
  return out + "\n}\n";
}

}  // namespace

void write_json_report(const std::string& path, const nlohmann::ordered_json& report) {
  if (!path.empty()) io::write_file_atomically(path, compact(report));
}

}  // namespace spdnn::app
