// Shared by the fuzz targets: the input bytes as a file (the readers under test take paths),
// one per process, rewritten for every input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace grpo::fuzz {

inline std::string write_input(const std::uint8_t* data, std::size_t size, const char* suffix) {
  const std::string path = "/tmp/grpo-fuzz-" + std::to_string(static_cast<long>(getpid())) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::abort(); // the harness itself is broken: stop loudly
  }
  if (size > 0 && std::fwrite(data, 1, size, f) != size) {
    std::abort();
  }
  std::fclose(f);
  return path;
}

} // namespace grpo::fuzz
