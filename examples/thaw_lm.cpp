// thaw-lm: language-model tools.
//   thaw-lm train --config C.json [--resume DIR]   (include/thaw/cli/lm_train.hpp)
//   thaw-lm eval  --config CONFIG.json --weights W.safetensors --tokens T.bin   (lm_eval.hpp)
#include <thaw/cli/lm_eval.hpp>
#include <thaw/cli/lm_train.hpp>

#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "eval") == 0)
    return thaw::cli::lm_eval(argc - 2, argv + 2, std::cout, std::cerr);
  if (argc >= 2 && std::strcmp(argv[1], "train") == 0)
    return thaw::cli::lm_train(argc - 2, argv + 2, std::cout, std::cerr);
  const bool help = argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0);
  (help ? std::cout : std::cerr)
      << (help ? "" : argc < 2 ? "thaw-lm: missing command\n" : "thaw-lm: unknown command\n")
      << "usage: thaw-lm train --config C.json [--resume DIR]\n"
         "       thaw-lm eval --config CONFIG.json --weights W.safetensors --tokens T.bin\n"
         "       thaw-lm train --help | thaw-lm eval --help\n";
  return help ? 0 : 2;
}
