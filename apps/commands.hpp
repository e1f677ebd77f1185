// The subcommands of the grpo executable. Each parses its options (before Kokkos starts, the
// same way on every rank), builds the library objects, runs and returns an exit code.
#pragma once

#include "core/environment.hpp"
#include "io/dataset.hpp"
#include "io/globalopinionqa.hpp"
#include "io/pairs_convert.hpp"
#include "jobs/study_file.hpp"

#include <functional>
#include <string>
#include <vector>

namespace grpo::app {

int run_generate(core::Environment& env, const std::vector<std::string>& args);
int run_train(core::Environment& env, const std::vector<std::string>& args);
int run_info(core::Environment& env, const std::vector<std::string>& args);
/// `grpo convert SOURCE ...`: real data (globalopinionqa, pairs) -> dataset; rank 0 writes the
/// file.
int run_convert(core::Environment& env, const std::vector<std::string>& args);
/// `grpo study ...`: runs without MPI (it launches mpirun itself) and without Kokkos.
int run_study(const std::vector<std::string>& args);

/// Parses and checks a study file exactly as `grpo study plan` does (ConfigError naming the key).
jobs::StudySpec read_study_file(const std::string& file);

/// Checks the options of a `grpo generate` run (`--name=value` words, --out included) without
/// running it; returns the metadata the dataset will have (train offsets, preset).
io::DatasetSummary check_generate_options(const std::vector<std::string>& args);
/// Checks the options of a `grpo convert SOURCE` run (`--name=value` words, --input and --out
/// included) with the command's own parser, without reading the input; returns the spec of the
/// conversion (io::convert_opinions).
io::OpinionSpec check_convert_options(const std::string& source,
                                      const std::vector<std::string>& args);
/// The same for `grpo convert pairs`.
io::PairsSpec check_convert_pairs_options(const std::vector<std::string>& args);
/// Checks the options of a `grpo train` run on a dataset with metadata `data` without running it.
void check_train_options(const std::vector<std::string>& args, const io::DatasetSummary& data);

/// "grpo 0.1.0 (git ..., Kokkos 3.4.1 Serial, MPI on, HDF5 1.10.8)".
std::string version_line();

/// Prints `text` on rank 0 only.
void root_print(const core::Environment& env, const std::string& text);

/// Runs a command as `grpo` does: an error becomes one line on stderr ("error: ...", a
/// configuration field named by its option) and the exit code of its class is returned; a
/// rank-local error on a job of several ranks ends the whole job.
int run_reporting_errors(const core::Environment& env, const std::function<int()>& command);

} // namespace grpo::app
