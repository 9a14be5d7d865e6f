// Uses the installed umbrella header and a CPU backend op; exits non-zero on a wrong result.
#include <thaw/thaw.hpp>

#include <cstdio>
#include <vector>

int main() {
  using B = thaw::backend::cpu<>;
  std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8}, c(4, 0.0f);
  B::gemm(false, false, 2, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2);
  const bool ok = c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50;
  std::printf("thaw consumer: gemm %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
