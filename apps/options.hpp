// Command-line plumbing shared by the subcommands: Boost.Program_options over the command line
// and an optional INI file (--config; the command line wins), typed accessors that name the
// option in every error, and list parsing. Kokkos' own --kokkos-* flags pass through unparsed.
#pragma once

#include <boost/program_options.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace grpo::app {

namespace po = boost::program_options;

struct ParsedOptions {
  po::variables_map values;
  std::vector<std::string> kokkos_args; ///< --kokkos-* arguments, for Kokkos::initialize
  bool help = false;
};

/// Parses args (without the program and subcommand names). `positional` names an option that
/// takes positional arguments, or is empty. Throws ConfigError / IoError.
ParsedOptions parse_options(const std::string& command, const po::options_description& options,
                            const std::vector<std::string>& args,
                            const std::string& positional = "");

/// Typed access to explicitly given options (command line or config file).
bool given(const ParsedOptions& p, const char* name);
std::string get_string(const ParsedOptions& p, const char* name);
double get_double(const ParsedOptions& p, const char* name);
std::int64_t get_int(const ParsedOptions& p, const char* name);
std::uint64_t get_uint(const ParsedOptions& p, const char* name);
bool get_bool(const ParsedOptions& p, const char* name);
/// Comma-separated doubles ("0.2,0.8"); "equal" or empty gives an empty list when allowed.
std::vector<double> get_list(const ParsedOptions& p, const char* name, bool allow_equal = false);
std::vector<double> parse_list(const std::string& option, const std::string& text);

/// Ready-made option adders (no defaults: absence means "keep the preset or built-in value").
po::typed_value<std::string>* text();

} // namespace grpo::app
