// thaw-sched: print or plot a schedule spec, e.g.
//   thaw-sched "linear(0, 3e-4, 500) >> cosine(3e-4, 3e-5, 9500)" --plot lr.png
#include <iostream>

#include "thaw/schedule/cli.hpp"

int main(int argc, char** argv) { return thaw::sched::cli::run(argc, argv, std::cout, std::cerr); }
