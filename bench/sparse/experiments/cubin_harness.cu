// Times one generated kernel from a cubin, outside spdnn, so that variants of the emitted source (launch
// bounds edited, the staged-X patch) can be compared: 5 runs of 200 back-to-back launches, the best
// mean, the registers and local memory per thread, and a checksum of Y (equal checksums: the same
// arithmetic, since every variant adds each row's products in the same order).
// Usage: cubin_harness CUBIN K M N THREADS GROUPS COLS_PER_THREAD [STAGE_ROWS [TILE_WARPS]]
// Build: nvcc -O2 -arch=sm_90 cubin_harness.cu -lcuda -o cubin_harness
#include <cuda.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                             \
  do {                                                                       \
    if (CUresult r = (x); r != CUDA_SUCCESS) {                               \
      const char* s = nullptr;                                               \
      cuGetErrorString(r, &s);                                               \
      std::fprintf(stderr, "%s: %s\n", #x, s);                               \
      std::exit(1);                                                          \
    }                                                                        \
  } while (0)

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s CUBIN K M N THREADS GROUPS COLS_PER_THREAD [STAGE_ROWS [TILE_WARPS]]\n", argv[0]);
    return 2;
  }
  const char* cubin = argv[1];
  long long k = std::atoll(argv[2]), m = std::atoll(argv[3]), n = std::atoll(argv[4]);
  const int threads = std::atoi(argv[5]), cols = std::atoi(argv[7]);
  int groups = std::atoi(argv[6]);
  const int stage_rows = argc > 8 ? std::atoi(argv[8]) : 0, tile_warps = argc > 9 ? std::atoi(argv[9]) : 1;
  cudaFree(nullptr);
  CUmodule module;
  CHECK(cuModuleLoad(&module, cubin));
  CUfunction f;
  CHECK(cuModuleGetFunction(&f, module, "spdnn_sparse_linear"));
  int regs = 0, local = 0;
  cuFuncGetAttribute(&regs, CU_FUNC_ATTRIBUTE_NUM_REGS, f);
  cuFuncGetAttribute(&local, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, f);
  std::vector<float> hx(k * n);
  std::srand(7);
  for (auto& v : hx) v = static_cast<float>(std::rand() % 2001 - 1000) / 1000.0f;
  float *x, *y;
  cudaMalloc(&x, k * n * 4);
  cudaMalloc(&y, m * n * 4);
  cudaMemcpy(x, hx.data(), k * n * 4, cudaMemcpyHostToDevice);
  cudaMemset(y, 0, m * n * 4);
  void* args[] = {&x, &y, &n};
  // The grid of spdnn's launch: a block per THREADS x C columns and a row of blocks per group, or
  // (staged) a block per tile of 32 x C x TILE_WARPS columns and THREADS / 32 / TILE_WARPS groups per block.
  long long width = static_cast<long long>(threads) * cols;
  unsigned shared = 0;
  if (stage_rows > 0) {
    width = 32LL * cols * tile_warps;
    const int per_block = threads / 32 / tile_warps;
    groups = (groups + per_block - 1) / per_block;
    shared = 2u * stage_rows * static_cast<unsigned>(width) * 4u;
    CHECK(cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, static_cast<int>(shared)));
  }
  const unsigned blocks = static_cast<unsigned>((n + width - 1) / width);
  auto launch = [&] { CHECK(cuLaunchKernel(f, blocks, groups, 1, threads, 1, 1, shared, nullptr, args, nullptr)); };
  launch();
  CHECK(cuCtxSynchronize());
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  float best = 1e30f;
  for (int rep = 0; rep < 5; ++rep) {
    cudaEventRecord(a);
    for (int i = 0; i < 200; ++i) launch();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    best = std::fmin(best, ms * 1000 / 200);
  }
  std::vector<float> hy(m * n);
  cudaMemcpy(hy.data(), y, m * n * 4, cudaMemcpyDeviceToHost);
  double sum = 0;
  for (float v : hy) sum += v;
  std::printf("%-40s N=%6lld T=%4d grid=%ux%d regs=%3d lmem=%4d %8.2f us  checksum %.6e\n", cubin, n, threads, blocks,
              groups, regs, local, best, sum);
}
