// Every backend op case (tests/backend/op_cases.hpp) over the CUDA backend under its three
// precision policies (fp32, tf32, bf16), against reference<double>.
//
// The policies differ only in the GEMMs (float storage everywhere; every other op is the same
// fp32 kernel), so only the GEMM cases get wider tolerances, through gemm_input_rounding
// (support/test_util.hpp). The bounds were set from the op cases themselves run on the CPU
// with emulated input rounding (inputs rounded to TF32 / bf16, products accumulated in fp32),
// both round-to-nearest and truncation, since cuBLAS does not document which the tensor cores'
// conversion uses:
//   TF32: worst relative error 3.5e-4 (nearest) / 8.6e-4 (truncation) on the shapes with
//         k >= 33, 1.1e-3 on the 1 x 1 x 1 case (one product, cancelling against beta C);
//         tolerance 2e-3.
//   bf16: 2.8e-3 (nearest) / 7.4e-3 (truncation) with k >= 33, 1.0e-2 on the 1 x 1 x 1 case;
//         tolerance 2e-2.
// fp32 itself stays at the float tolerance (errors of order 1e-6).
#include <tuple>

#include "support/test_util.hpp"
#include "thaw/backend/cuda.hpp"
#include "thaw/backend/reference.hpp"

namespace thaw::test {
template <>
inline constexpr double gemm_input_rounding<backend::cuda<backend::tf32>> = 2e-3;
template <>
inline constexpr double gemm_input_rounding<backend::cuda<backend::bf16>> = 2e-2;
}  // namespace thaw::test

// The specialisations are seen by the op cases (declared before op_cases.hpp instantiates them).
static_assert(thaw::test::gemm_tolerance<thaw::backend::cuda<thaw::backend::bf16>>(1e-5) == 2e-2);
static_assert(thaw::test::gemm_tolerance<thaw::backend::cuda<>>(1e-5) == 1e-5);

using thaw_test_backends =
    std::tuple<thaw::backend::cuda<>, thaw::backend::cuda<thaw::backend::tf32>, thaw::backend::cuda<thaw::backend::bf16>>;

#include "backend/op_cases.hpp"
