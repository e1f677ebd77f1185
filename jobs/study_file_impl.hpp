// Internal to the study-file parser (jobs/study_file.hpp): the Parser class, whose members live
// in jobs/study_file.cpp (the file, [study] and [slurm]), jobs/study_values.cpp (the TOML value
// readers, error locations and the option check), jobs/study_data.cpp ([data.NAME]: file,
// generate, convert) and jobs/study_experiments.cpp ([[experiment]]: methods, seeds, grid, cases
// and the expansion of their combinations). Not a public header.
#pragma once

#include "jobs/study_file.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <toml++/toml.h>
#include <vector>

namespace grpo::jobs::study_detail {

/// Where in the file an option of a run was set.
struct Source {
  std::string key;
  const toml::node* node = nullptr;
};

/// Parses one study file; every error names the file, the line and the key.
class Parser {
public:
  Parser(std::string file, std::string cwd, const OptionCheck& check);

  StudySpec parse();

private:
  // The [slurm] table (study_file.cpp).
  void parse_slurm(const toml::table& t, SlurmResources& r) const;

  // Error locations and TOML value readers (study_values.cpp).
  std::string where(const std::string& key) const;
  std::string where(const std::string& key, const toml::node& node) const;
  [[noreturn]] void fail(const std::string& key, const toml::node& node,
                         const std::string& what) const;
  void expect_keys(const toml::table& t, const std::string& prefix,
                   const std::set<std::string>& allowed) const;
  const toml::table* table_at(const toml::table& t, const char* name, const std::string& key,
                              bool required) const;
  /// Scalar (or array of scalars, comma-joined) as command-line text.
  std::string text_of(const toml::node& node, const std::string& key, bool allow_array) const;
  std::string string_at(const toml::table& t, const char* name, const std::string& key,
                        bool required) const;
  std::string name_at(const toml::table& t, const char* name, const std::string& key) const;
  int int_at(const toml::table& t, const char* name, const std::string& key, int fallback, int lo,
             int hi) const;
  std::vector<std::string> strings_at(const toml::node& node, const std::string& key) const;
  /// `seeds = N` (0 .. N-1), `seeds = { first = F, count = N }` (F .. F+N-1) or a list of
  /// non-negative integers.
  std::vector<std::uint64_t> seeds_at(const toml::node& node, const std::string& key) const;
  OptionList options_of(const toml::table& t, const std::string& key_prefix,
                        const std::set<std::string>& reserved) const;
  /// Runs the option check; an error about one option names the study key that set it
  /// (`sources`: option -> key), else `key`.
  void checked(const std::string& command, const OptionList& options, const DataSpec* data,
               const std::string& key, const toml::node& node,
               const std::map<std::string, Source>& sources = {}) const;
  static std::string absolute_from(const std::string& path, const std::string& base);

  // [data.NAME] tables (study_data.cpp).
  DataSpec parse_data(const std::string& name, const toml::node& node) const;
  /// `convert = { source = "globalopinionqa", input = "FILE", OPTION = VALUE, ... }`: `source`
  /// picks `grpo convert SOURCE`, every other key is one of its options (checked with its
  /// parser); a relative `input` is taken from the study file's folder.
  void parse_convert(const std::string& key, const toml::node& node, DataSpec& d) const;

  // [[experiment]] tables (study_experiments.cpp).
  ExperimentSpec parse_experiment(const toml::table& t, int index, const StudySpec& s,
                                  const std::vector<std::uint64_t>& seeds, int ranks) const;
  /// `[experiment.selection]`: metric, goal, over (options in `varied`) and statistic.
  SelectionSpec parse_selection(const toml::table& t, const std::string& key,
                                const std::set<std::string>& varied) const;
  /// Bounds the experiment's runs, then checks the options of every combination of data set,
  /// method, grid values and case.
  void check_runs(const ExperimentSpec& e, const toml::table& t, const std::string& key,
                  const StudySpec& s) const;

  std::string m_file;
  std::string m_cwd;
  const OptionCheck& m_check;
};

} // namespace grpo::jobs::study_detail
