// Checkpoints of a training run (docs/reliability.md): the solver state plus what is needed to
// check that a resumed run is the same run (configuration, dataset checksum, rank count) and
// where its trace stood. Written by rank 0 to `<path>.tmp` and renamed, so a crash at any point
// leaves either the previous checkpoint or the new one, never a torn file.
#pragma once

#include "solver/minimax_solver.hpp"

#include <cstdint>
#include <string>

namespace grpo::io {

inline constexpr const char* kCheckpointSchemaVersion = "1.0";

struct Checkpoint {
  solver::SolverState state;
  std::string config;           ///< the resolved configuration (INI) of the run
  std::string dataset_checksum; ///< crc32 of the dataset file
  std::int64_t num_ranks = 1;
  std::int64_t trace_records = 0; ///< records of the trace at the time of the checkpoint
  double wall_seconds = 0.0;      ///< time spent in the training loop so far
};

/// Rank 0 writes; errors are rank-local IoErrors (the run aborts, the old checkpoint stays).
void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);

/// Reads and validates a checkpoint (DataError naming the file and field, IoError if absent).
Checkpoint read_checkpoint(const std::string& path);

} // namespace grpo::io
