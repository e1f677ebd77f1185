// Mini-batch draws on the device (ALGORITHM.md §2.3, pitfall 9). Every draw is a pure function
// of counters -- a hash of (seed, step, k), or (seed, step, group, k) for the within-group draw
// of group-weighted batches, or the position of a row in a permutation keyed by (seed, stream,
// epoch) -- so every rank, any rank count and any backend draw the same rows, and a resumed run
// continues the same sequence. The rows are drawn, sorted and located in this rank's share on
// the device; a step copies only the K + 3P + 1 positions that locate them to the host (P: the
// rank's group pieces), never the rows themselves.
//
//   BatchSampler       the log-linear policy's draws with replacement (B slots per step)
//   EpochPermutations  the MLP's passes without replacement (one permutation per epoch)
//   DrawLocator        sorts a step's global rows and finds this rank's rows among them
#pragma once

#include "core/views.hpp"
#include "policies/preference_batch.hpp"

#include <cstdint>
#include <vector>

namespace grpo::solver {

/// The log-linear policy's draws: slot k of step t is a uniform training row (or, for
/// group-weighted batches, a uniform row of a uniform non-empty group), with replacement.
class BatchSampler {
public:
  BatchSampler() = default;
  BatchSampler(std::uint64_t seed, const std::vector<index_t>& offsets, bool group_weighted,
               index_t batch_size);

  index_t batch_size() const { return m_batch; }
  /// Global row of slot k at step t, computed on the host (the same function as fill's).
  index_t row(index_t step, index_t k) const;
  /// rows(k) = row(step, k) for the batch_size() slots, on the device (rows holds at least
  /// batch_size() entries).
  void fill(index_t step, const View1<index_t>& rows) const;

private:
  std::uint64_t m_seed = 0;
  index_t m_batch = 0;
  bool m_group_weighted = false;
  std::vector<index_t> m_offsets; ///< K+1 global offsets
  std::vector<int> m_present;     ///< non-empty groups (group-weighted draws)
  View1<index_t> m_offsets_dev;
  View1<int> m_present_dev;
};

/// The MLP's passes over the N training rows: slot s of stream `stream` is row
/// perm_e(s mod N) of epoch e = s / N, where perm_e sorts the rows by (hash(seed, stream, e, r),
/// r). The permutations are built on the device (a bin sort by the hash's leading bits, exact
/// order within bins) and the ones in use are kept.
class EpochPermutations {
public:
  EpochPermutations() = default;
  EpochPermutations(std::uint64_t seed, index_t total);

  /// rows(s - first_slot) = the row of slot s, for s in [first_slot, first_slot + size).
  void fill(std::uint64_t stream, std::int64_t first_slot, index_t size,
            const View1<index_t>& rows);
  /// The permutation of (stream, epoch) on the device (built on first use).
  View1<const index_t> permutation(std::uint64_t stream, std::int64_t epoch);

private:
  struct Entry {
    std::uint64_t stream = 0;
    std::int64_t epoch = 0;
    View1<index_t> perm;
  };
  std::uint64_t m_seed = 0;
  index_t m_total = 0;
  std::vector<Entry> m_cache; ///< the permutations of the last fill's epochs
};

/// Locates a step's draw in this rank's share. The caller writes n global rows into rows(n);
/// locate(n) sorts them ascending on the device and writes this rank's rows among them, as
/// local rows, to local() -- sorted, so grouped by piece -- with one copy of K + 3P + 1 index
/// values to the host for the per-group counts (of the whole draw, every rank) and the pieces'
/// positions in local().
class DrawLocator {
public:
  DrawLocator() = default;
  /// For the draws over `split` (its K + 1 global group offsets and this rank's pieces).
  explicit DrawLocator(const policies::PreferenceSplit& split);

  /// A buffer for n global rows (grown as needed; its contents are the caller's until locate).
  View1<index_t> rows(index_t n);
  /// Sorts rows(n)'s first n entries and locates this rank's rows among them.
  void locate(index_t n);

  /// This rank's drawn rows as local rows (local_count() of them, ascending).
  View1<const index_t> local() const { return m_local; }
  index_t local_count() const { return m_piece_offsets.back(); }
  /// Drawn rows per group, K values (the same on every rank).
  const std::vector<index_t>& group_counts() const { return m_counts; }
  /// P + 1 positions in local(): piece p's rows are local()(piece_offsets()[p] .. [p + 1] - 1).
  const std::vector<index_t>& piece_offsets() const { return m_piece_offsets; }

private:
  int m_groups = 0;
  int m_pieces = 0;
  View1<index_t> m_offsets;    ///< K + 1 global group offsets
  View1<index_t> m_piece_rows; ///< per piece: global_begin, global_end, local_begin
  View1<index_t> m_layout;     ///< K + 1 group positions, then per piece: begin, end, output
  HostView1<index_t> m_layout_host;
  View1<index_t> m_global; ///< the draw's global rows
  View1<index_t> m_local;  ///< this rank's rows among them, as local rows
  std::vector<index_t> m_counts{};
  std::vector<index_t> m_piece_offsets{0};
};

} // namespace grpo::solver
