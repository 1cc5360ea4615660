// Compiles generated CUDA source to a cubin for one GPU architecture with NVRTC. Needs no GPU, so the
// emitted kernels are compile-tested on any machine with the CUDA toolkit.
#pragma once

#include <string>
#include <vector>

namespace spdnn::codegen {

struct CompiledModule {
  std::vector<char> cubin;
  std::string log;  // NVRTC's messages (warnings), empty when silent
};

// `arch` is the compute capability as a number (90 for sm_90). Throws Error(device) with the first line
// of NVRTC's log when compilation fails; `name` labels the program in messages.
CompiledModule compile_cuda(const std::string& source, int arch, const std::string& name,
                            const std::vector<std::string>& extra_options = {});

// Compiles `units` (emit_sparse_linear_units) as relocatable code, in parallel, and links them with
// nvJitLink into one cubin. Throws Error(device) naming the unit or the link step that failed.
CompiledModule compile_and_link_cuda(const std::vector<std::string>& units, int arch, const std::string& name,
                                     const std::vector<std::string>& extra_options = {});

// NVRTC's version as "major.minor" (part of the kernel-cache key).
std::string nvrtc_version();

}  // namespace spdnn::codegen
