// Builds one rank's PreferenceSplit from host rows: the single place where loaded or generated
// rows become device Views (one mirror + deep_copy per array, at the I/O boundary).
#pragma once

#include "policies/preference_batch.hpp"
#include "solver/group_partition.hpp"

#include <string>

namespace grpo::solver {

/// `z` holds this rank's rows [partition.rank_begin(rank), rank_end(rank)) as row-major
/// [rows x dim] floats (chosen minus rejected features); `ref` the same rows' reference
/// log-ratios, or nullptr for zeros.
policies::PreferenceSplit make_local_split(const std::string& name, int dim,
                                           const GroupPartition& partition, int rank,
                                           const float* z, const float* ref);

} // namespace grpo::solver
