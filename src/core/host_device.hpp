// SPDNN_HOST_DEVICE: a function that host code and CUDA kernels share (one definition for both), plain
// C++ where nvcc does not compile it.
#pragma once

#if defined(__CUDACC__)
#define SPDNN_HOST_DEVICE __host__ __device__
#else
#define SPDNN_HOST_DEVICE
#endif
