// thaw::arena<B> — a bump allocator for per-step activations in backend B's memory.
//
// A training step allocates its activations in order and frees them all at once; a bump
// arena makes each allocation a pointer increment and the release a reset. The arena starts
// with one block; when a step needs more, it chains another block (pointers already handed out
// stay valid), and the next reset() replaces the chain by one block as large as the peak, so a
// steady-state step allocates nothing. `peak_bytes()` is the activation memory a step needed:
// what the freezing benchmarks report.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/core/shape.hpp"
#include "thaw/core/tensor.hpp"

namespace thaw {

template <class B>
class arena {
public:
  static constexpr std::size_t kAlignment = 64;  // a cache line; also enough for AVX-512 and CUDA

  /// An arena whose first block holds `initial_bytes` (0: allocate on first use).
  explicit arena(std::size_t initial_bytes = 0) {
    if (initial_bytes) add_block(initial_bytes);
  }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  ~arena() { free_blocks(); }

  /// Uninitialised storage for n elements of U, aligned to kAlignment, valid until reset().
  template <class U>
  U* allocate(std::size_t n) {
    const std::size_t bytes = round_up(std::max<std::size_t>(n * sizeof(U), 1));
    // Move to the next block (chained earlier and released, or new) when this one is full.
    while (current_ < blocks_.size() && blocks_[current_].used + bytes > blocks_[current_].capacity)
      ++current_;
    if (current_ == blocks_.size())
      add_block(std::max(bytes, blocks_.empty() ? bytes : blocks_.back().capacity));
    block& b = blocks_[current_];
    std::byte* p = b.data + b.used;
    b.used += bytes;
    used_ += bytes;
    peak_ = std::max(peak_, used_);
    return reinterpret_cast<U*>(p);
  }

  /// A view of uninitialised storage of the given shape.
  template <class U = typename B::scalar>
  tensor_view<U> allocate(const thaw::shape& s) {
    return {allocate<U>(s.size()), s};
  }

  /// Position to roll back to with release(); allocations after it are freed together.
  struct marker {
    std::size_t block;       // index of the block in use at the mark
    std::size_t block_used;  // bytes used in that block at the mark
    std::size_t total_used;
  };
  [[nodiscard]] marker mark() const noexcept {
    return {current_, current_ < blocks_.size() ? blocks_[current_].used : 0, used_};
  }
  /// Frees everything allocated since `m`; blocks chained since then are kept for reuse.
  void release(marker m) {
    THAW_CHECK(m.block <= current_ && m.total_used <= used_,
               "arena marker is newer than the arena's state (released twice, or after reset?)");
    for (std::size_t i = m.block + 1; i < blocks_.size(); ++i) blocks_[i].used = 0;
    if (m.block < blocks_.size()) blocks_[m.block].used = m.block_used;
    current_ = m.block;
    used_ = m.total_used;
  }

  /// Frees every allocation. If the last step needed several blocks, they are replaced by one
  /// block of the peak size.
  void reset() {
    if (blocks_.size() > 1) {
      const std::size_t want = round_up(peak_);
      free_blocks();
      add_block(want);
    }
    for (block& b : blocks_) b.used = 0;
    current_ = 0;
    used_ = 0;
  }

  [[nodiscard]] std::size_t used_bytes() const noexcept { return used_; }
  /// The most bytes in use at once since construction (or reset_peak()).
  [[nodiscard]] std::size_t peak_bytes() const noexcept { return peak_; }
  void reset_peak() noexcept { peak_ = used_; }
  /// Bytes held from the backend, in all blocks.
  [[nodiscard]] std::size_t capacity_bytes() const noexcept {
    std::size_t total = 0;
    for (const block& b : blocks_) total += b.capacity;
    return total;
  }

private:
  struct block {
    std::byte* data;
    std::size_t capacity;
    std::size_t used;
  };
  static std::size_t round_up(std::size_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  void add_block(std::size_t bytes) {
    bytes = round_up(bytes);
    blocks_.push_back({B::template allocate<std::byte>(bytes), bytes, 0});
  }
  void free_blocks() noexcept {
    for (block& b : blocks_) B::deallocate(b.data);
    blocks_.clear();
  }

  std::vector<block> blocks_;
  std::size_t current_ = 0;  // the block allocations come from
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
};

}  // namespace thaw
