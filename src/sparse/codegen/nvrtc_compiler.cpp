// NVRTC compilation of generated kernels (see nvrtc_compiler.hpp).
#include "sparse/codegen/nvrtc_compiler.hpp"

#include <fmt/format.h>
#include <nvJitLink.h>
#include <nvrtc.h>

#include <future>

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

CompiledModule compile_and_link_cuda(const std::vector<std::string>& units, int arch, const std::string& name,
                                     const std::vector<std::string>& extra_options) {
  std::vector<std::string> options = extra_options;
  options.push_back("-rdc=true");
  std::vector<std::future<CompiledModule>> jobs;
  for (size_t i = 0; i < units.size(); ++i)
    jobs.push_back(std::async(std::launch::async, [&, i] {
      return compile_cuda(units[i], arch, fmt::format("{} (unit {} of {})", name, i + 1, units.size()), options);
    }));
  std::vector<CompiledModule> parts;
  for (auto& job : jobs) parts.push_back(job.get());  // rethrows the first failure, after the earlier units

  nvJitLinkHandle link = nullptr;
  const std::string arch_option = fmt::format("-arch=sm_{}", arch);
  const char* link_options[] = {arch_option.c_str()};
  auto fail = [&](const char* what, nvJitLinkResult status) -> Error {
    std::string log;
    size_t size = 0;
    if (link != nullptr && nvJitLinkGetErrorLogSize(link, &size) == NVJITLINK_SUCCESS && size > 1) {
      log.resize(size);
      nvJitLinkGetErrorLog(link, log.data());
      log.resize(size - 1);
    }
    return Error(Errc::device, fmt::format("nvJitLink {} failed for {} (status {}){}{}", what, name, static_cast<int>(status),
                                           log.empty() ? "" : ": ", first_error_line(log)));
  };
  if (auto status = nvJitLinkCreate(&link, 1, link_options); status != NVJITLINK_SUCCESS) throw fail("create", status);
  std::unique_ptr<nvJitLinkHandle, void (*)(nvJitLinkHandle*)> guard(&link, [](nvJitLinkHandle* h) { nvJitLinkDestroy(h); });
  CompiledModule linked;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string unit = fmt::format("unit{}.cubin", i);
    if (auto status = nvJitLinkAddData(link, NVJITLINK_INPUT_CUBIN, parts[i].cubin.data(), parts[i].cubin.size(), unit.c_str());
        status != NVJITLINK_SUCCESS)
      throw fail("add", status);
    if (!parts[i].log.empty()) linked.log += parts[i].log + "\n";
  }
  if (auto status = nvJitLinkComplete(link); status != NVJITLINK_SUCCESS) throw fail("link", status);
  size_t size = 0;
  if (auto status = nvJitLinkGetLinkedCubinSize(link, &size); status != NVJITLINK_SUCCESS) throw fail("cubin size", status);
  linked.cubin.resize(size);
  if (auto status = nvJitLinkGetLinkedCubin(link, linked.cubin.data()); status != NVJITLINK_SUCCESS) throw fail("cubin", status);
  return linked;
}

std::string nvrtc_version() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return fmt::format("{}.{}", major, minor);
}

}  // namespace spdnn::codegen
