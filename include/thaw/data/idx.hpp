// IDX arrays (the MNIST file format) and the Fashion-MNIST images of `dataset-fashion-mnist`.
//
// IDX: two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64),
// the number of dimensions, then each dimension as a big-endian u32, then the data (big-endian).
// Files may be gzip-compressed (as Debian ships them); they are inflated in memory with zlib.
// The loader checks the magic, the type code, the dimensions and that the data length is
// exactly what the header promises, and says which of these is wrong.
//
// Needs zlib at link time (-lz, CMake ZLIB::ZLIB).
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/core/error.hpp"
#include "thaw/data/detail/io.hpp"

namespace thaw::data {

/// An IDX array: its element type code, dimensions, and data bytes as stored (big-endian).
struct idx_array {
  std::uint8_t type = 0x08;
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;

  [[nodiscard]] std::size_t count() const {
    std::size_t n = 1;
    for (const auto d : dims) n *= d;
    return n;
  }
};

namespace detail {

inline std::size_t idx_type_size(std::uint8_t type) {
  switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

/// Inflates a gzip stream in memory, refusing to produce more than `limit` bytes.
inline std::string gunzip(std::span<const std::byte> in, std::string_view name, std::size_t limit) {
  z_stream zs{};
  THAW_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK, name, ": zlib inflateInit2 failed");
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[1 << 16];
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw thaw::error(thaw::message(name, ": corrupt or truncated gzip data (zlib: ",
                                      zs.msg != nullptr ? zs.msg : "no progress", ')'));
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > limit) {
      inflateEnd(&zs);
      throw thaw::error(thaw::message(name, ": gzip data inflates beyond ", limit, " bytes"));
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      throw thaw::error(thaw::message(name, ": truncated gzip data"));
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace detail

/// Parses an uncompressed IDX file from memory; `name` is used in messages.
inline idx_array parse_idx(std::span<const std::byte> bytes, std::string_view name) {
  const auto b = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
  THAW_CHECK(bytes.size() >= 4, name, ": too short for an IDX header (", bytes.size(), " bytes)");
  THAW_CHECK(b(0) == 0 && b(1) == 0, name, ": bad IDX magic (first two bytes must be zero, got ",
             int(b(0)), ", ", int(b(1)), ')');
  idx_array a;
  a.type = b(2);
  const std::size_t esize = detail::idx_type_size(a.type);
  THAW_CHECK(esize != 0, name, ": unknown IDX element type code ", int(a.type));
  const std::size_t ndim = b(3);
  THAW_CHECK(ndim >= 1, name, ": IDX header has zero dimensions");
  const std::size_t header = 4 + 4 * ndim;
  THAW_CHECK(bytes.size() >= header, name, ": truncated IDX header (", ndim,
             " dimensions need ", header, " bytes, file has ", bytes.size(), ')');
  std::size_t count = 1;
  for (std::size_t d = 0; d < ndim; ++d) {
    const std::size_t at = 4 + 4 * d;
    const std::uint32_t v = (std::uint32_t{b(at)} << 24) | (std::uint32_t{b(at + 1)} << 16) |
                            (std::uint32_t{b(at + 2)} << 8) | std::uint32_t{b(at + 3)};
    a.dims.push_back(v);
    THAW_CHECK(v == 0 || count <= (std::size_t{1} << 40) / v, name,
               ": IDX dimensions are implausibly large");
    count *= v;
  }
  const std::size_t expect = header + count * esize;
  THAW_CHECK(bytes.size() == expect, name, ": IDX length mismatch: the header promises ", count,
             " elements (", expect, " bytes in all), the file has ", bytes.size(), " bytes");
  a.data.resize(count * esize);
  for (std::size_t i = 0; i < a.data.size(); ++i) a.data[i] = b(header + i);
  return a;
}

/// Reads an IDX file, inflating it first when it starts with the gzip magic.
inline idx_array load_idx(const std::filesystem::path& path) {
  const auto raw = detail::read_file(path, "IDX file");
  const auto bytes = std::as_bytes(std::span(raw.data(), raw.size()));
  if (raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x1F &&
      static_cast<unsigned char>(raw[1]) == 0x8B) {
    const auto inflated = detail::gunzip(bytes, path.string(), std::size_t{1} << 32);
    return parse_idx(std::as_bytes(std::span(inflated.data(), inflated.size())), path.string());
  }
  return parse_idx(bytes, path.string());
}

/// Labelled images: images (n, rows, cols) as bytes, labels (n) in 0..classes-1.
struct image_set {
  std::size_t n = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> images;  // (n, rows, cols)
  std::vector<std::uint8_t> labels;  // (n)

  [[nodiscard]] std::span<const std::uint8_t> image(std::size_t i) const {
    return std::span(images).subspan(i * rows * cols, rows * cols);
  }
};

/// Pairs an images file (u8, 3 dimensions) with a labels file (u8, 1 dimension) of the same
/// length, labels below `classes`.
inline image_set load_idx_images(const std::filesystem::path& images_file,
                                 const std::filesystem::path& labels_file, int classes = 10) {
  auto img = load_idx(images_file);
  auto lab = load_idx(labels_file);
  THAW_CHECK(img.type == 0x08 && img.dims.size() == 3, images_file.string(),
             ": expected unsigned-byte images with 3 dimensions (n, rows, cols), got type ",
             int(img.type), " with ", img.dims.size(), " dimensions");
  THAW_CHECK(lab.type == 0x08 && lab.dims.size() == 1, labels_file.string(),
             ": expected unsigned-byte labels with 1 dimension, got type ", int(lab.type),
             " with ", lab.dims.size(), " dimensions");
  THAW_CHECK(img.dims[0] == lab.dims[0], images_file.string(), " has ", img.dims[0],
             " images but ", labels_file.string(), " has ", lab.dims[0], " labels");
  for (std::size_t i = 0; i < lab.data.size(); ++i) {
    THAW_CHECK(lab.data[i] < classes, labels_file.string(), ": label ", int(lab.data[i]),
               " of item ", i, " is not below ", classes);
  }
  image_set s;
  s.n = img.dims[0];
  s.rows = img.dims[1];
  s.cols = img.dims[2];
  s.images = std::move(img.data);
  s.labels = std::move(lab.data);
  return s;
}

/// Fashion-MNIST from `dir` (Debian: /usr/share/datasets/fashion-mnist); split "train" (60,000
/// images) or "t10k" (10,000), 28 x 28, 10 classes.
inline image_set load_fashion_mnist(std::string_view split = "train",
                                    const std::filesystem::path& dir = "/usr/share/datasets/fashion-mnist") {
  THAW_CHECK(split == "train" || split == "t10k", "Fashion-MNIST split must be train or t10k, got \"",
             std::string(split), '"');
  const std::string s(split);
  auto pick = [&](const std::string& stem) {
    const auto gz = dir / (stem + ".gz");
    std::error_code ec;
    return std::filesystem::exists(gz, ec) ? gz : dir / stem;
  };
  return load_idx_images(pick(s + "-images-idx3-ubyte"), pick(s + "-labels-idx1-ubyte"), 10);
}

}  // namespace thaw::data
