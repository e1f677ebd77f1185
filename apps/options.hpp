// Command-line plumbing shared by the subcommands: Boost.Program_options over the command line
// and an optional INI file (--config; the command line wins), typed accessors that name the
// option in every error, and list parsing. Kokkos' own --kokkos-* flags pass through unparsed.
#pragma once

#include "apps/option_names.hpp"
#include "core/error.hpp"

#include <boost/program_options.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace grpo::app {

namespace po = boost::program_options;

struct ParsedOptions {
  po::variables_map values;
  std::vector<std::string> kokkos_args; ///< --kokkos-* arguments, for Kokkos::initialize
  bool help = false;
  std::string config_path;           ///< the --config file, if any
  std::set<std::string> from_config; ///< options whose value came from that file
};

/// Runs `f`; a ConfigFieldError of a library becomes the ConfigError naming the option
/// (naming_options), and a ConfigError about an option whose value came from the config file is
/// rethrown with the file named, so the user knows where to look.
template <class F>
decltype(auto) naming_config_file(const ParsedOptions& p, F&& f);

/// Parses args (without the program and subcommand names). `positional` names an option that
/// takes positional arguments, or is empty. Throws ConfigError / IoError.
ParsedOptions parse_options(const std::string& command, const po::options_description& options,
                            const std::vector<std::string>& args,
                            const std::string& positional = "");

/// The value `text` of option `name` as a number, an integer, a non-negative integer or a
/// boolean (true/1/yes/on, false/0/no/off); ConfigError "option --name: invalid value ..."
/// otherwise.
double parse_double(const char* name, const std::string& text);
std::int64_t parse_int(const char* name, const std::string& text);
std::uint64_t parse_uint(const char* name, const std::string& text);
bool parse_bool(const char* name, const std::string& text);
/// parse(text), a ConfigError of the value parser (which names no option) prefixed with
/// "option --name: ".
template <class Parse>
auto parse_named(const char* name, const std::string& text, Parse parse) {
  try {
    return parse(text);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("option --") + name + ": " + e.what());
  }
}

/// Typed access to explicitly given options (command line or config file).
bool given(const ParsedOptions& p, const char* name);
std::string get_string(const ParsedOptions& p, const char* name);
double get_double(const ParsedOptions& p, const char* name);
std::int64_t get_int(const ParsedOptions& p, const char* name);
std::uint64_t get_uint(const ParsedOptions& p, const char* name);
bool get_bool(const ParsedOptions& p, const char* name);
/// target = get(p, name) when option `name` was given; otherwise target keeps its value.
template <class T, class Get>
void set_if_given(const ParsedOptions& p, const char* name, T& target, Get get) {
  if (given(p, name)) {
    target = get(p, name);
  }
}
/// parse(value of option `name`), a ConfigError of the parser (a value parser such as
/// solver::parse_method names no option) prefixed with "option --name: ".
template <class Parse>
auto get_parsed(const ParsedOptions& p, const char* name, Parse parse) {
  return parse_named(name, get_string(p, name), parse);
}
/// Comma-separated doubles ("0.2,0.8"); "equal" or empty gives an empty list when allowed.
std::vector<double> get_list(const ParsedOptions& p, const char* name, bool allow_equal = false);
std::vector<double> parse_list(const std::string& option, const std::string& text);
/// The inverse of parse_list: "0.2,0.8" (format_double of each value).
std::string join_values(const std::vector<double>& values);

/// Ready-made option adders (no defaults: absence means "keep the preset or built-in value").
po::typed_value<std::string>* text();

/// The option named in a message "option --name: ...", or empty.
std::string option_in_message(const std::string& message);

template <class F>
decltype(auto) naming_config_file(const ParsedOptions& p, F&& f) {
  try {
    return naming_options(std::forward<F>(f));
  } catch (const ConfigError& e) {
    const std::string option = option_in_message(e.what());
    if (!option.empty() && p.from_config.count(option) > 0) {
      throw ConfigError("config file '" + p.config_path + "': " + e.what());
    }
    throw;
  }
}

} // namespace grpo::app
