// `spdnn run`: load or generate a problem, run an engine, verify, report (table + JSON).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <omp.h>

#include "commands.hpp"
#include "spdnn/challenge/assemble.hpp"
#include "spdnn/challenge/challenge.hpp"
#include "spdnn/challenge/dist.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "spdnn/challenge/partitioned_engine.hpp"
#include "spdnn/challenge/structure.hpp"
#include "input_images.hpp"
#include "json_report.hpp"
#include "terminal_progress.hpp"

namespace spdnn::app {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kChallengeInputs = 60000;

struct RunOptionsCli {
  int32_t neurons = 0, layers = 0;
  std::string data, weights, inputs, truth, engine = "auto", json, categories;
  int threads = 0;
  uint64_t seed = 1;
  std::string mnist;
  int64_t batch = 0;
  bool stream_weights = false, half_weights = false, layer_times = false;
  float bias = 0.0f;
  CLI::Option* bias_option = nullptr;
  bool quiet = false;
  int gpus = 0;
  std::string devices, partition = "balanced";
  std::string mode = "general";
};

// What will run: where each part comes from (a path or "generated ...").
struct Problem {
  Network net;
  Features x;
  std::string network_source, inputs_source;
  std::optional<std::string> truth;
  double load_s = 0.0;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

Problem load_problem(const RunOptionsCli& o, TerminalProgress& progress) {
  auto start = std::chrono::steady_clock::now();
  Problem p;
  std::optional<float> bias;
  if (*o.bias_option) bias = o.bias;
  auto on_layer_file = [&](int64_t d, int64_t t) { progress.update("reading layers", d, t); };

  int32_t n = o.neurons;
  std::string weights = o.weights, inputs = o.inputs;
  std::optional<std::string> truth;
  if (!o.truth.empty()) truth = o.truth;
  if (!o.data.empty()) {
    // The official layout: DIR/neuron{N}/, DIR/sparse-images-{N}.tsv, DIR/neuron{N}-l{L}-categories.tsv.
    if (n == 0) n = io::infer_neurons(o.data);
    if (weights.empty()) weights = (fs::path(o.data) / fmt::format("neuron{}", n)).string();
    if (inputs.empty()) {
      // Without the official images, inputs are regenerated from MNIST (the source says so).
      if (auto found = io::find_file(fs::path(o.data) / fmt::format("sparse-images-{}.tsv", n)))
        inputs = found->string();
    }
  }

  if (!weights.empty()) {
    p.net = io::load_network(weights, n, o.layers, bias, on_layer_file);
    p.network_source = weights;
  } else {
    const int32_t neurons = n != 0 ? n : 1024, layers = o.layers != 0 ? o.layers : 120;
    p.net = radixnet_network({neurons, layers, o.seed});
    if (bias) p.net.bias = *bias;
    p.network_source = fmt::format("generated: RadiX-Net, seed {}", o.seed);
  }
  progress.done();

  if (!inputs.empty()) {
    p.x = io::load_features(inputs, p.net.neurons);
    p.inputs_source = inputs;
    // The official truth belongs to the official inputs only.
    if (!o.data.empty() && !truth) {
      auto found = io::find_file(fs::path(o.data) / fmt::format("neuron{}-l{}-categories.tsv", p.net.neurons,
                                                                 p.net.num_layers()));
      if (found) truth = found->string();
    }
  } else {
    InputImages src = input_images(o.mnist, kChallengeInputs, o.seed);
    GeneratedInputs g = challenge_inputs(src.images, p.net.neurons, kChallengeInputs);
    p.x = std::move(g.features);
    p.inputs_source = fmt::format("generated from {}, threshold {:.4f}", src.description, g.threshold);
  }
  p.truth = truth;
  p.load_s = seconds_since(start);
  return p;
}

// The slowest of several times over their mean (1 when there is no time at all).
double max_over_mean(const std::vector<double>& t) {
  double sum = 0, most = 0;
  for (double v : t) sum += v, most = std::max(most, v);
  return sum > 0 ? most / (sum / static_cast<double>(t.size())) : 1.0;
}

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0 && s[i - 1] != '-') out += ',';
    out += s[i];
  }
  return out;
}

// What the options ask of the engine for this rank (assemble_engine does the rest).
EngineRequest engine_request(const RunOptionsCli& o, const dist::World& w) {
  EngineRequest r;
  r.engine = o.engine;
  r.gpus = o.gpus;
  const auto mode = parse_partitioning(o.partition);
  if (!mode) throw Error(Errc::usage, fmt::format("--partition {}: expected static or balanced", o.partition));
  r.partition = *mode;
  if (!o.devices.empty())
    for (const auto& item : CLI::detail::split(o.devices, ',')) {
      int d = -1;
      try {
        size_t used = 0;
        d = std::stoi(item, &used);
        if (used != item.size()) d = -1;
      } catch (const std::exception&) {
      }
      if (d < 0) throw Error(Errc::usage, fmt::format("--devices {}: expected GPU numbers separated by commas", o.devices));
      r.devices.push_back(d);
    }
  r.local_rank = w.local_rank(), r.local_size = w.local_size(), r.ranks = w.size();
  return r;
}

// The structure report over all ranks: the distinct, saturated and carried rows of every rank added up
// (the neuron groups are the same on every rank).
void reduce_structure(const dist::World& w, StructureReport& s) {
  const bool saturated = !s.saturated_rows.empty();
  std::vector<LayerStats> rows(s.distinct_rows.size());
  for (size_t l = 0; l < rows.size(); ++l) rows[l] = {s.distinct_rows[l], saturated ? s.saturated_rows[l] : 0};
  rows = w.reduce_layers(rows);
  for (size_t l = 0; l < rows.size(); ++l) {
    s.distinct_rows[l] = rows[l].active_inputs;
    if (saturated) s.saturated_rows[l] = rows[l].nnz;
  }
  if (!s.carried_at_clip.empty()) {
    std::vector<LayerStats> carried(s.carried_at_clip.size());
    for (size_t l = 0; l < carried.size(); ++l) carried[l] = {s.carried_at_clip[l], 0};
    carried = w.reduce_layers(carried);
    for (size_t l = 0; l < carried.size(); ++l) s.carried_at_clip[l] = carried[l].active_inputs;
  }
  s.discovery_s = w.max(s.discovery_s), s.row_grouping_s = w.max(s.row_grouping_s);
}

int run(const RunOptionsCli& o) {
  const dist::World& w = *world();
  // Ranks sharing a node share its cores, unless --threads says otherwise.
  if (o.threads > 0) omp_set_num_threads(o.threads);
  else if (w.local_size() > 1) omp_set_num_threads(std::max(1, omp_get_num_procs() / w.local_size()));
  const bool lead = w.rank() == 0;  // rank 0 talks and reports; every rank computes its slice
  TerminalProgress progress(!o.quiet && lead);

  // Phase 1, no collectives: load (every rank loads or generates the same network and inputs), take
  // this rank's slice of the inputs, run. Ranks start inference together, so the job's span measures them
  // running at once; a failure on any rank ends every rank (non-zero, its one line).
  Problem p;
  AssembledEngine assembled;
  RunResult r;
  dist::Slice slice;
  const auto failure = dist::run_together(w, [&](const std::function<void()>& line_up) {
    p = load_problem(o, progress);
    assembled = assemble_engine(engine_request(o, w));
    if (!assembled.note.empty() && !o.quiet && lead) fmt::print(stderr, "spdnn: note: {}\n", assembled.note);
    Engine& engine = *assembled.engine;
    if (auto why = engine.cannot_run(p.net, p.x))
      throw Error(Errc::unsupported, fmt::format("engine {} cannot run this problem: {}", engine.name(), *why));
    RunOptions ro;
    std::string mode_note;
    ro.mode = mode_for(engine, *parse_mode(o.mode), "--mode", &mode_note);  // the option checked the name
    if (!mode_note.empty() && !o.quiet && lead) fmt::print(stderr, "spdnn: note: {}\n", mode_note);
    ro.threads = o.threads;
    ro.batch_inputs = o.batch;
    ro.stream_weights = o.stream_weights;
    ro.half_weights = o.half_weights;
    ro.layer_times = o.layer_times;
    ro.device_memory_share = assembled.memory_share;
    if (lead) ro.on_layer = [&](int32_t d, int32_t t) { progress.update("inference: layer", d, t); };
    if (w.size() > 1) ro.before_inference = line_up;
    slice = dist::slice_of(p.x.count(), w.rank(), w.size());
    r = w.size() > 1 ? engine.run(p.net, dist::take_rows(p.x, slice), ro) : engine.run(p.net, p.x, ro);
    progress.done();
  });
  if (failure) {
    if (!failure->empty()) fmt::print(stderr, "spdnn: error: rank {}: {}\n", w.rank(), *failure);
    return kExitError;
  }
  const std::unique_ptr<Engine>& engine = assembled.engine;
  const int gpus_here = assembled.gpus;

  // Phase 2: gather at rank 0 (ids made global first).
  for (int64_t& id : r.categories) id += slice.begin;
  const dist::RankReport mine{slice.end - slice.begin, static_cast<int64_t>(r.categories.size()), r.inference_s};
  // The job's inference: from the common start (the barrier) to the last rank's end; with a device
  // shared by ranks, the longest single interval would overstate the rate.
  const bool timed = r.inference_begin_unix > 0.0;  // a rank with nothing to run has no interval
  const double span = w.max(timed ? r.inference_end_unix : 0.0) - w.min(timed ? r.inference_begin_unix : 1e300);
  const double inference_s = w.size() > 1 ? std::max(span, w.max(r.inference_s)) : r.inference_s;
  r.categories = w.gather_categories(r.categories);
  r.layers = w.reduce_layers(r.layers);
  if (r.structure && w.size() > 1) reduce_structure(w, *r.structure);
  const std::vector<dist::RankReport> ranks = w.gather_reports(mine);
  if (!lead) return kExitOk;
  r.inference_s = inference_s;
  std::sort(r.categories.begin(), r.categories.end());

  std::optional<Verification> v;
  if (p.truth) v = verify_categories(r.categories, io::read_categories(*p.truth));
  if (!o.categories.empty()) io::write_categories(o.categories, r.categories);
  const double rate = teraedges_per_s(p.x.count(), p.net.edges(), r.inference_s);

  nlohmann::ordered_json j = report_header(engine->device());
  j["network"] = {{"neurons", p.net.neurons}, {"layers", p.net.num_layers()}, {"edges", p.net.edges()},
                  {"bias", p.net.bias}, {"source", p.network_source}};
  j["inputs"] = {{"count", p.x.count()}, {"nnz", p.x.nnz()}, {"source", p.inputs_source}};
  j["engine"] = engine->name();
  j["mode"] = r.structure ? to_string(r.structure->mode) : "general";
  if (r.structure) {
    const StructureReport& s = *r.structure;
    j["structure"] = {{"mode_asked", o.mode}, {"reason", s.reason}, {"discovery_s", s.discovery_s},
                      {"row_grouping_s", s.row_grouping_s}};
  }
  j["ranks"] = w.size();
  j["gpus"] = engine->name() == "cuda" ? w.size() * gpus_here : 0;
  if (r.parts.size() > 1) j["partition"] = o.partition;
  j["timing_s"] = {{"load", p.load_s}, {"preprocess", r.preprocess_s}, {"inference", r.inference_s}};
  j["teraedges_per_s"] = rate;
  j["categories"] = {{"count", r.categories.size()}};
  if (v) j["verification"] = {{"truth", *p.truth}, {"passed", v->passed}, {"missing", v->missing}, {"extra", v->extra}};
  // Each GPU's busy time (its interval less the time it spent in balancing meetings).
  double part_imbalance = 1.0;
  int64_t rows_moved = 0;
  if (r.parts.size() > 1) {
    std::vector<double> busy_s;
    j["per_gpu"] = nlohmann::ordered_json::array();
    for (size_t k = 0; k < r.parts.size(); ++k) {
      const PartReport& p = r.parts[k];
      const double busy = p.inference_s - p.meeting_s;
      j["per_gpu"].push_back({{"gpu", k}, {"device", p.device}, {"inputs", p.inputs}, {"survivors", p.survivors},
                              {"rows_given", p.rows_given}, {"rows_received", p.rows_received},
                              {"inference_s", p.inference_s}, {"meetings", p.meetings}, {"meeting_s", p.meeting_s},
                              {"busy_s", busy}});
      busy_s.push_back(busy), rows_moved += p.rows_given;
    }
    part_imbalance = max_over_mean(busy_s);
    j["rows_moved"] = rows_moved;
    if (w.size() == 1) j["imbalance"] = part_imbalance;
  }
  if (w.size() > 1) {
    std::vector<double> rank_s;
    j["per_rank"] = nlohmann::ordered_json::array();
    for (size_t k = 0; k < ranks.size(); ++k) {
      j["per_rank"].push_back({{"rank", k}, {"inputs", ranks[k].inputs}, {"survivors", ranks[k].survivors},
                               {"inference_s", ranks[k].inference_s}});
      rank_s.push_back(ranks[k].inference_s);
    }
    j["imbalance"] = max_over_mean(rank_s);
  }
  if (r.execution) {
    const ExecutionInfo& e = *r.execution;
    j["execution"] = {{"kernel", e.kernel}, {"batches", e.batches}, {"batch_inputs", e.batch_inputs},
                      {"weights_streamed", e.weights_streamed}, {"half_weights", e.half_weights},
                      {"half_weights_exact", e.half_weights_exact}};
  }
  j["layers"] = nlohmann::ordered_json::array();
  for (size_t l = 0; l < r.layers.size(); ++l) {
    nlohmann::ordered_json layer = {{"layer", l + 1}, {"active_inputs", r.layers[l].active_inputs}, {"nnz", r.layers[l].nnz}};
    if (l < r.layer_seconds.size()) layer["seconds"] = r.layer_seconds[l];
    if (const auto& s = r.structure) {
      if (l < s->distinct_neurons.size()) layer["distinct_neurons"] = s->distinct_neurons[l];
      if (l < s->distinct_rows.size()) layer["distinct_rows"] = s->distinct_rows[l];
      if (l < s->saturated_rows.size()) layer["saturated_rows"] = s->saturated_rows[l];
      if (l < s->carried_at_clip.size()) layer["carried_at_clip"] = s->carried_at_clip[l];
    }
    j["layers"].push_back(layer);
  }
  write_json_report(o.json, j);

  fmt::print("network     N={} L={} edges={} bias={}  ({})\n", p.net.neurons, p.net.num_layers(),
             with_commas(p.net.edges()), p.net.bias, p.network_source);
  fmt::print("inputs      {} inputs, {} nonzeros  ({})\n", with_commas(p.x.count()), with_commas(p.x.nnz()),
             p.inputs_source);
  fmt::print("engine      {} on {}\n", engine->name(), engine->device());
  fmt::print("timing      load {:.3f} s   preprocess {:.3f} s   inference {:.3f} s\n", p.load_s, r.preprocess_s,
             r.inference_s);
  if (const auto& s = r.structure) {
    fmt::print("mode        {} ({}); discovery {:.3f} s, row grouping {:.3f} s\n", to_string(s->mode), s->reason,
               s->discovery_s, s->row_grouping_s);
    if (!s->distinct_rows.empty())
      fmt::print("structure   last layer: {} distinct neurons, {} distinct rows for {} active inputs{}{}\n",
                 s->distinct_neurons.back(), s->distinct_rows.back(), r.layers.back().active_inputs,
                 s->saturated_rows.empty() ? "" : fmt::format(" ({} saturated)", s->saturated_rows.back()),
                 s->carried_at_clip.empty() ? "" : fmt::format(" ({} carried at the clip)", s->carried_at_clip.back()));
  }
  if (r.execution)
    fmt::print("execution   {}; {} batch(es) of up to {} inputs; weights {}{}\n", r.execution->kernel, r.execution->batches,
               r.execution->batch_inputs, r.execution->weights_streamed ? "streamed" : "resident",
               r.execution->half_weights && !r.execution->half_weights_exact ? " (fp16 rounded some weights)" : "");
  if (r.parts.size() > 1)
    fmt::print("gpus        {} ({}): {} rows moved by balancing; busy time max / mean {:.3f}\n", r.parts.size(),
               o.partition, rows_moved, part_imbalance);
  fmt::print("throughput  {:.4f} TeraEdges/s\n", rate);
  fmt::print("categories  {}\n", r.categories.size());
  if (v) {
    if (v->passed) fmt::print("verified    passed against {}\n", *p.truth);
    else fmt::print("verified    FAILED against {}: {} missing, {} extra\n", *p.truth, v->missing, v->extra);
  }
  return v && !v->passed ? kExitVerificationFailed : kExitOk;
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptionsCli>();
  auto* cmd = app.add_subcommand("run", "Run the challenge inference (default: generated RadiX-Net N=1024, 120 layers, MNIST inputs)");
  cmd->add_option("--neurons,-n", o->neurons, "Neurons per layer N (default 1024, or inferred from --data/--weights)")
      ->check(positive());
  cmd->add_option("--layers,-l", o->layers, "Layers L (default 120, or all layer files found)")->check(positive());
  cmd->add_option("--data", o->data, "Folder in the official layout (neuron{N}/, sparse-images-{N}.tsv, truth)");
  cmd->add_option("--weights", o->weights, "Folder of n{N}-l{l}.tsv files, or a network cache");
  cmd->add_option("--inputs", o->inputs, "Images TSV (or a features cache)");
  cmd->add_option("--truth", o->truth, "True categories, to verify the answer");
  cmd->add_option("--engine", o->engine, "auto | reference | cpu | cuda")->capture_default_str();
  cmd->add_option("--mode", o->mode,
                  "general | structure (compute each distinct neuron and input once; exact) | auto (structure where it gains)")
      ->check(CLI::IsMember({"general", "structure", "auto"}))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (default: all)")->check(positive());
  cmd->add_option("--json", o->json, "Write the JSON report here");
  cmd->add_option("--categories", o->categories, "Write the answer (one id per line) here");
  cmd->add_option("--seed", o->seed, "Seed of generated networks (and synthetic inputs)")->capture_default_str();
  cmd->add_option("--mnist", o->mnist, "MNIST images for generated inputs (default: $SPDNN_MNIST or the data folder)");
  o->bias_option = cmd->add_option("--bias", o->bias, "Bias (default: the challenge's for N)")->check(finite_number());
  cmd->add_option("--batch", o->batch, "GPU: inputs per batch (default: as many as fit)")->check(non_negative());
  cmd->add_flag("--stream-weights", o->stream_weights, "GPU: stream layers from host memory even when they fit");
  cmd->add_flag("--half-weights", o->half_weights, "GPU: fp16 weights (exact for 1/16; the report says if not)");
  cmd->add_flag("--layer-times", o->layer_times, "GPU: time each layer on the device (the JSON report's layers[].seconds)");
  cmd->add_option("--gpus", o->gpus, "GPUs to use, inputs split between them (default: all visible)")->check(positive());
  cmd->add_option("--devices", o->devices, "GPUs to use by number, e.g. 0,1 (a number may repeat: parts sharing a GPU)");
  cmd->add_option("--partition", o->partition, "Several GPUs: static (fixed input slices) or balanced (active rows moved between GPUs)")
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", o->quiet, "No progress output or notes");
  return [o]() { return run(*o); };
}

}  // namespace spdnn::app
