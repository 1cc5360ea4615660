// cuDNN, found at run time: the convolution benchmark's dense baselines need it, spdnn does not. The
// library is opened with dlopen, so a machine without it (or with it only inside a Python package, as
// nvidia-cudnn-cu13 installs it) still runs every other path, and the cuDNN paths say why they are
// missing. The functions are the legacy convolution API, which cuDNN 9's libcudnn.so.9 still exports.
#pragma once

#include <cudnn.h>

#include <string>

namespace spdnn::bench {

#define SPDNN_CUDNN_FUNCTIONS(X)                                                                             \
  X(cudnnGetVersion) X(cudnnGetErrorString) X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream)                \
  X(cudnnCreateTensorDescriptor) X(cudnnSetTensor4dDescriptor) X(cudnnDestroyTensorDescriptor)              \
  X(cudnnCreateFilterDescriptor) X(cudnnSetFilter4dDescriptor) X(cudnnDestroyFilterDescriptor)              \
  X(cudnnCreateConvolutionDescriptor) X(cudnnSetConvolution2dDescriptor) X(cudnnSetConvolutionMathType)     \
  X(cudnnDestroyConvolutionDescriptor) X(cudnnFindConvolutionForwardAlgorithm) X(cudnnConvolutionForward)

struct CudnnLibrary {
#define SPDNN_CUDNN_POINTER(name) decltype(&::name) name = nullptr;
  SPDNN_CUDNN_FUNCTIONS(SPDNN_CUDNN_POINTER)
#undef SPDNN_CUDNN_POINTER
  std::string path;    // the file opened
  std::string origin;  // how it was found: "$SPDNN_CUDNN_LIBRARY", "the loader's path" or "python3's nvidia-cudnn"

  // "cuDNN 9.19.0 (python3's nvidia-cudnn)", for reports (no machine paths).
  std::string describe() const;
  // Throws Error(device) "cuDNN <what> failed: <its message>" unless `status` is success.
  void check(cudnnStatus_t status, const char* what) const;
};

// The library, opened once: $SPDNN_CUDNN_LIBRARY if set, else libcudnn.so.9 on the loader's path, else
// the one in the Python package nvidia-cudnn-cu13 (or -cu12) of python3. Null, with the places tried in
// `why_not`, where none loads or one lacks a function.
const CudnnLibrary* cudnn_library(std::string* why_not);

}  // namespace spdnn::bench
