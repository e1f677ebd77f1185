// The header of a training run's trace (docs/formats.md), the same for every policy: the resolved
// configuration, where the run came from (git revision, version, Kokkos), its dataset (path,
// checksum, source, group names, feature dimension), its sizes (ranks, iterations, trace
// interval, seed), and what a policy adds of its own (the MLP's `policy`, `network`,
// `num_params`). `grpo train` builds it for either policy; the TraceWriter writes it.
#pragma once

#include "core/communicator.hpp"
#include "io/dataset.hpp"
#include "io/trace_writer.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace grpo::io {

struct RunHeader {
  std::string config; ///< the resolved configuration (INI text, compared again on --resume)
  std::string method;
  std::string dataset_checksum; ///< dataset_checksum() of the dataset file
  std::int64_t num_ranks = 1;
  std::int64_t iterations = 0;
  std::int64_t trace_every = 0;
  std::uint64_t seed = 0;
  /// The policy's own attributes, written after the common ones.
  std::map<std::string, std::string> policy_text;
  std::map<std::string, std::int64_t> policy_int;
  /// Root attributes of the dataset kept as `dataset_<key>` when the dataset has them.
  std::vector<std::string> dataset_attributes;
};

/// The trace header of `run` on `dataset` (its path, source, group names and feature_dim).
TraceHeader trace_header(const RunHeader& run, const DatasetSummary& dataset);

/// Collective: the checksum of file `path` (io::file_checksum), computed by rank 0 and broadcast.
std::string dataset_checksum(const std::string& path, const Communicator& comm);

} // namespace grpo::io
