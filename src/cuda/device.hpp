// Which GPUs this process can use, for both products (the engines and the generated kernels).
#pragma once

#include <optional>
#include <string>

namespace spdnn::cuda {

// GPUs visible (0 without a driver or a device).
int cuda_device_count();
// Why no CUDA device can be used here ("no CUDA device", no driver, ...), or nullopt if one can.
std::optional<std::string> why_no_cuda_device();
// The compute capability of the current device as a number (90 for sm_90), and its name.
int current_device_arch();
std::string current_device_name();

}  // namespace spdnn::cuda
