// The challenge half of spdnn._spdnn: networks, inputs, engines. The Python classes in
// python/spdnn/challenge.py wrap these with SciPy conversions and docstrings.
#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"
#include "spdnn/challenge/challenge.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "spdnn/challenge/structure.hpp"
#include "spdnn/error.hpp"

namespace spdnn::python {

namespace {

using namespace nb::literals;

auto csr_arrays(const CsrMatrix& m) {
  return nb::make_tuple(to_numpy(m.row_ptr), to_numpy(m.col_idx), to_numpy(m.values));
}

nb::dict structure_dict(const StructureReport& s) {
  nb::dict d;
  d["mode"] = to_string(s.mode);
  d["reason"] = s.reason;
  d["discovery_s"] = s.discovery_s;
  d["row_grouping_s"] = s.row_grouping_s;
  d["distinct_neurons"] = to_numpy(s.distinct_neurons);
  d["distinct_rows"] = to_numpy(s.distinct_rows);
  d["saturated_rows"] = to_numpy(s.saturated_rows);
  d["carried_at_clip"] = to_numpy(s.carried_at_clip);
  return d;
}

nb::dict run(const Network& net, const Features& x, const std::string& engine_name, const std::string& mode_name,
             int threads, bool keep_features) {
  const std::optional<Mode> mode = parse_mode(mode_name);
  if (!mode) throw Error(Errc::usage, fmt::format("mode '{}': expected general, structure or auto", mode_name));
  std::string note;
  std::unique_ptr<Engine> engine = make_engine(engine_name, &note);
  RunOptions opt;
  std::string mode_note;
  opt.mode = mode_for(*engine, *mode, "mode", &mode_note);
  if (!mode_note.empty()) note += (note.empty() ? "" : "; ") + mode_note;
  if (net.neurons != x.neurons())
    throw Error(Errc::mismatch, fmt::format("the network has {} neurons but the inputs have {}", net.neurons, x.neurons()));
  if (auto why = engine->cannot_run(net, x))
    throw Error(Errc::unsupported, fmt::format("engine {} cannot run this problem: {}", engine->name(), *why));
  opt.threads = threads;
  opt.keep_features = keep_features;
  RunResult r;
  {
    nb::gil_scoped_release unlocked;
    r = engine->run(net, x, opt);
  }
  nb::dict d;
  d["engine"] = engine->name();
  d["device"] = engine->device();
  d["note"] = note;
  d["categories"] = to_numpy(std::move(r.categories));
  std::vector<int64_t> active, nnz;
  for (const LayerStats& s : r.layers) active.push_back(s.active_inputs), nnz.push_back(s.nnz);
  d["active_inputs"] = to_numpy(std::move(active));
  d["nnz"] = to_numpy(std::move(nnz));
  d["preprocess_s"] = r.preprocess_s;
  d["inference_s"] = r.inference_s;
  d["teraedges_per_s"] = teraedges_per_s(x.count(), net.edges(), r.inference_s);
  d["mode"] = r.structure ? to_string(r.structure->mode) : "general";
  d["structure"] = r.structure ? nb::object(structure_dict(*r.structure)) : nb::none();
  d["features"] = r.features ? nb::object(csr_arrays(*r.features)) : nb::none();
  return d;
}

}  // namespace

void bind_challenge(nb::module_& m) {
  nb::class_<Network>(m, "_Network")
      .def_static(
          "load",
          [](const std::string& path, int32_t neurons, int32_t layers, std::optional<float> bias) {
            nb::gil_scoped_release unlocked;
            return io::load_network(path, neurons, layers, bias);
          },
          "path"_a, "neurons"_a = 0, "layers"_a = 0, "bias"_a = nb::none())
      .def_static("radixnet", [](int32_t n, int32_t l, uint64_t seed) { return radixnet_network({n, l, seed}); })
      .def_static("random",
                  [](int32_t n, int32_t l, uint64_t seed, int32_t per_row, float value, float bias) {
                    return random_network({.neurons = n, .layers = l, .per_row = per_row, .value = value,
                                           .bias = bias, .seed = seed});
                  })
      .def_static("empty",
                  [](int32_t neurons, float bias, float clip) {
                    if (neurons <= 0) throw Error(Errc::usage, fmt::format("network: {} neurons", neurons));
                    Network n;
                    n.neurons = neurons, n.bias = bias, n.clip = clip;
                    return n;
                  })
      .def("add_layer",
           [](Network& n, HostArray<int64_t> indptr, HostArray<int32_t> indices, HostArray<float> data) {
             n.layers.push_back(csr_from_arrays(n.neurons, n.neurons, indptr, indices, data,
                                                fmt::format("layer {}", n.layers.size() + 1)));
           })
      .def("layer",
           [](const Network& n, int32_t l) {
             if (l < 0 || l >= n.num_layers())
               throw Error(Errc::range, fmt::format("layer {}: the network has layers 0 .. {}", l, n.num_layers() - 1));
             return csr_arrays(n.layers[l]);
           })
      .def("save", [](const Network& n, const std::string& path) { io::save_network_cache(path, n); })
      .def_prop_ro("neurons", [](const Network& n) { return n.neurons; })
      .def_prop_ro("num_layers", &Network::num_layers)
      .def_prop_ro("edges", &Network::edges)
      .def_rw("bias", &Network::bias)
      .def_rw("clip", &Network::clip)
      .def("neuron_groups", [](const Network& n) {
        const NeuronGroups g = find_neuron_groups(n);
        nb::list layers;
        for (const LayerGroups& l : g.layers) layers.append(to_numpy(l.group_of));
        return nb::make_tuple(layers, g.seconds);
      });

  nb::class_<Features>(m, "_Inputs")
      .def_static(
          "load",
          [](const std::string& path, int32_t neurons) {
            nb::gil_scoped_release unlocked;
            return io::load_features(path, neurons);
          },
          "path"_a, "neurons"_a)
      .def_static("from_csr",
                  [](int64_t rows, int64_t cols, HostArray<int64_t> indptr, HostArray<int32_t> indices,
                     HostArray<float> data) {
                    Features x;
                    x.matrix = csr_from_arrays(rows, cols, indptr, indices, data, "inputs");
                    return x;
                  })
      .def_static("generate",
                  [](int32_t neurons, int64_t count, uint64_t seed, const std::string& mnist) {
                    SourceImages src;
                    std::string source;
                    if (!mnist.empty()) {
                      io::MnistImages img = io::read_mnist_images(mnist);
                      src = {img.count, img.rows, img.cols, std::move(img.pixels)};
                      source = "MNIST";
                    } else {
                      src = synthetic_digits(count, seed);
                      source = fmt::format("synthetic digits, seed {}", seed);
                    }
                    GeneratedInputs g = challenge_inputs(src, neurons, count);
                    return nb::make_tuple(std::move(g.features),
                                          fmt::format("generated from {}, threshold {:.4f}", source, g.threshold));
                  })
      .def_static("random", &random_features)
      .def("arrays", [](const Features& x) { return csr_arrays(x.matrix); })
      .def("save", [](const Features& x, const std::string& path) { io::save_features_cache(path, x); })
      .def_prop_ro("count", &Features::count)
      .def_prop_ro("neurons", &Features::neurons)
      .def_prop_ro("nnz", &Features::nnz);

  m.def("run", &run, "network"_a, "inputs"_a, "engine"_a, "mode"_a, "threads"_a, "keep_features"_a);
  m.def("read_categories", [](const std::string& path) { return to_numpy(io::read_categories(path)); });
  m.def("write_categories", [](const std::string& path, HostArray<int64_t> ids) {
    io::write_categories(path, std::vector<int64_t>(ids.data(), ids.data() + ids.shape(0)));
  });
  m.def("engine_names", &engine_names);
}

}  // namespace spdnn::python
