// GPU tests skip themselves, visibly and with the reason, where no CUDA device is usable.
#pragma once

#include <gtest/gtest.h>

#include "cuda/device.hpp"

#define SPDNN_REQUIRE_GPU()                                                                          \
  do {                                                                                               \
    if (auto spdnn_why_no_gpu = ::spdnn::cuda::why_no_cuda_device())                                \
      GTEST_SKIP() << "no usable CUDA device: " << *spdnn_why_no_gpu;                                \
  } while (0)
