// Helpers for tests that run under mpiexec: agree on a verdict before asserting, so that a
// failure on one rank never leaves the others waiting in a collective.
#pragma once

#include "core/communicator.hpp"

namespace grpo::test {

/// True on every rank iff `ok` is true on every rank.
inline bool all_ranks(const Communicator& comm, bool ok) { return !comm.any(!ok); }

} // namespace grpo::test
