# Generates include/thaw/data/detail/unicode_tables.hpp from Python's unicodedata:
#   python3 tests/data/gen_unicode_tables.py > include/thaw/data/detail/unicode_tables.hpp
import unicodedata, sys
def ranges(pred):
    out=[]; start=None
    for cp in range(0x110000):
        ok = pred(cp)
        if ok and start is None: start=cp
        if not ok and start is not None: out.append((start,cp-1)); start=None
    if start is not None: out.append((start,0x10ffff))
    return out
L = ranges(lambda c: unicodedata.category(chr(c)).startswith('L'))
N = ranges(lambda c: unicodedata.category(chr(c)).startswith('N'))
# White_Space property (what \s matches in Unicode-aware regex engines)
ws = [0x9,0xa,0xb,0xc,0xd,0x20,0x85,0xa0,0x1680]+list(range(0x2000,0x200b))+[0x2028,0x2029,0x202f,0x205f,0x3000]
W = ranges(lambda c: c in ws)
def emit(name, rs):
    s = f"inline constexpr code_range {name}[] = {{\n"
    line = "   "
    for a,b in rs:
        item = f" {{0x{a:X}, 0x{b:X}}},"
        if len(line)+len(item) > 98: s += line+"\n"; line="   "
        line += item
    s += line + "\n};\n"
    return s
print(f"""// Unicode property tables for the GPT-2 pre-tokenizer: General Category L (letters), N (numbers)
// and the White_Space property, as sorted, disjoint, inclusive code-point ranges.
//
// Generated from Unicode {unicodedata.unidata_version} (Python {sys.version.split()[0]}'s unicodedata) by
//   python3 tests/data/gen_unicode_tables.py > include/thaw/data/detail/unicode_tables.hpp
// Do not edit by hand.
#pragma once

#include <cstdint>

namespace thaw::data::detail {{

struct code_range {{
  std::uint32_t lo, hi;
}};

inline constexpr const char* kUnicodeVersion = "{unicodedata.unidata_version}";
""")
print("// General Category L* (Lu, Ll, Lt, Lm, Lo).")
print(emit("kLetterRanges", L))
print("// General Category N* (Nd, Nl, No).")
print(emit("kNumberRanges", N))
print("// White_Space property.")
print(emit("kSpaceRanges", W))
print("}  // namespace thaw::data::detail")
