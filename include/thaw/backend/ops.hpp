// Argument structs shared by every backend's ops (kept out of concept.hpp so a backend
// implementation can include them without the concept machinery).
#pragma once

#include <cstddef>
#include <cstdint>

#include "thaw/core/host_device.hpp"

namespace thaw {

/// Token ids, targets and embedding indices are 32-bit everywhere (GPT-2's vocabulary fits).
using token_t = std::int32_t;

/// One contiguous run [begin, end) of trainable elements of the flat parameter buffer.
/// An index set is a sorted list of disjoint ranges; optimizer state is compacted: range r's
/// state starts at the sum of the lengths of ranges 0..r-1, so state memory is proportional to
/// the number of trainable elements, not to the model.
struct index_range {
  std::size_t begin = 0;
  std::size_t end = 0;
  [[nodiscard]] constexpr std::size_t size() const noexcept { return end - begin; }
};

/// Geometry of a square-kernel 2-D convolution over a batch of NCHW images, for im2col /
/// col2im: col has shape (batch, channels * kernel * kernel, out_height * out_width), rows in
/// (channel, kernel row, kernel column) order — the layout of PyTorch's Conv2d weight
/// [out_channels, channels, kernel, kernel] seen as a matrix, so a convolution is one GEMM.
struct conv_geometry {
  int batch = 1, channels = 1, height = 1, width = 1;
  int kernel = 1, stride = 1, pad = 0;
  [[nodiscard]] THAW_HOST_DEVICE constexpr int out_height() const noexcept { return (height + 2 * pad - kernel) / stride + 1; }
  [[nodiscard]] THAW_HOST_DEVICE constexpr int out_width() const noexcept { return (width + 2 * pad - kernel) / stride + 1; }
  [[nodiscard]] THAW_HOST_DEVICE constexpr int patch() const noexcept { return channels * kernel * kernel; }
};

/// Geometry of a max pooling over `planes` (= batch * channels) planes of height x width, no
/// padding; windows that do not fit are dropped (PyTorch's ceil_mode=False).
struct pool_geometry {
  int planes = 1, height = 1, width = 1;
  int kernel = 2, stride = 2;
  [[nodiscard]] THAW_HOST_DEVICE constexpr int out_height() const noexcept { return (height - kernel) / stride + 1; }
  [[nodiscard]] THAW_HOST_DEVICE constexpr int out_width() const noexcept { return (width - kernel) / stride + 1; }
};

/// AdamW ("Decoupled Weight Decay Regularization", Loshchilov & Hutter, ICLR 2019), as
/// torch.optim.AdamW: p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). `step` t counts from 1.
struct adamw_args {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  long step = 1;
};

/// SGD with momentum as torch.optim.SGD: g += wd*p; buf = momentum*buf + (1-dampening)*g
/// (buf = g on the first step); g = nesterov ? g + momentum*buf : buf; p -= lr*g.
/// With momentum == 0 the buffer is not touched (and may be null).
struct sgd_args {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = false;  ///< buf = g instead of the momentum recurrence (PyTorch semantics)
};

}  // namespace thaw
