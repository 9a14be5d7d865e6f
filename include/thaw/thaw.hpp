// thaw — umbrella header: include this to get the whole library.
//
// thaw is a header-only C++20 library for research on staged training of neural networks
// (pre-training, continual pre-training, fine-tuning with parts frozen). See README.md and
// docs/architecture.md. Headers that need the CUDA compiler (thaw/backend/cuda.hpp) are not
// included here; include them from .cu files.
#pragma once

#include "thaw/core/arena.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/philox.hpp"
#include "thaw/core/shape.hpp"
#include "thaw/core/tensor.hpp"

#include "thaw/backend/concept.hpp"
#include "thaw/backend/cpu.hpp"
#include "thaw/backend/reference.hpp"

#include "thaw/data/data.hpp"
#include "thaw/schedule/schedule.hpp"
