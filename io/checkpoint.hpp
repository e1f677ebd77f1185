// Checkpoints of a training run of either policy (docs/reliability.md): the solver state plus
// what is needed to check that a resumed run is the same run (configuration, dataset checksum,
// rank count), where its trace stood, and the final values computed before the training loop
// (the MLP's post-SFT metrics). Written by rank 0 to `<path>.tmp` and renamed, so a crash at any
// point leaves either the previous checkpoint or the new one, never a torn file.
#pragma once

#include "core/communicator.hpp"
#include "core/solver_state.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace grpo::io {

/// 1.1 adds the MLP policy (attribute `policy`; datasets `reference_params`, `optimizer_state`;
/// attribute `lr`; group `finals/`, attribute `sft_seconds`). 1.0 files are log-linear ones.
/// 1.2 adds dataset `schedule_state` (the plateau schedule's state; absent for the other
/// schedules, as in 1.0 and 1.1 files, which were written by runs without a schedule).
inline constexpr const char* kCheckpointSchemaVersion = "1.2";

struct Checkpoint {
  SolverState state;
  std::string config;           ///< the resolved configuration (INI) of the run
  std::string dataset_checksum; ///< crc32 of the dataset file
  std::int64_t num_ranks = 1;
  std::int64_t trace_records = 0; ///< records of the trace at the time of the checkpoint
  double wall_seconds = 0.0;      ///< time spent in the training loop so far
  /// Values for the trace's end computed before the loop (e.g. sft_val_loss), written at finish.
  std::map<std::string, std::vector<double>> finals;
  double sft_seconds = 0.0; ///< the MLP's SFT stage (wall clock)
};

/// Rank 0 writes; errors are rank-local IoErrors (the run aborts, the old checkpoint stays).
void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);

/// Reads and validates a checkpoint (DataError naming the file and field, IoError if absent).
Checkpoint read_checkpoint(const std::string& path);

/// `--resume` (collective): the checkpoint at `path` if there is one, else nullopt (the run
/// starts from the beginning). Rank 0 checks that it belongs to this run: ConfigError naming the
/// first differing line of `config_text`, DataError for another dataset checksum; a note on
/// stderr when the rank count differs (the results are then equal to rounding only). Every rank
/// gets the same checkpoint, read by rank 0 and broadcast.
std::optional<Checkpoint> resume_checkpoint(const std::string& path, const std::string& dataset,
                                            const std::string& config_text,
                                            const std::string& checksum, const Communicator& comm);

} // namespace grpo::io
