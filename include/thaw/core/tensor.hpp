// Tensors: owning `tensor<B, U>` over a backend's memory and non-owning `tensor_view<U>`.
//
// A tensor is a shape plus one allocation made through backend B (host memory for `reference`
// and `cpu`, device memory for `cuda`). It is move-only: copies between tensors, and between
// host and device, are explicit (copy_from, to_host, from_host) so none happens by accident.
// Layout is always row-major and contiguous.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/core/shape.hpp"

namespace thaw {

/// A non-owning view: pointer into some backend's memory plus a shape. Cheap to copy.
template <class U>
struct tensor_view {
  U* data = nullptr;
  thaw::shape shape{};

  [[nodiscard]] std::int64_t numel() const noexcept { return shape.numel(); }
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(numel()); }
  /// Same memory under another shape with the same number of elements.
  [[nodiscard]] tensor_view reshaped(thaw::shape to) const {
    THAW_CHECK(to.numel() == numel(), "cannot reshape ", shape, " (", numel(), " elements) to ",
               to, " (", to.numel(), " elements)");
    return {data, to};
  }
  /// Rows [first, first + count) of the row-major matrix view (shape rows() x last()).
  [[nodiscard]] tensor_view rows(std::int64_t first, std::int64_t count) const {
    THAW_CHECK(first >= 0 && count >= 0 && first + count <= shape.rows(), "rows [", first, ", ",
               first + count, ") are out of range for ", shape);
    return {data + first * shape.last(), thaw::shape{count, shape.last()}};
  }
  operator tensor_view<const U>() const noexcept { return {data, shape}; }  // NOLINT
};

/// An owning tensor of element type U (default: the backend's scalar) in backend B's memory.
template <class B, class U = typename B::scalar>
class tensor {
public:
  using backend = B;
  using value_type = U;

  tensor() = default;
  /// Uninitialised storage of the given shape.
  explicit tensor(thaw::shape s) : shape_(s), data_(B::template allocate<U>(s.size())) {}
  /// Storage of the given shape, every element `value`.
  tensor(thaw::shape s, U value) : tensor(s) { fill(value); }

  /// A tensor holding a copy of host data; the element count must match the shape.
  static tensor from_host(thaw::shape s, std::span<const U> host) {
    THAW_CHECK(static_cast<std::int64_t>(host.size()) == s.numel(), "host data has ", host.size(),
               " elements but shape ", s, " needs ", s.numel());
    tensor t(s);
    B::from_host(t.data(), host.data(), host.size());
    return t;
  }

  tensor(const tensor&) = delete;
  tensor& operator=(const tensor&) = delete;
  tensor(tensor&& other) noexcept
      : shape_(std::exchange(other.shape_, thaw::shape{})), data_(std::exchange(other.data_, nullptr)) {}
  tensor& operator=(tensor&& other) noexcept {
    if (this != &other) {
      release();
      shape_ = std::exchange(other.shape_, thaw::shape{});
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }
  ~tensor() { release(); }

  [[nodiscard]] U* data() noexcept { return data_; }
  [[nodiscard]] const U* data() const noexcept { return data_; }
  [[nodiscard]] const thaw::shape& shape() const noexcept { return shape_; }
  [[nodiscard]] std::int64_t numel() const noexcept { return shape_.numel(); }
  [[nodiscard]] std::size_t size() const noexcept { return static_cast<std::size_t>(numel()); }
  [[nodiscard]] bool empty() const noexcept { return data_ == nullptr; }

  [[nodiscard]] tensor_view<U> view() noexcept { return {data_, shape_}; }
  [[nodiscard]] tensor_view<const U> view() const noexcept { return {data_, shape_}; }
  operator tensor_view<U>() noexcept { return view(); }              // NOLINT
  operator tensor_view<const U>() const noexcept { return view(); }  // NOLINT

  void fill(U value) requires std::same_as<U, typename B::scalar> { B::fill(data_, size(), value); }

  /// Copies the contents to a host vector (synchronising with the device if needed).
  [[nodiscard]] std::vector<U> to_host() const {
    std::vector<U> host(size());
    B::to_host(host.data(), data_, host.size());
    return host;
  }
  /// Overwrites the contents from host data of exactly numel() elements.
  void assign_from_host(std::span<const U> host) {
    THAW_CHECK(static_cast<std::int64_t>(host.size()) == numel(), "host data has ", host.size(),
               " elements but the tensor ", shape_, " has ", numel());
    B::from_host(data_, host.data(), host.size());
  }
  /// Copies another tensor of the same shape, possibly from another backend (through the host).
  template <class B2>
  void copy_from(const tensor<B2, U>& other) {
    THAW_CHECK(other.shape() == shape_, "cannot copy a ", other.shape(), " tensor into a ", shape_,
               " tensor");
    if constexpr (std::is_same_v<B, B2>) {
      B::copy(data_, other.data(), size());
    } else {
      assign_from_host(other.to_host());
    }
  }

private:
  void release() noexcept {
    if (data_) B::deallocate(data_);
    data_ = nullptr;
  }

  thaw::shape shape_{};
  U* data_ = nullptr;
};

}  // namespace thaw
