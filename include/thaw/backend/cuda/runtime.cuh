// CUDA backend runtime: error checking (every CUDA / cuBLAS call throws thaw::error naming the
// call and the error), the process-wide context (device, stream, cuBLAS handle, scratch
// buffers, the device-side error record) created lazily on first use, and launch helpers.
//
// One host thread drives the backend: the context's scratch buffers are shared by all ops and
// reused in stream order, which is safe because every op runs on the context's one stream.
// The context is never destroyed (its stream, handle and buffers live until the process
// exits), which avoids tearing down cuBLAS after the CUDA runtime during static destruction.
#pragma once

#if !defined(__CUDACC__)
#error "thaw/backend/cuda.hpp (and thaw/backend/cuda/*.cuh) must be compiled by nvcc: include it from a .cu file"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>

#include "thaw/core/error.hpp"
#include "thaw/core/host_device.hpp"

namespace thaw::backend::cuda_detail {

/// "cudaMalloc" from "cudaMalloc(&p, bytes)": the function a checked call expression names.
inline std::string_view called_function(const char* call) {
  const std::string_view text(call);
  return text.substr(0, text.find('('));
}

/// Throws thaw::error("cuda: <call> failed: <name> (<description>)") unless `status` is success.
inline void check_cuda(cudaError_t status, const char* call,
                       std::source_location where = std::source_location::current()) {
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // so a later launch check does not report this error again
    throw ::thaw::error(::thaw::message("cuda: ", called_function(call), " failed: ", cudaGetErrorName(status), " (",
                                        cudaGetErrorString(status), ")"),
                        where);
  }
}

/// Throws thaw::error("cuBLAS: <call> failed: <name> (<description>)") unless success.
inline void check_cublas(cublasStatus_t status, const char* call,
                         std::source_location where = std::source_location::current()) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw ::thaw::error(::thaw::message("cuBLAS: ", called_function(call), " failed: ", cublasGetStatusName(status),
                                        " (", cublasGetStatusString(status), ")"),
                        where);
  }
}

}  // namespace thaw::backend::cuda_detail

/// THAW_CUDA_CHECK(cudaMalloc(&p, bytes)): runs the call and throws thaw::error on failure.
#define THAW_CUDA_CHECK(...) ::thaw::backend::cuda_detail::check_cuda((__VA_ARGS__), #__VA_ARGS__)
/// THAW_CUBLAS_CHECK(cublasSgemm(...)): the same for cuBLAS status codes.
#define THAW_CUBLAS_CHECK(...) ::thaw::backend::cuda_detail::check_cublas((__VA_ARGS__), #__VA_ARGS__)

namespace thaw::backend::cuda_detail {

/// Errors found by kernels (a bad target or embedding id) that cannot throw where they happen.
/// The first one is recorded in device memory; the next op that synchronises with the host
/// (synchronize, to_host, from_host, sum, sum_squares) copies the record back and throws it.
struct device_error {
  int code;      // 0: none; otherwise one of the kError* values
  int value;     // the offending id / target
  int position;  // its row / position
  int limit;     // the vocabulary / table size it had to be below
};
inline constexpr int kErrorNone = 0;
inline constexpr int kErrorTarget = 1;
inline constexpr int kErrorEmbeddingId = 2;
inline constexpr int kUnknownLimit = 0x7fffffff;

/// Records the first device-side error (later ones are dropped).
THAW_DEVICE void raise_device_error(device_error* e, int code, int value, int position, int limit) {
  if (atomicCAS(&e->code, kErrorNone, code) == kErrorNone) {
    e->value = value;
    e->position = position;
    e->limit = limit;
    __threadfence();
  }
}

/// A growable device buffer, reused in stream order.
struct scratch_buffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
};

struct context {
  int device = 0;
  int sm_count = 0;
  int compute_major = 0;  // compute capability (major): bf16 tensor-core kernels need 8 or more
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  device_error* error_device = nullptr;  // the record kernels write (device memory)
  device_error* error_host = nullptr;    // pinned copy read at synchronising calls
  bool error_possible = false;           // a kernel that checks ids ran since the last check
  double* result_host = nullptr;         // pinned landing place of sum / sum_squares
  scratch_buffer partials;        // column-reduction partial sums, sum() partials
  scratch_buffer ranges;          // optimizer range tables (device copy)
  scratch_buffer staging;         // overlapping copies
  scratch_buffer attention;       // fused attention: per-head bf16 copies, rowsum(dO * O)
  scratch_buffer gemm_a, gemm_b;  // bf16 copies of GEMM operands (bf16 policy)
  scratch_buffer gemm_c;          // an aligned C for the bf16 policy's GEMMs into unaligned rows
  void* ranges_host = nullptr;    // pinned staging for the range tables
  std::size_t ranges_host_bytes = 0;
  cudaEvent_t ranges_copied = nullptr;  // the last upload from ranges_host has finished
};

/// Says why no device is usable, or returns normally when one is.
inline void require_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // leave no stale error for the next cudaGetLastError()
    throw ::thaw::error(::thaw::message("cuda: no usable CUDA device: cudaGetDeviceCount failed: ",
                                        cudaGetErrorName(status), " (", cudaGetErrorString(status),
                                        ")"));
  }
  if (count == 0) throw ::thaw::error("cuda: no CUDA device is present (cudaGetDeviceCount == 0)");
}

inline context* create_context() {
  require_device();
  auto owner = std::make_unique<context>();  // freed if a step below throws
  context* c = owner.get();
  THAW_CUDA_CHECK(cudaGetDevice(&c->device));
  THAW_CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, c->device));
  THAW_CUDA_CHECK(cudaDeviceGetAttribute(&c->compute_major, cudaDevAttrComputeCapabilityMajor, c->device));
  THAW_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  THAW_CUBLAS_CHECK(cublasCreate(&c->blas));
  THAW_CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
  // Default math: no TF32 unless a call's compute type (the precision policy's) asks for it.
  THAW_CUBLAS_CHECK(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
  THAW_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&c->error_device), sizeof(device_error)));
  THAW_CUDA_CHECK(cudaMemsetAsync(c->error_device, 0, sizeof(device_error), c->stream));
  THAW_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&c->error_host), sizeof(device_error),
                                cudaHostAllocDefault));
  *c->error_host = device_error{kErrorNone, 0, 0, 0};
  THAW_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&c->result_host), sizeof(double), cudaHostAllocDefault));
  THAW_CUDA_CHECK(cudaEventCreateWithFlags(&c->ranges_copied, cudaEventDisableTiming));
  return owner.release();
}

/// The process-wide context, created on first use (throws thaw::error when no GPU is present;
/// the next call tries again).
inline context& ctx() {
  static context* const instance = create_context();
  return *instance;
}

/// Device pointer of the error record, for kernels that validate ids; the next synchronising
/// call will look at the record.
inline device_error* device_error_ptr() {
  context& c = ctx();
  c.error_possible = true;
  return c.error_device;
}

/// Throws a device-side error copied back by sync_and_check, and clears the record.
inline void throw_device_error() {
  context& c = ctx();
  const device_error seen = *c.error_host;
  if (seen.code == kErrorNone) return;
  *c.error_host = device_error{kErrorNone, 0, 0, 0};
  THAW_CUDA_CHECK(cudaMemsetAsync(c.error_device, 0, sizeof(device_error), c.stream));
  if (seen.code == kErrorTarget) {
    throw ::thaw::error(::thaw::message(
        "cross-entropy target ", seen.value, " at row ", seen.position,
        " is outside the vocabulary [0, ", seen.limit,
        ") and is not the ignore index (found by a CUDA kernel, reported at the next synchronising call)"));
  }
  if (seen.limit == kUnknownLimit) {  // embedding_backward does not know the table's size
    throw ::thaw::error(::thaw::message(
        "embedding id ", seen.value, " at position ", seen.position,
        " is negative (found by a CUDA kernel, reported at the next synchronising call)"));
  }
  throw ::thaw::error(::thaw::message(
      "embedding id ", seen.value, " at position ", seen.position, " is outside the table's ",
      seen.limit, " rows (found by a CUDA kernel, reported at the next synchronising call)"));
}

/// Waits for the context's stream, then reports any device-side error recorded since the last
/// check (the 16-byte record is copied back only when an id-checking kernel ran).
inline void sync_and_check() {
  context& c = ctx();
  const bool check = c.error_possible;
  if (check)
    THAW_CUDA_CHECK(cudaMemcpyAsync(c.error_host, c.error_device, sizeof(device_error),
                                    cudaMemcpyDeviceToHost, c.stream));
  THAW_CUDA_CHECK(cudaStreamSynchronize(c.stream));
  if (check) {
    c.error_possible = false;
    throw_device_error();
  }
}

/// A scratch buffer of at least `bytes`, reallocated (after draining the stream) when too small.
inline void* scratch(scratch_buffer& s, std::size_t bytes) {
  if (bytes <= s.bytes && s.ptr) return s.ptr;
  context& c = ctx();
  if (s.ptr) {
    THAW_CUDA_CHECK(cudaStreamSynchronize(c.stream));  // earlier kernels may still use it
    THAW_CUDA_CHECK(cudaFree(s.ptr));
    s.ptr = nullptr;
    s.bytes = 0;
  }
  const std::size_t want = std::max<std::size_t>(bytes + bytes / 2, 1 << 16);
  THAW_CUDA_CHECK(cudaMalloc(&s.ptr, want));
  s.bytes = want;
  return s.ptr;
}

/// Checks a kernel launch (bad configuration, missing sm_90 code). Define
/// THAW_CUDA_DEBUG_SYNC to also wait for every kernel, so an asynchronous fault names the op.
inline void check_launch(const char* kernel,
                         std::source_location where = std::source_location::current()) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw ::thaw::error(::thaw::message("cuda: launch of kernel '", kernel, "' failed: ",
                                        cudaGetErrorName(status), " (", cudaGetErrorString(status),
                                        ")"),
                        where);
  }
#if defined(THAW_CUDA_DEBUG_SYNC)
  const cudaError_t run = cudaStreamSynchronize(ctx().stream);
  if (run != cudaSuccess) {
    throw ::thaw::error(::thaw::message("cuda: kernel '", kernel, "' failed: ",
                                        cudaGetErrorName(run), " (", cudaGetErrorString(run), ")"),
                        where);
  }
#endif
}

/// Blocks for a grid-stride loop over `items` with `threads` per block: enough to fill the GPU
/// several times over, never more than the work needs.
inline unsigned grid_for(std::size_t items, int threads, int waves = 8) {
  const std::size_t needed = (items + threads - 1) / threads;
  const std::size_t cap = static_cast<std::size_t>(std::max(ctx().sm_count, 1)) * waves *
                          (2048 / threads);
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min(needed, cap)));
}

inline bool aligned_to(const void* p, std::size_t bytes) {
  return reinterpret_cast<std::uintptr_t>(p) % bytes == 0;
}

}  // namespace thaw::backend::cuda_detail
