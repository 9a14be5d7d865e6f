// Every backend op over the host backends, against reference<double> (cases in op_cases.hpp).
#include <tuple>

#include "thaw/backend/cpu.hpp"
#include "thaw/backend/reference.hpp"

using thaw_test_backends =
    std::tuple<thaw::backend::reference<float>, thaw::backend::cpu<thaw::gemm_policy::eigen>,
               thaw::backend::cpu<thaw::gemm_policy::blas>, thaw::backend::cpu<>>;

#include "backend/op_cases.hpp"
