// The engine interface: every backend (reference, cpu, cuda, multi-GPU, MPI) runs a Network on Features.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/challenge/features.hpp"
#include "spdnn/challenge/network.hpp"
#include "spdnn/challenge/structure.hpp"

namespace spdnn {

// Counts after one layer (1-based layer l is entry l-1).
struct LayerStats {
  int64_t active_inputs = 0;  // inputs whose row is nonzero after the layer
  int64_t nnz = 0;            // nonzeros of Y after the layer

  bool operator==(const LayerStats&) const = default;
};

// Rows handed from one engine to another between layers, when several engines share one problem
// (multi-GPU balancing). Row k is the input numbered ids[k] in the receiving engine's numbering, with
// its features after the layers done, in neuron order.
struct MovedRows {
  std::vector<int64_t> ids;
  CsrMatrix rows;
  // Instead of `rows`, an engine that keeps features dense in a permuted neuron order may send them
  // as they are: dense[k * n + p] is row k's value of neuron (*layout)[p], n = layout->size(). A
  // receiver with the same layout takes them without conversion; others call to_neuron_order().
  std::vector<float> dense;
  std::shared_ptr<const std::vector<int32_t>> layout;

  int64_t count() const { return static_cast<int64_t>(ids.size()); }
  bool is_dense() const { return layout != nullptr; }
  void to_neuron_order();  // dense -> rows; nothing if already rows
};

// The meeting point of engines that run parts of one problem. An engine given one (RunOptions::
// exchange) calls, after each layer count in RunOptions::exchange_after and in order:
//   p = plan(layers_done, active, capacity)   blocks until every participant has come; `capacity` is
//                                             how many active rows the engine can hold
//   if p.give or p.receive:  received = trade(rows)   hands over exactly p.give of its active rows
//                                                     and gets p.receive rows back
// and stops meeting after a plan with `last` set. Received rows are numbered from the engine's input
// count upwards, in arrival order, and are its own from then on (categories, features, layer stats).
// Every engine given an exchange calls leave() exactly once, when it will call nothing more (also an
// engine that cannot move rows, before anything else); later meetings do not wait for it. Calls
// throw if another participant failed.
struct ExchangePlan {
  int64_t give = 0, receive = 0;
  bool last = false;  // no meeting after this one
};
class RowExchange {
 public:
  virtual ~RowExchange() = default;
  virtual ExchangePlan plan(int32_t layers_done, int64_t active, int64_t capacity) = 0;
  virtual MovedRows trade(MovedRows given) = 0;
  virtual void leave() = 0;
};

struct RunOptions {
  int threads = 0;             // CPU threads; 0 = all available
  Mode mode = Mode::general;   // structure/auto need an engine with has_structure_mode()
  bool keep_features = false;  // return the final Y (tests compare it between engines)
  bool layer_times = false;    // accelerator engines: time each layer on the device (RunResult::layer_seconds)
  // Called after each layer with (layers done, total layers); used for terminal progress.
  std::function<void(int32_t, int32_t)> on_layer;
  // Called exactly once, after preprocessing and before the timed inference (also when there is
  // nothing to run): processes running together line up here so their timings overlap.
  std::function<void()> before_inference;
  // Accelerator engines. Each choice is automatic unless forced here (tests force them on small problems).
  int64_t batch_inputs = 0;             // inputs per batch; 0 = as many as device memory holds
  bool stream_weights = false;          // stream layers from host memory even when they would fit
  bool half_weights = false;            // store weights in fp16 (exact for the challenge's 1/16)
  double device_memory_share = 1.0;     // fraction of the free device memory to plan with (GPU shared)
  // Balancing between engines that share a problem (set by the partitioned engine; see RowExchange).
  RowExchange* exchange = nullptr;
  std::vector<int32_t> exchange_after;  // ascending layer counts (1..L-1) after which to meet
};

// How an accelerator engine ran (reported in the JSON).
struct ExecutionInfo {
  int64_t batches = 1;
  int64_t batch_inputs = 0;
  bool weights_streamed = false;
  bool half_weights = false;
  bool half_weights_exact = true;  // every weight representable in fp16: results bit-identical to fp32
  std::string kernel;              // the kernel configuration that ran
};

// One part of a partitioned run (one GPU, or one engine).
struct PartReport {
  std::string device;
  int64_t inputs = 0, survivors = 0;
  int64_t rows_given = 0, rows_received = 0;  // moved by balancing
  double inference_s = 0.0;                   // this part's own interval
  int64_t meetings = 0;                       // balancing meetings it took part in
  double meeting_s = 0.0;                     // of its interval, spent in them (waiting and moving)
};

struct RunResult {
  std::vector<int64_t> categories;  // ascending 1-based ids of inputs whose last row is nonzero
  std::vector<LayerStats> layers;   // one per layer
  double preprocess_s = 0.0;        // weight/feature preparation inside the engine
  double inference_s = 0.0;         // the layer loop (what TeraEdges/s is computed from)
  // With RunOptions::layer_times: each layer's device time, summed over batches and parts (empty otherwise).
  std::vector<double> layer_seconds;
  // The same interval on the system clock (seconds since the epoch), so that processes running at
  // once can report the span of all of them rather than the longest of their own intervals.
  double inference_begin_unix = 0.0, inference_end_unix = 0.0;
  std::optional<CsrMatrix> features;  // final Y, only with RunOptions::keep_features
  std::optional<ExecutionInfo> execution;  // accelerator engines only
  std::vector<PartReport> parts;           // partitioned engines only, one per part
  std::optional<StructureReport> structure;  // runs asked for mode structure or auto
};

inline double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;
  virtual std::string device() const = 0;  // e.g. "CPU: <model> (2 threads)"
  // Why this engine cannot run the problem, or nullopt if it can.
  virtual std::optional<std::string> cannot_run(const Network& net, const Features& x) const;
  // Whether run() honours RunOptions::mode; an engine without it runs general whatever the mode.
  virtual bool has_structure_mode() const { return false; }
  virtual RunResult run(const Network& net, const Features& x, const RunOptions& opt) = 0;
};

// The mode `engine` runs when asked for `asked`: structure and auto need has_structure_mode(). Asked for
// structure, an engine without it is Error(unsupported); under auto it runs general and `note` says so.
// `option` is how the caller spells the setting in its messages ("--mode" in the CLI, "mode" in Python).
Mode mode_for(const Engine& engine, Mode asked, const std::string& option, std::string* note);

// Engines compiled into this build, in order of preference for "auto".
std::vector<std::string> engine_names();

// Creates an engine by name ("auto" picks the best available). Throws Error(usage/unsupported).
// `note` receives a line for the user when "auto" had to fall back (e.g. no CUDA device).
// `device_hint` picks an accelerator (modulo the number present; several ranks on one node pass their
// local rank); -1 keeps the current one.
std::unique_ptr<Engine> make_engine(const std::string& name, std::string* note = nullptr, int device_hint = -1);

// GPUs this build can use here (0 without CUDA support, a driver or a device).
int gpu_count();
// The cuda engine on GPU `device` (0-based); throws Error(usage/unsupported) if there is none.
std::unique_ptr<Engine> make_gpu_engine(int device);

}  // namespace spdnn
