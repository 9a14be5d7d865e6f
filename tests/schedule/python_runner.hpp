// Test helper: run a Python script with Debian's /usr/bin/python3 and capture its stdout.
// Used by the PyTorch parity tests; a failure names the exit status and Python's last words.
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace thaw::test {

inline constexpr const char* kPython = "/usr/bin/python3";

struct python_output {
  int status = -1;      // exit status of the script
  std::string out;      // its stdout
  std::string err;      // its stderr
};

inline std::string temp_file(const std::string& suffix, const std::string& text) {
  std::string path = "/tmp/thaw-test-XXXXXX" + suffix;
  const int fd = ::mkstemps(path.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error("cannot create a temporary file");
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

inline python_output run_python(const std::string& script) {
  const std::string py = temp_file(".py", script);
  const std::string err = temp_file(".err", "");
  python_output r;
  // Paths come from mkstemps (no quotes or spaces), so plain quoting is safe.
  const std::string cmd = std::string(kPython) + " '" + py + "' 2>'" + err + "'";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = ::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  ::unlink(py.c_str());
  ::unlink(err.c_str());
  return r;
}

}  // namespace thaw::test
