// `spdnn convert SRC DST`: challenge TSV <-> spdnn's binary cache.
//   weights folder            -> network cache      (DST: a file)
//   network cache             -> weights folder     (DST: a folder; n{N}-l{l}.tsv, or .tsv.gz with --gzip)
//   images TSV (needs N)      -> features cache
//   features cache            -> images TSV
#include <fmt/format.h>

#include <filesystem>

#include "commands.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/io.hpp"
#include "terminal_progress.hpp"

namespace spdnn::app {

namespace fs = std::filesystem;

namespace {
struct ConvertOptions {
  std::string src, dst;
  int32_t neurons = 0, layers = 0;
  float bias = 0.0f;
  CLI::Option* bias_option = nullptr;
  bool gzip = false, quiet = false;
};
}  // namespace

Command add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand("convert", "Convert between the challenge TSV files and spdnn's binary cache");
  cmd->add_option("src", o->src, "A weights folder, an images TSV, or a cache file")->required();
  cmd->add_option("dst", o->dst, "Where to write the converted data")->required();
  cmd->add_option("--neurons,-n", o->neurons, "N (inferred from file names where possible)")->check(positive());
  cmd->add_option("--layers,-l", o->layers, "Layers to convert (default: all)")->check(positive());
  o->bias_option = cmd->add_option("--bias", o->bias, "Bias to store (default: the challenge's for N)")->check(finite_number());
  cmd->add_flag("--gzip", o->gzip, "Write .tsv.gz files");
  cmd->add_flag("--quiet,-q", o->quiet, "No progress output");
  return [o]() {
    TerminalProgress progress(!o->quiet);
    std::error_code ec;
    std::optional<float> bias;
    if (*o->bias_option) bias = o->bias;
    auto kind = io::cache_kind(o->src);
    if (fs::is_directory(o->src, ec)) {
      Network net = io::load_network(o->src, o->neurons, o->layers, bias,
                                     [&](int64_t d, int64_t t) { progress.update("reading layers", d, t); });
      progress.done();
      io::save_network_cache(o->dst, net);
      fmt::print("wrote {}: network N={} L={} ({} edges)\n", o->dst, net.neurons, net.num_layers(), net.edges());
    } else if (kind == io::CacheKind::network) {
      Network net = io::load_network(o->src, o->neurons, o->layers, bias);
      fs::create_directories(o->dst, ec);
      const char* ext = o->gzip ? ".tsv.gz" : ".tsv";
      for (int32_t l = 0; l < net.num_layers(); ++l) {
        io::write_layer_tsv(fs::path(o->dst) / fmt::format("n{}-l{}{}", net.neurons, l + 1, ext), net.layers[l]);
        progress.update("writing layers", l + 1, net.num_layers());
      }
      progress.done();
      fmt::print("wrote {}: {} layer files of N={}\n", o->dst, net.num_layers(), net.neurons);
    } else if (kind == io::CacheKind::features) {
      Features x = io::load_features_cache(o->src);
      io::write_images_tsv(o->dst, x);
      fmt::print("wrote {}: {} inputs, {} nonzeros\n", o->dst, x.count(), x.nnz());
    } else {
      if (o->neurons <= 0)
        throw Error(Errc::usage, fmt::format("{}: converting an images file needs --neurons N", o->src));
      Features x = io::read_images_tsv(o->src, o->neurons);
      io::save_features_cache(o->dst, x);
      fmt::print("wrote {}: {} inputs, {} nonzeros\n", o->dst, x.count(), x.nnz());
    }
    return kExitOk;
  };
}

}  // namespace spdnn::app
