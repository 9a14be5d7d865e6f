// Optimizer kernels of the CUDA backend: AdamW and SGD (with momentum, dampening, Nesterov,
// weight decay; formulas in thaw/backend/ops.hpp) over a sorted list of index ranges with
// compacted state. The host ranges are turned into a table (state offset and parameter offset
// of each range) that is copied to the device through pinned memory; thread j updates the j-th
// trainable element, found by binary search over the state offsets.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "thaw/backend/cuda/common.cuh"
#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/backend/ops.hpp"
#include "thaw/core/error.hpp"

namespace thaw::backend::cuda_detail {

/// Ranges on the device: range r covers parameters [param_begin[r], ...) and state
/// [state_begin[r], state_begin[r + 1]).
struct range_table {
  const std::uint64_t* state_begin;  // count + 1 entries; the last is the total
  const std::uint64_t* param_begin;  // count entries
  int count;
};

/// Parameter index of the j-th trainable element (j < total): the last range whose state
/// starts at or before j (empty ranges share their start with the next one and are skipped).
THAW_DEVICE std::uint64_t parameter_index(const range_table& t, std::uint64_t j) {
  int lo = 0, hi = t.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (t.state_begin[mid] <= j)
      lo = mid;
    else
      hi = mid - 1;
  }
  return t.param_begin[lo] + (j - t.state_begin[lo]);
}

/// Same checks and messages as the host backends: sorted, disjoint, begin <= end.
inline void check_ranges(std::span<const index_range> ranges) {
  std::size_t previous_end = 0;
  for (std::size_t r = 0; r < ranges.size(); ++r) {
    THAW_CHECK(ranges[r].begin <= ranges[r].end, "index range ", r, " [", ranges[r].begin, ", ",
               ranges[r].end, ") has begin > end");
    THAW_CHECK(r == 0 || ranges[r].begin >= previous_end, "index range ", r,
               " overlaps or precedes the previous one (ranges must be sorted and disjoint)");
    previous_end = ranges[r].end;
  }
}

/// Copies the ranges' table to the device (stream-ordered); returns it and the trainable total.
inline range_table upload_ranges(std::span<const index_range> ranges, std::uint64_t& total) {
  check_ranges(ranges);
  THAW_CHECK(ranges.size() < 0x7fffffffu, "too many index ranges: ", ranges.size());
  context& c = ctx();
  const std::size_t count = ranges.size();
  const std::size_t bytes = sizeof(std::uint64_t) * (2 * count + 1);
  // The previous upload must have left the pinned staging buffer before it is rewritten.
  THAW_CUDA_CHECK(cudaEventSynchronize(c.ranges_copied));
  if (bytes > c.ranges_host_bytes) {
    if (c.ranges_host) THAW_CUDA_CHECK(cudaFreeHost(c.ranges_host));
    c.ranges_host = nullptr;
    c.ranges_host_bytes = 0;
    const std::size_t want = std::max<std::size_t>(bytes * 2, 4096);
    THAW_CUDA_CHECK(cudaHostAlloc(&c.ranges_host, want, cudaHostAllocDefault));
    c.ranges_host_bytes = want;
  }
  auto* host = static_cast<std::uint64_t*>(c.ranges_host);
  std::uint64_t offset = 0;
  for (std::size_t r = 0; r < count; ++r) {
    host[r] = offset;
    host[count + 1 + r] = ranges[r].begin;
    offset += ranges[r].size();
  }
  host[count] = offset;
  total = offset;
  auto* device = static_cast<std::uint64_t*>(scratch(c.ranges, bytes));
  THAW_CUDA_CHECK(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, c.stream));
  THAW_CUDA_CHECK(cudaEventRecord(c.ranges_copied, c.stream));
  return range_table{device, device + count + 1, static_cast<int>(count)};
}

struct adamw_constants {
  float lr, lr_weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  float bias_correction1, bias_correction2;
};

template <class T>
__global__ void __launch_bounds__(256) adamw_kernel(T* params, const T* grads, T* m, T* v, range_table table,
                                                    std::uint64_t total, adamw_constants k) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t j = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < total; j += stride) {
    const std::uint64_t e = parameter_index(table, j);
    const float g = to_compute(grads[e]);
    float p = to_compute(params[e]);
    p -= k.lr_weight_decay * p;
    const float mj = k.beta1 * to_compute(m[j]) + k.one_minus_beta1 * g;
    const float vj = k.beta2 * to_compute(v[j]) + k.one_minus_beta2 * g * g;
    m[j] = from_compute<T>(mj);
    v[j] = from_compute<T>(vj);
    p -= k.lr * (mj / k.bias_correction1) / (sqrtf(vj / k.bias_correction2) + k.eps);
    params[e] = from_compute<T>(p);
  }
}

struct sgd_constants {
  float lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov, first_step, use_momentum;
};

template <class T>
__global__ void __launch_bounds__(256) sgd_kernel(T* params, const T* grads, T* buf, range_table table,
                                                  std::uint64_t total, sgd_constants k) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t j = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < total; j += stride) {
    const std::uint64_t e = parameter_index(table, j);
    const float p = to_compute(params[e]);
    float g = fmaf(k.weight_decay, p, to_compute(grads[e]));
    if (k.use_momentum) {
      const float b = k.first_step ? g : k.momentum * to_compute(buf[j]) + k.one_minus_dampening * g;
      buf[j] = from_compute<T>(b);
      g = k.nesterov ? fmaf(k.momentum, b, g) : b;
    }
    params[e] = from_compute<T>(p - k.lr * g);
  }
}

template <class T>
void adamw_update(T* params, const T* grads, T* m, T* v, std::span<const index_range> ranges, const adamw_args& args) {
  THAW_CHECK(args.step >= 1, "AdamW step counts from 1, got ", args.step);
  std::uint64_t total = 0;
  const range_table table = upload_ranges(ranges, total);
  if (total == 0) return;
  const double bias1 = 1.0 - std::pow(args.beta1, static_cast<double>(args.step));
  const double bias2 = 1.0 - std::pow(args.beta2, static_cast<double>(args.step));
  const adamw_constants k{static_cast<float>(args.lr),          static_cast<float>(args.lr * args.weight_decay),
                          static_cast<float>(args.beta1),       static_cast<float>(1.0 - args.beta1),
                          static_cast<float>(args.beta2),       static_cast<float>(1.0 - args.beta2),
                          static_cast<float>(args.eps),         static_cast<float>(bias1),
                          static_cast<float>(bias2)};
  context& c = ctx();
  adamw_kernel<<<grid_for(total, 256), 256, 0, c.stream>>>(params, grads, m, v, table, total, k);
  check_launch("adamw_update");
}

template <class T>
void sgd_update(T* params, const T* grads, T* momentum, std::span<const index_range> ranges, const sgd_args& args) {
  const bool use_momentum = args.momentum != 0.0;
  THAW_CHECK(!use_momentum || momentum != nullptr, "SGD with momentum ", args.momentum,
             " needs a momentum buffer (got null)");
  std::uint64_t total = 0;
  const range_table table = upload_ranges(ranges, total);
  if (total == 0) return;
  const sgd_constants k{static_cast<float>(args.lr), static_cast<float>(args.momentum),
                        static_cast<float>(1.0 - args.dampening), static_cast<float>(args.weight_decay),
                        args.nesterov, args.first_step, use_momentum};
  context& c = ctx();
  sgd_kernel<<<grid_for(total, 256), 256, 0, c.stream>>>(params, grads, momentum, table, total, k);
  check_launch("sgd_update");
}

}  // namespace thaw::backend::cuda_detail
