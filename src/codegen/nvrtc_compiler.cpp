// NVRTC compilation of generated kernels (see nvrtc_compiler.hpp).
#include "codegen/nvrtc_compiler.hpp"

#include <fmt/format.h>
#include <nvrtc.h>

#include <memory>
#include <sstream>
#include <vector>

#include "spdnn/error.hpp"

namespace spdnn::codegen {

namespace {

void check(nvrtcResult status, const char* what, const std::string& name) {
  if (status != NVRTC_SUCCESS)
    throw Error(Errc::device, fmt::format("NVRTC {} failed for {}: {}", what, name, nvrtcGetErrorString(status)));
}

std::string first_error_line(const std::string& log) {
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line))
    if (line.find("error") != std::string::npos) return line;
  return log.substr(0, log.find('\n'));
}

}  // namespace

CompiledModule compile_cuda(const std::string& source, int arch, const std::string& name,
                            const std::vector<std::string>& extra_options) {
  nvrtcProgram program = nullptr;
  check(nvrtcCreateProgram(&program, source.c_str(), name.c_str(), 0, nullptr, nullptr), "create", name);
  std::unique_ptr<nvrtcProgram, void (*)(nvrtcProgram*)> guard(&program, [](nvrtcProgram* p) { nvrtcDestroyProgram(p); });
  const std::string arch_option = fmt::format("--gpu-architecture=sm_{}", arch);
  std::vector<const char*> options = {arch_option.c_str(), "-std=c++17"};
  for (const auto& o : extra_options) options.push_back(o.c_str());
  const nvrtcResult status = nvrtcCompileProgram(program, static_cast<int>(options.size()), options.data());
  CompiledModule module;
  size_t log_size = 0;
  check(nvrtcGetProgramLogSize(program, &log_size), "log size", name);
  if (log_size > 1) {
    module.log.resize(log_size);
    check(nvrtcGetProgramLog(program, module.log.data()), "log", name);
    module.log.resize(log_size - 1);
  }
  if (status != NVRTC_SUCCESS)
    throw Error(Errc::device, fmt::format("NVRTC could not compile {}: {}", name, first_error_line(module.log)));
  size_t size = 0;
  check(nvrtcGetCUBINSize(program, &size), "cubin size", name);
  module.cubin.resize(size);
  check(nvrtcGetCUBIN(program, module.cubin.data()), "cubin", name);
  return module;
}

std::string nvrtc_version() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return fmt::format("{}.{}", major, minor);
}

}  // namespace spdnn::codegen
