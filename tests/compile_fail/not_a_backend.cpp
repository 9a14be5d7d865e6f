// Must not compile: an arbitrary type used where a backend is required.
#include "thaw/backend/concept.hpp"

struct not_a_backend {};
static_assert(thaw::assert_backend<not_a_backend>());

int main() {}
