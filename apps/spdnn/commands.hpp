// The spdnn subcommands: each registers its options on the CLI11 app and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
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
// `spdnn sparse conv`, registered by add_sparse_command under its `sparse` subcommand.
Command add_sparse_conv_command(CLI::App& sparse);

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

// A CLI11 check that a number is finite (NaN and infinity parse as floats, but no bias is either).
inline CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& text) {
        try {
          size_t used = 0;
          const double v = std::stod(text, &used);
          if (used == text.size() && std::isfinite(v)) return std::string();
        } catch (const std::exception&) {
        }
        return "'" + text + "' is not a finite number";
      },
      "FINITE");
}

// CLI11 checks of a whole number at least `least` (1: positive, 0: non-negative), with a plain message
// (CLI11's own range checks print the range as doubles of 300 digits).
inline CLI::Validator at_least(long long least) {
  return CLI::Validator(
      [least](std::string& text) {
        try {
          size_t used = 0;
          const long long v = std::stoll(text, &used);
          if (used == text.size() && v >= least) return std::string();
        } catch (const std::exception&) {
        }
        return "'" + text + "' is not " + (least == 1 ? "a positive" : "a non-negative") + " whole number";
      },
      least == 1 ? "POSITIVE" : "NON-NEGATIVE");
}
inline CLI::Validator positive() { return at_least(1); }
inline CLI::Validator non_negative() { return at_least(0); }

// Exit codes shared by all commands.
constexpr int kExitOk = 0;
constexpr int kExitVerificationFailed = 1;
constexpr int kExitError = 2;

}  // namespace spdnn::app
