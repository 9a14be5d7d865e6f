// Precision policies of the CUDA backend: cuda<Precision> takes one of these. A policy names
// the storage scalar (tensors, parameters, gradients, optimizer state), the type kernels
// compute in, and the cuBLAS data / compute types of the GEMMs. fp32 is plain single precision
// (cuBLAS FP32, no TF32); tf32 keeps float storage but lets cuBLAS use TF32 tensor cores.
// Mixed precision (bf16 storage, float compute) is a later policy of the same shape.
#pragma once

#include <cublas_v2.h>
#include <library_types.h>

namespace thaw::backend {

struct fp32 {
  using scalar = float;
  using compute = float;
  static constexpr const char* name = "fp32";
  static constexpr const char* backend_name = "cuda";
  static constexpr cudaDataType_t blas_type = CUDA_R_32F;
  static constexpr cublasComputeType_t blas_compute = CUBLAS_COMPUTE_32F;
};

struct tf32 {
  using scalar = float;
  using compute = float;
  static constexpr const char* name = "tf32";
  static constexpr const char* backend_name = "cuda-tf32";
  static constexpr cudaDataType_t blas_type = CUDA_R_32F;
  static constexpr cublasComputeType_t blas_compute = CUBLAS_COMPUTE_32F_FAST_TF32;
};

}  // namespace thaw::backend
