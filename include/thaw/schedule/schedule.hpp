// thaw/schedule/schedule.hpp — umbrella for schedules: one algebra for every scalar that changes
// during training (learning rate, weight decay, momentum, mixture ratios, freeze depth, ...).
//
// Primitives: constant, linear, cosine, exponential, step_decay, multi_step, poly, inverse_sqrt,
// sgdr, one_cycle, wsd, infinite, fn. Combinators: a >> b, + - * / with numbers or schedules,
// min, max, clamp, repeat, offset, hold, splice. Run time: any_schedule and parse(spec).
// See docs/schedules.md.
#pragma once

#include "thaw/schedule/concept.hpp"
#include "thaw/schedule/math.hpp"

#include "thaw/schedule/constant.hpp"
#include "thaw/schedule/cosine.hpp"
#include "thaw/schedule/exponential.hpp"
#include "thaw/schedule/function.hpp"
#include "thaw/schedule/infinite.hpp"
#include "thaw/schedule/inverse_sqrt.hpp"
#include "thaw/schedule/linear.hpp"
#include "thaw/schedule/one_cycle.hpp"
#include "thaw/schedule/poly.hpp"
#include "thaw/schedule/sgdr.hpp"
#include "thaw/schedule/step_decay.hpp"
#include "thaw/schedule/wsd.hpp"

#include "thaw/schedule/arithmetic.hpp"
#include "thaw/schedule/offset.hpp"
#include "thaw/schedule/repeat.hpp"
#include "thaw/schedule/sequence.hpp"
#include "thaw/schedule/splice.hpp"

#include "thaw/schedule/any_schedule.hpp"
#include "thaw/schedule/spec.hpp"
