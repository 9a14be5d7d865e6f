// thaw-lm: language-model tools. `thaw-lm eval` (see include/thaw/cli/lm_eval.hpp).
#include <thaw/cli/lm_eval.hpp>

#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "eval") == 0)
    return thaw::cli::lm_eval(argc - 2, argv + 2, std::cout, std::cerr);
  std::cerr << (argc < 2 ? "thaw-lm: missing command" : "thaw-lm: unknown command")
            << "\nusage: thaw-lm eval --config CONFIG.json --weights W.safetensors --tokens T.bin"
               "\n       thaw-lm eval --help\n";
  return (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) ? 0 : 2;
}
