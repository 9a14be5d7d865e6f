// Precision policies of the CUDA backend: cuda<Precision> takes one of these. A policy names
// the storage scalar (tensors, parameters, gradients, optimizer state, activations), the type
// kernels compute in, the cuBLAS data / compute types of the GEMMs, and two switches:
// fused_attention (nn::causal_self_attention runs cuda/attention.cuh's FlashAttention-2 kernels
// instead of materialising the probabilities) and gemm_bf16_operands (plain GEMMs multiply bf16
// copies of their operands, cuda/gemm.cuh).
//
//   fp32  plain single precision: cuBLAS CUBLAS_COMPUTE_32F with the handle's default math, so
//         no TF32 (backend name "cuda").
//   tf32  float storage; GEMMs may round their inputs to TF32 (10-bit mantissa) on the tensor
//         cores, accumulating in fp32 (CUBLAS_COMPUTE_32F_FAST_TF32; "cuda-tf32").
//   bf16  float storage; every GEMM input is rounded to bfloat16 (8-bit mantissa) and products
//         accumulate in fp32: plain GEMMs on bf16 copies of A and B (cuBLAS on bf16 matrices),
//         attention in the fused kernel (Q, K, V, dO, P and dS as bf16 mma.sync operands), and
//         the remaining strided-batched GEMMs (the materialised attention of head sizes other
//         than 64) through CUBLAS_COMPUTE_32F_FAST_16BF ("cuda-bf16"). Needs compute capability
//         8.0 (Ampere) or later.
//
// bf16 here is bf16 *compute*: parameters (the fp32 master weights), gradients, optimizer state,
// activations in memory and every reduction stay float, and every op other than the products
// computes exactly as under fp32. What it buys is the tensor cores' bf16 rate; what it does
// not buy is bf16 storage of activations (half the activation memory and half the traffic of
// the memory-bound ops), which PyTorch's autocast has. That needs a second scalar type in the
// model layer (activations of one type, parameters and gradients of another, casts at the
// boundary: see docs/architecture.md), so it is a later policy; the shape of this struct leaves
// room for it (scalar would then be the activation type, with a separate master type).
#pragma once

#include <cublas_v2.h>
#include <library_types.h>

namespace thaw::backend {

struct fp32 {
  using scalar = float;
  // Attention materialises its probabilities (fp32 / TF32 products, exact softmax).
  static constexpr bool fused_attention = false;
  static constexpr bool gemm_bf16_operands = false;
  using compute = float;
  static constexpr const char* name = "fp32";
  static constexpr const char* backend_name = "cuda";
  static constexpr cudaDataType_t blas_type = CUDA_R_32F;
  static constexpr cublasComputeType_t blas_compute = CUBLAS_COMPUTE_32F;
};

struct tf32 {
  using scalar = float;
  // Attention materialises its probabilities (fp32 / TF32 products, exact softmax).
  static constexpr bool fused_attention = false;
  static constexpr bool gemm_bf16_operands = false;
  using compute = float;
  static constexpr const char* name = "tf32";
  static constexpr const char* backend_name = "cuda-tf32";
  static constexpr cudaDataType_t blas_type = CUDA_R_32F;
  static constexpr cublasComputeType_t blas_compute = CUBLAS_COMPUTE_32F_FAST_TF32;
};

struct bf16 {
  using scalar = float;
  // Fused (FlashAttention-2) causal attention with bf16 tensor-core products (cuda/attention.cuh).
  static constexpr bool fused_attention = true;
  // Plain GEMMs multiply zero-padded bf16 copies of their operands (cuda/gemm.cuh).
  static constexpr bool gemm_bf16_operands = true;
  using compute = float;
  static constexpr const char* name = "bf16";
  static constexpr const char* backend_name = "cuda-bf16";
  static constexpr cudaDataType_t blas_type = CUDA_R_32F;
  // cuBLAS documents this compute type for fp32 A / B / C in cublasGemmEx and
  // cublasGemmStridedBatchedEx: it "allows down-converting inputs to bfloat16 or TF32", so a
  // GEMM is never less accurate than bf16 inputs with fp32 accumulation.
  static constexpr cublasComputeType_t blas_compute = CUBLAS_COMPUTE_32F_FAST_16BF;
};

}  // namespace thaw::backend
