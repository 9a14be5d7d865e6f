// Umbrella for freezing: selectors, masks, freeze policies over time, seeded checkpoints.
#pragma once

#include "thaw/freeze/flops.hpp"
#include "thaw/freeze/freezenet.hpp"
#include "thaw/freeze/grades.hpp"
#include "thaw/freeze/policy.hpp"
#include "thaw/freeze/progressive.hpp"
#include "thaw/freeze/seeded_checkpoint.hpp"
#include "thaw/freeze/subtuning.hpp"
#include "thaw/freeze/two_stage.hpp"
#include "thaw/freeze/unfreezing.hpp"
#include "thaw/params/mask.hpp"
#include "thaw/params/select.hpp"
