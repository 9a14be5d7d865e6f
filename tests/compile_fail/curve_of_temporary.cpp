// Must not compile: get_curve on the temporary map eval_curves() returns would hand back a
// reference into a destroyed object (found when writing docs/guide.md: a silent 0.000 loss).
#include <thaw/train/continual.hpp>

int main() {
#ifdef THAW_CONTROL_COMPLETE
  const auto curves = thaw::train::eval_curves("log.jsonl");
  return thaw::train::get_curve(curves, "english").size() > 0;
#else
  return thaw::train::get_curve(thaw::train::eval_curves("log.jsonl"), "english").size() > 0;
#endif
}
