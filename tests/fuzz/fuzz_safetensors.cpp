// libFuzzer target: the safetensors parser must accept or reject any bytes with a thaw::error,
// never crash, hang or read out of bounds (run under ASan + UBSan). Every tensor it accepts
// must also convert without error when its dtype is a float type.
#include <cstddef>
#include <cstdint>
#include <span>

#include "thaw/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto file = thaw::io::safetensors_file::parse(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size));
    for (const auto& t : file.tensors()) {
      if (t.dtype == thaw::io::st_dtype::f32 || t.dtype == thaw::io::st_dtype::f16 ||
          t.dtype == thaw::io::st_dtype::bf16 || t.dtype == thaw::io::st_dtype::f64) {
        if (t.numel() <= (1 << 20)) (void)file.read<float>(t);
      }
    }
  } catch (const thaw::error&) {
  }
  return 0;
}
