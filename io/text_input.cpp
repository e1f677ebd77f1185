#include "io/text_input.hpp"

#include "core/error.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

namespace grpo::io {

std::string trim(std::string_view s) {
  const char* space = " \t\r\n";
  const auto first = s.find_first_not_of(space);
  if (first == std::string_view::npos) {
    return "";
  }
  return std::string(s.substr(first, s.find_last_not_of(space) - first + 1));
}

std::ifstream open_input_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw IoError("cannot open '" + path + "': no such file");
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw IoError("cannot open '" + path + "': not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw IoError("cannot read '" + path + "' (permissions?)");
  }
  return in;
}

std::string shown(const std::string& value) {
  constexpr std::size_t kMax = 80;
  if (value.size() <= kMax) {
    return "'" + printable(value) + "'";
  }
  return "'" + printable(value.substr(0, kMax)) + "...' (" + std::to_string(value.size()) +
         " bytes)";
}

std::string json_number_text(const nlohmann::json& v) {
  if (v.is_number_float()) {
    return format_double(v.get<double>());
  }
  return v.dump();
}

std::string json_type_text(const nlohmann::json& v) {
  const std::string name = v.type_name();
  const bool vowel = name[0] == 'a' || name[0] == 'o';
  return std::string(vowel ? "an " : "a ") + name;
}

std::string json_parse_reason(const std::string& what) {
  const auto at = what.find("parse error");
  const auto colon = at == std::string::npos ? std::string::npos : what.find(": ", at);
  std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
  constexpr std::size_t kMax = 160;
  if (reason.size() > kMax) {
    reason = reason.substr(0, kMax) + "...";
  }
  return reason;
}

std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

std::size_t invalid_utf8_at(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned lo = 0x80; // range of the second byte (excludes overlong forms and surrogates)
    unsigned hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      lo = c == 0xE0 ? 0xA0 : 0x80;
      hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
      return i;
    }
    if (i + 1 >= n || byte(i + 1) < lo || byte(i + 1) > hi) {
      return i;
    }
    for (std::size_t k = 2; k < length; ++k) {
      if (i + k >= n || byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
        return i;
      }
    }
    i += length;
  }
  return std::string_view::npos;
}

} // namespace grpo::io
