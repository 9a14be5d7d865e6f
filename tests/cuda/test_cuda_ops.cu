// Every backend op case (tests/backend/op_cases.hpp) over the CUDA backend, against
// reference<double>.
#include <tuple>

#include "thaw/backend/cuda.hpp"
#include "thaw/backend/reference.hpp"

using thaw_test_backends = std::tuple<thaw::backend::cuda<>>;

#include "backend/op_cases.hpp"
