// The JSON reports of the CLI: every report starts with what made it (spdnn's version and commit, the
// device, the date, the command), and is written compactly (a top-level field per line, an array of
// objects one element per line) so that committed results stay small and readable.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace spdnn::app {

// The commit this binary was built from, "+dirty" with uncommitted changes to tracked files, or "unknown"
// (generated at build time: cmake/git_commit.cmake).
const char* git_commit();

// {spdnn_version, commit, device, date (UTC, ISO 8601), command}.
nlohmann::ordered_json report_header(const std::string& device);

// Writes `report` to `path` (nothing when `path` is empty) through a temporary file renamed into place,
// so that an interrupted run leaves the old report or the new one. Throws Error(io) naming the file.
void write_json_report(const std::string& path, const nlohmann::ordered_json& report);

}  // namespace spdnn::app
