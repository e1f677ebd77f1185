#include "core/error.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace grpo {

const char* exit_code_class(ExitCode code) noexcept {
  switch (code) {
  case ExitCode::Success:
    return "success";
  case ExitCode::Config:
    return "configuration";
  case ExitCode::Data:
    return "data";
  case ExitCode::Io:
    return "I/O";
  case ExitCode::Numerical:
    return "numerical";
  case ExitCode::Internal:
    return "internal";
  }
  return "unknown";
}

std::string format_double(double value) {
  if (std::isnan(value)) {
    return "nan";
  }
  if (std::isinf(value)) {
    return value > 0 ? "inf" : "-inf";
  }
  char buffer[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) {
      break;
    }
  }
  return buffer;
}

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7f) {
      static const char* const hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

} // namespace grpo
