// The CUDA backend's op profiler: GPU time per backend op, from a pair of CUDA events around
// each op on the backend's stream. Off by default (one branch per op); turned on by
// cuda<>::profile_ops(true) or the environment variable THAW_CUDA_PROFILE=1. It answers "where
// does a training step's GPU time go" on a machine where no profiler is at hand: the op times
// exclude the gaps in which the GPU waited for the host, so the sum of the op times against the
// step's wall time also measures the host overhead.
//
// GEMMs are named with their shape (m x n x k, transposes, batch), the other ops by name.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "thaw/backend/cuda/runtime.cuh"
#include "thaw/core/error.hpp"

namespace thaw::backend {

/// One op's (or one GEMM shape's) GPU time over the profiled interval.
struct op_time {
  std::string name;
  double ms = 0;    ///< GPU milliseconds, all calls together
  long calls = 0;
};

}  // namespace thaw::backend

namespace thaw::backend::cuda_detail {

class op_profiler {
public:
  static op_profiler& get() {
    static op_profiler instance;
    return instance;
  }
  [[nodiscard]] bool enabled() const { return enabled_; }
  void enable(bool on) { enabled_ = on; }

  cudaEvent_t take_event() {
    if (!pool_.empty()) {
      cudaEvent_t e = pool_.back();
      pool_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    THAW_CUDA_CHECK(cudaEventCreate(&e));
    return e;
  }
  void record(std::string name, cudaEvent_t start, cudaEvent_t stop) {
    pending_.push_back({std::move(name), start, stop});
  }
  /// Waits for the recorded ops and returns the totals per name, longest first.
  std::vector<op_time> totals() {
    collect();
    std::vector<op_time> out;
    out.reserve(totals_.size());
    for (const auto& [name, t] : totals_) out.push_back({name, t.ms, t.calls});
    std::sort(out.begin(), out.end(), [](const op_time& a, const op_time& b) { return a.ms > b.ms; });
    return out;
  }
  void reset() {
    collect();
    totals_.clear();
  }

private:
  struct pending_op {
    std::string name;
    cudaEvent_t start, stop;
  };
  struct total {
    double ms = 0;
    long calls = 0;
  };
  op_profiler() {
    const char* env = std::getenv("THAW_CUDA_PROFILE");
    enabled_ = env != nullptr && env[0] != '\0' && env[0] != '0';
  }
  void collect() {
    if (pending_.empty()) return;
    THAW_CUDA_CHECK(cudaEventSynchronize(pending_.back().stop));
    for (auto& p : pending_) {
      float ms = 0;
      THAW_CUDA_CHECK(cudaEventElapsedTime(&ms, p.start, p.stop));
      auto& t = totals_[p.name];
      t.ms += ms;
      ++t.calls;
      pool_.push_back(p.start);
      pool_.push_back(p.stop);
    }
    pending_.clear();
  }

  bool enabled_ = false;
  std::vector<cudaEvent_t> pool_;
  std::vector<pending_op> pending_;
  std::map<std::string, total> totals_;
};

/// Times the enclosing op when profiling is on; `name_of` builds the name only then.
class op_scope {
public:
  template <class NameOf>
  explicit op_scope(NameOf&& name_of) {
    op_profiler& p = op_profiler::get();
    if (!p.enabled()) return;
    name_ = name_of();
    start_ = p.take_event();
    THAW_CUDA_CHECK(cudaEventRecord(start_, ctx().stream));
  }
  ~op_scope() {
    if (start_ == nullptr) return;
    op_profiler& p = op_profiler::get();
    cudaEvent_t stop = nullptr;
    try {
      stop = p.take_event();
      if (cudaEventRecord(stop, ctx().stream) != cudaSuccess) return;
      p.record(std::move(name_), start_, stop);
    } catch (...) {  // a destructor must not throw; the op's own error is what matters
    }
  }
  op_scope(const op_scope&) = delete;
  op_scope& operator=(const op_scope&) = delete;

private:
  std::string name_;
  cudaEvent_t start_ = nullptr;
};

}  // namespace thaw::backend::cuda_detail

/// THAW_CUDA_OP(parts...): profile the rest of the enclosing block as the op named by the
/// streamed parts (evaluated only while profiling is on).
#define THAW_CUDA_OP(...) \
  const ::thaw::backend::cuda_detail::op_scope thaw_cuda_op_scope_([&] { return ::thaw::message(__VA_ARGS__); })
