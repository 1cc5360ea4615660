// Engine selection by name; "auto" takes the first engine of this build that can run here.
#include <fmt/format.h>

#include "challenge/cpu/engines.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/error.hpp"

#ifdef SPDNN_HAVE_CUDA
#include "challenge/cuda/engine_factory.hpp"
#include "cuda/device.hpp"
#endif

namespace spdnn {

std::optional<std::string> Engine::cannot_run(const Network&, const Features&) const { return std::nullopt; }

Mode mode_for(const Engine& engine, Mode asked, const std::string& option, std::string* note) {
  if (asked == Mode::general || engine.has_structure_mode()) return asked;
  if (asked == Mode::structure)
    throw Error(Errc::unsupported, fmt::format("{} structure: engine {} has no structure mode (use the cpu or cuda engine)",
                                               option, engine.name()));
  if (note != nullptr) *note = fmt::format("{} auto: engine {} has no structure mode; running general", option, engine.name());
  return Mode::general;
}

std::vector<std::string> engine_names() {
  std::vector<std::string> names;
#ifdef SPDNN_HAVE_CUDA
  names.push_back("cuda");
#endif
  names.push_back("cpu");
  names.push_back("reference");
  return names;
}

std::unique_ptr<Engine> make_engine(const std::string& name, std::string* note, int device_hint) {
  if (name == "reference") return cpu::make_reference_engine();
  if (name == "cpu") return cpu::make_parallel_engine();
  if (name == "cuda" || name == "auto") {
#ifdef SPDNN_HAVE_CUDA
    std::string why;
    if (auto engine = cuda::make_cuda_engine(&why, device_hint)) return engine;
    if (name == "cuda") throw Error(Errc::unsupported, fmt::format("engine cuda: {}", why));
    if (note != nullptr) *note = fmt::format("no usable CUDA device ({}): using the cpu engine", why);
#else
    (void)note, (void)device_hint;
    if (name == "cuda")
      throw Error(Errc::unsupported, "engine cuda: this build has no CUDA support (nvcc was not found at configure time)");
#endif
    return cpu::make_parallel_engine();
  }
  std::string known = "auto";
  for (const auto& n : engine_names()) known += ", " + n;
  throw Error(Errc::usage, fmt::format("unknown engine '{}' (known: {})", name, known));
}

int gpu_count() {
#ifdef SPDNN_HAVE_CUDA
  return cuda::cuda_device_count();
#else
  return 0;
#endif
}

std::unique_ptr<Engine> make_gpu_engine(int device) {
#ifdef SPDNN_HAVE_CUDA
  return cuda::make_cuda_engine_on(device);
#else
  (void)device;
  throw Error(Errc::unsupported, "engine cuda: this build has no CUDA support (nvcc was not found at configure time)");
#endif
}

}  // namespace spdnn
