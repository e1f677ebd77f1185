// Study files (TOML, docs/studies.md): the data, the grids of methods x options x seeds, the
// ranks per task, the executor and the Slurm resources. Parsing checks every key and value and
// names the offending key in its error (ConfigError, exit code 2); nothing is run here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace grpo::jobs {

/// Option name -> value, in the order given; values are the command-line text ("0.1", "a,b").
using OptionList = std::vector<std::pair<std::string, std::string>>;

struct SlurmResources {
  std::string partition;
  std::string account;
  std::string qos;
  std::string time;   ///< --time, Slurm's format (minutes, [D-]HH:MM:SS, ...)
  std::string memory; ///< --mem, e.g. 4G
  int cpus_per_task = 1;
  int throttle = 0;               ///< at most this many array tasks at once (%N), 0 = no limit
  std::vector<std::string> extra; ///< further #SBATCH arguments, e.g. "--constraint=avx512"
};

/// Sources `grpo convert SOURCE` knows (a study's `convert = { source = ... }`).
extern const char* const kConvertSources[2];

struct DataSpec {
  std::string name;
  std::string file;           ///< an existing dataset (absolute), or
  OptionList generate;        ///< options of `grpo generate`, or
  std::string convert_source; ///< `grpo convert SOURCE` (e.g. globalopinionqa) with
  OptionList convert;         ///< its options, `input` first (absolute); no `out`
  bool per_seed = false;      ///< generate: one dataset per training seed (`--seed` = that seed)
  bool generated() const { return file.empty() && convert_source.empty(); }
  bool converted() const { return !convert_source.empty(); }
};

/// `[experiment.selection]` (docs/studies.md): the report picks, per data set, method and value
/// of the options not in `over`, the values of the `over` options whose `statistic` over seeds
/// of the final `metric` is best (smallest for goal "min", largest for "max").
struct SelectionSpec {
  std::string metric;             ///< a scalar trace column, e.g. worst_val_loss
  std::string goal;               ///< "min" or "max"
  std::vector<std::string> over;  ///< options varied by the experiment's grid or cases
  std::string statistic = "mean"; ///< over seeds: "mean" or "median"
  bool enabled() const { return !metric.empty(); }
};

/// Scalar trace columns a selection may name (docs/formats.md): the log-linear policy's and the
/// MLP's.
bool is_selection_metric(const std::string& name);

struct ExperimentSpec {
  std::string name;
  std::string kind = "grid"; ///< "grid" (compare methods) or "rate" (convergence rate in x)
  std::string x;             ///< rate: the option on the horizontal axis (e.g. iterations)
  std::vector<std::string> data;
  std::vector<std::string> methods;
  std::vector<std::uint64_t> seeds;
  int ranks = 1;
  OptionList options;                                                 ///< fixed train options
  std::vector<std::pair<std::string, std::vector<std::string>>> grid; ///< cartesian product
  std::vector<OptionList> cases;                                      ///< listed combinations
  SelectionSpec selection; ///< none unless `[experiment.selection]` is given
};

struct StudySpec {
  std::string file; ///< the study file (absolute)
  std::string name;
  std::string output; ///< the study directory (absolute)
  std::string executor = "local";
  int jobs = 0; ///< local: concurrent cores, 0 = all of this machine's
  std::string mpiexec = "mpirun";
  std::string python; ///< interpreter of the report ("" = /usr/bin/python3 or python3)
  SlurmResources slurm;
  std::vector<DataSpec> data;
  std::vector<ExperimentSpec> experiments;
};

/// Checks the options of one `grpo generate` ("generate"), `grpo convert SOURCE` ("convert") or
/// `grpo train` ("train") run: unknown names and malformed values throw ConfigError naming the
/// option. `data` is the data set the run uses (train) or makes (convert: its source and its
/// options are `data->convert_source` and `options`), for checks that depend on it.
using OptionCheck = std::function<void(const std::string& command, const OptionList& options,
                                       const DataSpec* data)>;

/// Parses and validates `path`. Relative `output` paths are taken from `cwd`, relative data
/// files from the study file's folder. `check` validates the options of every run.
StudySpec parse_study_file(const std::string& path, const std::string& cwd,
                           const OptionCheck& check);

/// True for names usable in task ids and file names: [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
bool is_safe_name(const std::string& name);
/// Task ids: the same characters, up to 200 of them (they name files in the study).
bool is_safe_id(const std::string& id);

} // namespace grpo::jobs
