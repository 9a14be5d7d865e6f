// Umbrella for the optimizers: SGD, AdamW, EMA and clipping over compacted trainable elements.
#pragma once

#include "thaw/optim/adamw.hpp"
#include "thaw/optim/clip.hpp"
#include "thaw/optim/ema.hpp"
#include "thaw/optim/scalar.hpp"
#include "thaw/optim/sgd.hpp"
#include "thaw/optim/state_dict.hpp"

