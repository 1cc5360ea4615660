// cuDNN found at run time (see cudnn_library.hpp).
#include "harness/cudnn_library.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "spdnn/error.hpp"

namespace spdnn::bench {

namespace {

// The folder of python3's nvidia-cudnn package, or "" (the package puts its libraries in <folder>/lib).
std::string python_cudnn_folder() {
  const char* command =
      "python3 -c 'import importlib.util as u\n"
      "for m in (\"nvidia.cudnn\",):\n"
      "  s = u.find_spec(m)\n"
      "  print(list(s.submodule_search_locations)[0] if s else \"\")' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command, "r"), pclose);
  if (!pipe) return {};
  std::array<char, 4096> buffer{};
  std::string out;
  while (fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) out += buffer.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::unique_ptr<CudnnLibrary> open_cudnn(std::string* why_not) {
  std::vector<std::pair<std::string, std::string>> candidates;  // path, origin
  if (const char* env = std::getenv("SPDNN_CUDNN_LIBRARY"); env != nullptr && *env != '\0')
    candidates.emplace_back(env, "$SPDNN_CUDNN_LIBRARY");
  candidates.emplace_back("libcudnn.so.9", "the loader's path");
  if (const std::string folder = python_cudnn_folder(); !folder.empty())
    candidates.emplace_back(folder + "/lib/libcudnn.so.9", "python3's nvidia-cudnn");
  std::string tried;
  for (const auto& [path, origin] : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // cuDNN's sub-libraries load from its folder
    if (handle == nullptr) {
      const char* error = dlerror();
      tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", path, error != nullptr ? error : "not loaded");
      continue;
    }
    auto lib = std::make_unique<CudnnLibrary>();
    lib->path = path;
    lib->origin = origin;
    std::string missing;
#define SPDNN_CUDNN_RESOLVE(name)                                                  \
  lib->name = reinterpret_cast<decltype(lib->name)>(dlsym(handle, #name));         \
  if (lib->name == nullptr) missing += (missing.empty() ? "" : ", ") + std::string(#name);
    SPDNN_CUDNN_FUNCTIONS(SPDNN_CUDNN_RESOLVE)
#undef SPDNN_CUDNN_RESOLVE
    if (missing.empty()) return lib;
    tried += fmt::format("{}{}: lacks {}", tried.empty() ? "" : "; ", path, missing);
    dlclose(handle);
  }
  *why_not = "cuDNN not found (" + tried + "); set SPDNN_CUDNN_LIBRARY to its libcudnn.so.9";
  return nullptr;
}

}  // namespace

std::string CudnnLibrary::describe() const {
  const size_t v = cudnnGetVersion();
  return fmt::format("cuDNN {}.{}.{} ({})", v / 10000, v / 100 % 100, v % 100, origin);
}

void CudnnLibrary::check(cudnnStatus_t status, const char* what) const {
  if (status != CUDNN_STATUS_SUCCESS) throw Error(Errc::device, fmt::format("cuDNN {} failed: {}", what, this->cudnnGetErrorString(status)));
}

const CudnnLibrary* cudnn_library(std::string* why_not) {
  static std::once_flag once;
  static std::unique_ptr<CudnnLibrary> lib;
  static std::string why;
  std::call_once(once, [] { lib = open_cudnn(&why); });
  if (!lib && why_not != nullptr) *why_not = why;
  return lib.get();
}

}  // namespace spdnn::bench
