// thaw-data: build token datasets from corpora, train BPE vocabularies, print dataset statistics
// and the sample ids of a sampler spec. The logic is in thaw/data/tool.hpp; run
// `thaw-data --help` or `thaw-data COMMAND --help`.
#include <iostream>
#include <string>
#include <vector>

#include "thaw/data/tool.hpp"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  return thaw::data::run_tool(args, std::cout, std::cerr);
}
