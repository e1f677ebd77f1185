#include "apps/options.hpp"

#include "core/error.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace grpo::app {

po::typed_value<std::string>* text() { return po::value<std::string>(); }

namespace {
// Boost.Program_options (1.74) loops forever formatting an error about an option whose name
// contains its placeholder syntax ('%canonical_option%', found by fuzzing): names with '%' are
// rejected here, before Boost sees them.
void reject_percent_in_names(const std::string& command, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a.size() > 1 && a[0] == '-' && a.substr(0, a.find('=')).find('%') != std::string::npos) {
      throw ConfigError("grpo " + command + ": unrecognised option '" + a + "' (see grpo " +
                        command + " --help)");
    }
  }
}

void reject_percent_in_keys(const std::string& path, std::istream& in) {
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#' || line[first] == ';') {
      continue;
    }
    const std::string name = line.substr(first, line.find('=') - first);
    if (name.find('%') != std::string::npos) {
      throw ConfigError("config file '" + path + "' line " + std::to_string(number) +
                        ": unrecognised option '" + name + "'");
    }
  }
  in.clear();
  in.seekg(0);
}
} // namespace

ParsedOptions parse_options(const std::string& command, const po::options_description& options,
                            const std::vector<std::string>& args, const std::string& positional) {
  ParsedOptions out;
  std::vector<std::string> ours;
  reject_percent_in_names(command, args);
  for (const auto& a : args) {
    if (a.rfind("--kokkos-", 0) == 0) {
      out.kokkos_args.push_back(a);
    } else {
      ours.push_back(a);
    }
  }
  try {
    po::positional_options_description pos;
    if (!positional.empty()) {
      pos.add(positional.c_str(), -1);
    }
    po::store(
        po::command_line_parser(ours)
            .options(options)
            .positional(pos)
            .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
            .run(),
        out.values);
  } catch (const po::error& e) {
    throw ConfigError("grpo " + command + ": " + e.what() + " (see grpo " + command + " --help)");
  }
  out.help = out.values.count("help") > 0;
  if (out.help) {
    return out;
  }
  if (out.values.count("config") != 0U) {
    const auto path = out.values["config"].as<std::string>();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw IoError(
          "grpo " + command + ": cannot open config file '" + path +
          (std::filesystem::exists(path, ec) ? "': not a regular file" : "': no such file"));
    }
    std::ifstream in(path);
    if (!in) {
      throw IoError("grpo " + command + ": cannot read config file '" + path + "'");
    }
    out.config_path = path;
    reject_percent_in_keys(path, in);
    try {
      const auto parsed = po::parse_config_file(in, options, false);
      for (const auto& option : parsed.options) {
        if (option.string_key == "config") {
          throw ConfigError("config file '" + path + "': option 'config' cannot be nested");
        }
        if (out.values.count(option.string_key) == 0) {
          out.from_config.insert(option.string_key);
        }
      }
      // Values already stored from the command line take precedence.
      po::store(parsed, out.values);
    } catch (const po::error& e) {
      throw ConfigError("config file '" + path + "': " + e.what());
    }
  }
  try {
    po::notify(out.values);
  } catch (const po::error& e) {
    throw ConfigError("grpo " + command + ": " + e.what());
  }
  return out;
}

bool given(const ParsedOptions& p, const char* name) { return p.values.count(name) > 0; }

std::string option_in_message(const std::string& message) {
  const std::string marker = "option --";
  const auto pos = message.find(marker);
  if (pos == std::string::npos) {
    return "";
  }
  const auto begin = pos + marker.size();
  auto end = begin;
  while (end < message.size() &&
         ((std::isalnum(static_cast<unsigned char>(message[end])) != 0) || message[end] == '-')) {
    ++end;
  }
  return message.substr(begin, end - begin);
}

std::string get_string(const ParsedOptions& p, const char* name) {
  return p.values[name].as<std::string>();
}

namespace {
[[noreturn]] void invalid(const char* name, const std::string& value, const char* expected) {
  throw ConfigError(std::string("option --") + name + ": invalid value '" + value + "' (expected " +
                    expected + ")");
}
} // namespace

double parse_double(const char* name, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    invalid(name, text, "a number");
  }
  return v;
}

std::int64_t parse_int(const char* name, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    invalid(name, text, "an integer");
  }
  return v;
}

std::uint64_t parse_uint(const char* name, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || end != text.c_str() + text.size() || errno == ERANGE) {
    invalid(name, text, "a non-negative integer");
  }
  return v;
}

bool parse_bool(const char* name, const std::string& text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") {
    return true;
  }
  if (text == "false" || text == "0" || text == "no" || text == "off") {
    return false;
  }
  invalid(name, text, "true or false");
}

double get_double(const ParsedOptions& p, const char* name) {
  return parse_double(name, get_string(p, name));
}

std::int64_t get_int(const ParsedOptions& p, const char* name) {
  return parse_int(name, get_string(p, name));
}

std::uint64_t get_uint(const ParsedOptions& p, const char* name) {
  return parse_uint(name, get_string(p, name));
}

bool get_bool(const ParsedOptions& p, const char* name) {
  return parse_bool(name, get_string(p, name));
}

std::vector<double> parse_list(const std::string& option, const std::string& text) {
  std::vector<double> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = text.find(',', pos);
    const std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || errno == ERANGE || !std::isfinite(v)) {
      throw ConfigError("option --" + option + ": invalid list '" + text + "' (item '" + item +
                        "' is not a finite number; expected e.g. 0.2,0.8)");
    }
    out.push_back(v);
    if (comma == std::string::npos) {
      break;
    }
    pos = comma + 1;
  }
  return out;
}

std::string join_values(const std::vector<double>& values) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) {
    s += (i != 0U ? "," : "") + format_double(values[i]);
  }
  return s;
}

std::vector<double> get_list(const ParsedOptions& p, const char* name, bool allow_equal) {
  const std::string s = get_string(p, name);
  if (allow_equal && (s == "equal" || s.empty())) {
    return {};
  }
  return parse_list(name, s);
}

} // namespace grpo::app
