// `spdnn verify CATEGORIES TRUTH`: compares two category files.
#include <fmt/format.h>

#include "commands.hpp"
#include "spdnn/challenge/challenge.hpp"
#include "spdnn/challenge/io.hpp"

namespace spdnn::app {

Command add_verify_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("verify", "Compare a categories file with the truth");
  auto answer = std::make_shared<std::string>();
  auto truth = std::make_shared<std::string>();
  cmd->add_option("categories", *answer, "Categories to check (one 1-based id per line, .gz accepted)")->required();
  cmd->add_option("truth", *truth, "The true categories")->required();
  return [answer, truth]() {
    auto got = io::read_categories(*answer);
    auto want = io::read_categories(*truth);
    Verification v = verify_categories(got, want);
    if (v.passed) {
      fmt::print("passed: {} categories match {}\n", got.size(), *truth);
      return kExitOk;
    }
    fmt::print("FAILED: {} categories, truth has {}: {} missing, {} extra\n", got.size(), want.size(), v.missing,
               v.extra);
    return kExitVerificationFailed;
  };
}

}  // namespace spdnn::app
