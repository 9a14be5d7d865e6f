// Shapes, owning tensors and views, host copies, errors.
#include <catch2/catch.hpp>

#include <vector>

#include "thaw/backend/reference.hpp"
#include "thaw/core/error.hpp"
#include "thaw/core/shape.hpp"
#include "thaw/core/tensor.hpp"

using thaw::shape;

TEST_CASE("shape: rank, extents, numel, rows", "[core][shape]") {
  const shape s{8, 256, 384};
  REQUIRE(s.rank() == 3);
  REQUIRE(s[0] == 8);
  REQUIRE(s[-1] == 384);
  REQUIRE(s.numel() == 8 * 256 * 384);
  REQUIRE(s.rows() == 8 * 256);
  REQUIRE(s.last() == 384);
  REQUIRE(s.str() == "[8, 256, 384]");
  REQUIRE(shape{}.numel() == 1);
  REQUIRE(shape{}.rank() == 0);
  REQUIRE(shape{3, 0}.numel() == 0);
  REQUIRE(shape{3, 0}.rows() == 3);
  REQUIRE(shape{2, 3} == shape{2, 3});
  REQUIRE_FALSE(shape{2, 3} == shape{3, 2});
  REQUIRE_FALSE(shape{6} == shape{6, 1});
}

TEST_CASE("shape: bad extents and ranks are errors that name the value", "[core][shape]") {
  REQUIRE_THROWS_WITH((shape{1, 2, 3, 4, 5}), Catch::Contains("rank 5"));
  REQUIRE_THROWS_WITH((shape{2, -3}), Catch::Contains("-3"));
  REQUIRE_THROWS_WITH((shape{2, 3}[2]), Catch::Contains("dimension 2") && Catch::Contains("[2, 3]"));
}

TEST_CASE("thaw::error carries the location of the failed check", "[core][error]") {
  try {
    THAW_CHECK(1 + 1 == 3, "arithmetic is broken: ", 42);
    FAIL("no throw");
  } catch (const thaw::error& e) {
    REQUIRE(std::string(e.what()) == "arithmetic is broken: 42");
    REQUIRE(std::string(e.where().file_name()).find("test_tensor.cpp") != std::string::npos);
    REQUIRE(e.describe().find("test_tensor.cpp:") != std::string::npos);
  }
}

TEST_CASE("tensor: owning storage, host round trip, moves, cross-backend copies", "[core][tensor]") {
  using B = thaw::backend::reference<float>;
  std::vector<float> host{1, 2, 3, 4, 5, 6};
  auto t = thaw::tensor<B>::from_host(shape{2, 3}, host);
  REQUIRE(t.shape() == shape{2, 3});
  REQUIRE(t.to_host() == host);

  thaw::tensor<B> moved = std::move(t);
  REQUIRE(t.empty());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  REQUIRE(moved.to_host() == host);

  thaw::tensor<B> filled(shape{4}, 0.5f);
  REQUIRE(filled.to_host() == std::vector<float>(4, 0.5f));
  filled = std::move(moved);
  REQUIRE(filled.shape() == shape{2, 3});

  thaw::tensor<thaw::backend::reference<float>> copy(shape{2, 3});
  copy.copy_from(filled);
  REQUIRE(copy.to_host() == host);

  REQUIRE_THROWS_WITH(thaw::tensor<B>::from_host(shape{4}, host),
                      Catch::Contains("6 elements") && Catch::Contains("[4]"));
  thaw::tensor<B> wrong(shape{3, 2});
  REQUIRE_THROWS_WITH(wrong.copy_from(filled), Catch::Contains("[2, 3]") && Catch::Contains("[3, 2]"));
  REQUIRE_THROWS(wrong.assign_from_host(std::vector<float>(5)));
}

TEST_CASE("tensor_view: reshape and row slices over the same memory", "[core][tensor]") {
  using B = thaw::backend::reference<double>;
  std::vector<double> host(24);
  for (int i = 0; i < 24; ++i) host[i] = i;
  auto t = thaw::tensor<B>::from_host(shape{2, 3, 4}, host);
  thaw::tensor_view<double> v = t;
  REQUIRE(v.numel() == 24);
  auto m = v.reshaped(shape{6, 4});
  REQUIRE(m.data == t.data());
  auto r = m.rows(2, 3);
  REQUIRE(r.shape == shape{3, 4});
  REQUIRE(r.data[0] == 8);
  REQUIRE_THROWS_WITH(v.reshaped(shape{5, 5}), Catch::Contains("24 elements"));
  REQUIRE_THROWS_WITH(m.rows(5, 2), Catch::Contains("out of range"));
  thaw::tensor_view<const double> cv = v;
  REQUIRE(cv.data == v.data);
}
