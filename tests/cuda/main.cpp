// Catch2 main of thaw_cuda_tests. Without a usable GPU it runs nothing: it prints SKIPPED with
// the reason and exits with 77, which ctest (SKIP_RETURN_CODE 77) reports as skipped, so no
// CUDA test ever counts as passed without having run. Set THAW_CUDA_REQUIRE_GPU=1 (the GPU
// machine's tests/gpu/run.sh does) to turn the skip into a failure. Listing tests (ctest's
// discovery at build time) needs no GPU.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {
constexpr int kSkipReturnCode = 77;

bool only_lists(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--list") || arg == "-l" || arg == "-t" || arg == "-h" || arg == "-?" ||
        arg == "--help")
      return true;
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  if (!only_lists(argc, argv)) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
      const char* require = std::getenv("THAW_CUDA_REQUIRE_GPU");
      const bool required = require && *require && std::strcmp(require, "0") != 0;
      std::fprintf(stderr,
                   "thaw_cuda_tests: %s: no CUDA GPU is present (cudaGetDeviceCount: %s, %d "
                   "devices); the CUDA backend's tests did NOT run.\n",
                   required ? "FAILED" : "SKIPPED",
                   status == cudaSuccess ? "cudaSuccess" : cudaGetErrorString(status), count);
      return required ? 1 : kSkipReturnCode;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
      std::fprintf(stderr, "thaw_cuda_tests: %d GPU(s); device 0: %s, sm_%d%d, %d SMs, %.1f GiB\n", count,
                   prop.name, prop.major, prop.minor, prop.multiProcessorCount,
                   static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  }
  return Catch::Session().run(argc, argv);
}
