// Host/device annotations in one place (as CuTe's CUTE_HOST_DEVICE): code shared by the CPU
// and the CUDA backends (Philox, small math helpers) is marked THAW_HOST_DEVICE.
#pragma once

#if defined(__CUDACC__)
#define THAW_HOST_DEVICE __host__ __device__ __forceinline__
#define THAW_DEVICE __device__ __forceinline__
#define THAW_CUDA_COMPILER 1
#else
#define THAW_HOST_DEVICE inline
#define THAW_DEVICE inline
#define THAW_CUDA_COMPILER 0
#endif
