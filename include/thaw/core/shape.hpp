// thaw::shape — the extent of a tensor, rank 0 to 4, row-major (last dimension contiguous).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <sstream>
#include <string>

#include "thaw/core/error.hpp"

namespace thaw {

inline constexpr int kMaxRank = 4;

class shape {
public:
  constexpr shape() = default;
  /// shape{2048, 384}; throws thaw::error on rank > 4 or a negative extent.
  shape(std::initializer_list<std::int64_t> dims) {
    THAW_CHECK(dims.size() <= kMaxRank, "shape has rank ", dims.size(), ", thaw supports at most ",
               kMaxRank);
    for (auto d : dims) {
      THAW_CHECK(d >= 0, "shape extent ", d, " is negative");
      dims_[rank_++] = d;
    }
  }

  [[nodiscard]] constexpr int rank() const noexcept { return rank_; }
  /// Extent of dimension i; negative i counts from the end (-1 is the last).
  [[nodiscard]] std::int64_t operator[](int i) const {
    const int j = i < 0 ? i + rank_ : i;
    THAW_CHECK(j >= 0 && j < rank_, "dimension ", i, " is out of range for shape ", str());
    return dims_[j];
  }
  /// Number of elements (1 for rank 0).
  [[nodiscard]] constexpr std::int64_t numel() const noexcept {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  /// Product of all extents but the last: the number of rows of the row-major matrix view.
  [[nodiscard]] constexpr std::int64_t rows() const noexcept {
    std::int64_t n = 1;
    for (int i = 0; i + 1 < rank_; ++i) n *= dims_[i];
    return n;
  }
  [[nodiscard]] std::int64_t last() const noexcept { return rank_ == 0 ? 1 : dims_[rank_ - 1]; }
  /// numel() as an element count for allocation.
  [[nodiscard]] constexpr std::size_t size() const noexcept { return static_cast<std::size_t>(numel()); }

  friend constexpr bool operator==(const shape& a, const shape& b) noexcept {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }

  /// "[2048, 384]"
  [[nodiscard]] std::string str() const {
    std::ostringstream out;
    out << *this;
    return out.str();
  }
  friend std::ostream& operator<<(std::ostream& out, const shape& s) {
    out << '[';
    for (int i = 0; i < s.rank_; ++i) out << (i ? ", " : "") << s.dims_[i];
    return out << ']';
  }

private:
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace thaw
