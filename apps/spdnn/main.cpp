// spdnn: the command-line front end (run, generate, verify, convert, sparse).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <new>

#include "commands.hpp"
#include "spdnn/error.hpp"

int main(int argc, char** argv) {
  using namespace spdnn::app;
  CLI::App app{"spdnn: sparse deep neural network inference (Sparse DNN Graph Challenge)"};
  app.set_version_flag("--version", SPDNN_VERSION);
  app.require_subcommand(1);
  Command run = add_run_command(app);
  Command verify = add_verify_command(app);
  Command convert = add_convert_command(app);
  Command generate = add_generate_command(app);
  Command sparse = add_sparse_command(app);
  spdnn::dist::World world_instance(&argc, &argv);  // MPI_Init only under an MPI launcher
  world() = &world_instance;
  for (int i = 0; i < argc; ++i) command_line() += (i ? " " : "") + std::string(argv[i]);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Every other command-line error is one line and exit code 2, like any other bad input.
    std::string what = e.what();
    if (argc > 1 && argv[1][0] != '-' && app.get_subcommands().empty())  // a misspelt command
      what = fmt::format("unknown command '{}' (commands: run, generate, verify, convert, sparse)", argv[1]);
    for (char& c : what)
      if (c == '\n') c = ' ';
    fmt::print(stderr, "spdnn: error: {} (see --help)\n", spdnn::printable(what));
    return kExitError;
  }
  try {
    if (app.got_subcommand("run")) return run();
    if (app.got_subcommand("verify")) return verify();
    if (app.got_subcommand("convert")) return convert();
    if (app.got_subcommand("generate")) return generate();
    if (app.got_subcommand("sparse")) return sparse();
  } catch (const spdnn::Error& e) {
    fmt::print(stderr, "spdnn: error: {}\n", e.what());
    return kExitError;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "spdnn: error: out of host memory\n");
    return kExitError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "spdnn: error: {}\n", e.what());
    return kExitError;
  }
  return kExitError;
}
