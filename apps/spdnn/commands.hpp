// The spdnn subcommands: each registers its options on the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "spdnn/challenge/dist.hpp"

namespace spdnn::app {

// A subcommand's body; returns the process exit code (0 ok, 1 verification failed).
using Command = std::function<int()>;

Command add_run_command(CLI::App& app);
Command add_verify_command(CLI::App& app);
Command add_convert_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_sparse_command(CLI::App& app);

// The command line as typed, for reports (set once by main).
inline std::string& command_line() {
  static std::string line;
  return line;
}

// The process group this process belongs to (one rank unless started by mpirun); set by main.
inline dist::World*& world() {
  static dist::World* w = nullptr;
  return w;
}

// Exit codes shared by all commands.
constexpr int kExitOk = 0;
constexpr int kExitVerificationFailed = 1;
constexpr int kExitError = 2;

}  // namespace spdnn::app
