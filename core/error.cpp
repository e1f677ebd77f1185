#include "core/error.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace grpo {

namespace {

bool field_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/// `detail` with every `{f}` (f made of a-z, 0-9, '_' and '.') replaced by spell(f); any other
/// brace stays as it is.
std::string spell_references(const std::string& detail, const ConfigFieldError::Spelling& spell) {
  std::string out;
  std::size_t pos = 0;
  while (pos < detail.size()) {
    const auto open = detail.find('{', pos);
    if (open == std::string::npos) {
      break;
    }
    auto close = open + 1;
    while (close < detail.size() && field_char(detail[close])) {
      ++close;
    }
    out.append(detail, pos, open - pos);
    if (close < detail.size() && detail[close] == '}' && close > open + 1) {
      out += spell(detail.substr(open + 1, close - open - 1));
      pos = close + 1;
    } else {
      out += '{';
      pos = open + 1;
    }
  }
  out.append(detail, pos, std::string::npos);
  return out;
}

std::string as_is(const std::string& field) { return field; }

} // namespace

ConfigFieldError::ConfigFieldError(std::string field, std::string detail)
    : ConfigError(field + ": " + spell_references(detail, as_is))
    , m_field(std::move(field))
    , m_detail(std::move(detail)) {}

std::string ConfigFieldError::message(const Spelling& spell) const {
  return spell(m_field) + ": " + spell_references(m_detail, spell);
}

ConfigFieldError ConfigFieldError::within(const std::string& member) const {
  const auto nested = [&](const std::string& f) { return "{" + member + "." + f + "}"; };
  return {member + "." + m_field, spell_references(m_detail, nested)};
}

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
