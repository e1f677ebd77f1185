#include "solver/batch_sampler.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"

#include <Kokkos_Sort.hpp>

#include <algorithm>
#include <climits>
#include <string>

namespace grpo::solver {

namespace {

using IndexRange = Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>;

/// BatchSampler's rule, on the host or the device: the global row of slot k at step t.
/// offsets: K + 1 global group offsets; present: the n_present non-empty groups.
KOKKOS_INLINE_FUNCTION index_t batch_row(std::uint64_t seed, bool group_weighted,
                                         const index_t* offsets, int groups, const int* present,
                                         int n_present, index_t step, index_t k) {
  const auto t = static_cast<std::uint64_t>(step);
  const auto slot = static_cast<std::uint64_t>(k);
  const std::uint64_t bits = rng::hash(seed, rng::kStreamBatchSlot, t, slot);
  if (!group_weighted) {
    return rng::to_index(bits, offsets[groups]);
  }
  const int g = present[rng::to_index(bits, n_present)];
  const index_t size = offsets[g + 1] - offsets[g];
  return offsets[g] +
         rng::to_index(
             rng::hash(seed, rng::kStreamBatchRow, t, static_cast<std::uint64_t>(g), slot), size);
}

template <class T>
View1<T> upload(const std::vector<T>& host, const std::string& label) {
  View1<T> v(Kokkos::view_alloc(Kokkos::WithoutInitializing, label), host.size());
  if (!host.empty()) {
    Kokkos::deep_copy(v, Kokkos::View<const T*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                             host.data(), host.size()));
  }
  return v;
}

/// Grows v to at least n entries (at least 1); the contents are not kept.
void reserve(View1<index_t>& v, index_t n, const std::string& label) {
  if (v.extent(0) < static_cast<std::size_t>(std::max<index_t>(n, 1))) {
    v = View1<index_t>(Kokkos::view_alloc(Kokkos::WithoutInitializing, label),
                       std::max<index_t>(n, 1));
  }
}

/// The bin sort's order for a permutation: bins by the hash's leading `bits` bits, then
/// (hash, row) within a bin -- the order of sorting the pairs (hash, row).
struct HashOrder {
  int bits = 1;

  template <class Keys>
  KOKKOS_INLINE_FUNCTION int bin(Keys& keys, const int& i) const {
    return static_cast<int>(keys(i) >> (64 - bits));
  }
  KOKKOS_INLINE_FUNCTION int max_bins() const { return 1 << bits; }
  template <class Keys, class I1, class I2>
  KOKKOS_INLINE_FUNCTION bool operator()(Keys& keys, I1& i1, I2& i2) const {
    return keys(i1) < keys(i2) || (keys(i1) == keys(i2) && i1 < i2);
  }
};

/// perm = the rows 0 .. n - 1 sorted by (hash(seed, stream, epoch, r), r).
void build_permutation(std::uint64_t seed, std::uint64_t stream, std::int64_t epoch, index_t n,
                       const View1<index_t>& perm) {
  Kokkos::View<std::uint64_t*, MemSpace> keys(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::permutation_keys"), n);
  const auto e = static_cast<std::uint64_t>(epoch);
  Kokkos::parallel_for(
      "grpo::solver::permutation_keys", IndexRange(0, n), KOKKOS_LAMBDA(const index_t r) {
        keys(r) = rng::hash(seed, stream, e, static_cast<std::uint64_t>(r));
      });
  // About two rows a bin: the keys are uniform, so the bins are balanced.
  int bits = 1;
  while (bits < 30 && (index_t(1) << (bits + 1)) <= n / 2) {
    ++bits;
  }
  using Sorter = Kokkos::BinSort<decltype(keys), HashOrder>;
  Sorter sorter(keys, 0, static_cast<int>(n), HashOrder{bits}, true);
  sorter.create_permute_vector();
  const auto order = sorter.get_permute_vector();
  Kokkos::parallel_for(
      "grpo::solver::permutation", IndexRange(0, n),
      KOKKOS_LAMBDA(const index_t k) { perm(k) = static_cast<index_t>(order(k)); });
}

/// rows(s - first) = perm(s - base) for the slots s in [begin, end).
void copy_slots(const View1<const index_t>& perm, std::int64_t base, std::int64_t first,
                std::int64_t begin, std::int64_t end, const View1<index_t>& rows) {
  Kokkos::parallel_for(
      "grpo::solver::draw_pass", IndexRange(begin, end),
      KOKKOS_LAMBDA(const index_t s) { rows(s - first) = perm(s - base); });
}

/// First position in sorted(0 .. n - 1) holding a value >= v.
KOKKOS_INLINE_FUNCTION index_t lower_bound(const View1<index_t>& sorted, index_t n, index_t v) {
  index_t lo = 0;
  index_t hi = n;
  while (lo < hi) {
    const index_t mid = lo + (hi - lo) / 2;
    if (sorted(mid) < v) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/// One pass (a single iteration: K + 2P binary searches) that writes layout = the positions of
/// the K + 1 group offsets in sorted, then per piece p: the positions of its first and past-last
/// global rows and its rows' offset in the rank's output.
void find_layout(const View1<index_t>& sorted, index_t n, const View1<index_t>& offsets, int groups,
                 const View1<index_t>& piece_rows, int pieces, const View1<index_t>& layout) {
  Kokkos::parallel_for(
      "grpo::solver::draw_layout", Kokkos::RangePolicy<ExecSpace>(0, 1), KOKKOS_LAMBDA(int) {
        for (int g = 0; g <= groups; ++g) {
          layout(g) = lower_bound(sorted, n, offsets(g));
        }
        index_t out = 0;
        for (int p = 0; p < pieces; ++p) {
          const index_t begin = lower_bound(sorted, n, piece_rows(3 * p));
          const index_t end = lower_bound(sorted, n, piece_rows(3 * p + 1));
          layout(groups + 1 + 3 * p) = begin;
          layout(groups + 2 + 3 * p) = end;
          layout(groups + 3 + 3 * p) = out;
          out += end - begin;
        }
      });
}

/// local(out_p + i - begin_p) = local_begin_p + sorted(i) - global_begin_p for the positions i
/// of piece p's rows.
void scatter_local(const View1<index_t>& sorted, index_t n, const View1<index_t>& piece_rows,
                   int pieces, const View1<index_t>& layout, int groups,
                   const View1<index_t>& local) {
  Kokkos::parallel_for(
      "grpo::solver::draw_local", IndexRange(0, n), KOKKOS_LAMBDA(const index_t i) {
        const index_t r = sorted(i);
        // The last piece whose first global row is <= r (pieces ascend in global rows).
        int lo = 0;
        int hi = pieces;
        while (lo < hi) {
          const int mid = lo + (hi - lo) / 2;
          if (piece_rows(3 * mid) <= r) {
            lo = mid + 1;
          } else {
            hi = mid;
          }
        }
        const int p = lo - 1;
        if (p >= 0 && r < piece_rows(3 * p + 1)) {
          local(layout(groups + 3 + 3 * p) + i - layout(groups + 1 + 3 * p)) =
              piece_rows(3 * p + 2) + r - piece_rows(3 * p);
        }
      });
}

} // namespace

// ---------------------------------------------------------------------------------------------

BatchSampler::BatchSampler(std::uint64_t seed, const std::vector<index_t>& offsets,
                           bool group_weighted, index_t batch_size)
    : m_seed(seed)
    , m_batch(batch_size)
    , m_group_weighted(group_weighted)
    , m_offsets(offsets) {
  for (std::size_t g = 0; g + 1 < offsets.size(); ++g) {
    if (offsets[g + 1] > offsets[g]) {
      m_present.push_back(static_cast<int>(g));
    }
  }
  m_offsets_dev = upload(m_offsets, "grpo::solver::draw_offsets");
  m_present_dev = upload(m_present, "grpo::solver::draw_groups");
}

index_t BatchSampler::row(index_t step, index_t k) const {
  return batch_row(m_seed, m_group_weighted, m_offsets.data(),
                   static_cast<int>(m_offsets.size()) - 1, m_present.data(),
                   static_cast<int>(m_present.size()), step, k);
}

void BatchSampler::fill(index_t step, const View1<index_t>& rows) const {
  const std::uint64_t seed = m_seed;
  const bool weighted = m_group_weighted;
  const View1<index_t> offsets = m_offsets_dev;
  const View1<int> present = m_present_dev;
  const int groups = static_cast<int>(m_offsets.size()) - 1;
  const int n_present = static_cast<int>(m_present.size());
  Kokkos::parallel_for(
      "grpo::solver::draw_batch", IndexRange(0, m_batch), KOKKOS_LAMBDA(const index_t k) {
        rows(k) =
            batch_row(seed, weighted, offsets.data(), groups, present.data(), n_present, step, k);
      });
}

// ---------------------------------------------------------------------------------------------

EpochPermutations::EpochPermutations(std::uint64_t seed, index_t total)
    : m_seed(seed)
    , m_total(total) {
  if (total > INT_MAX) {
    // Kokkos::BinSort numbers its keys with int.
    throw DataError("the training split has " + std::to_string(total) +
                    " pairs; the MLP's passes over it hold at most " + std::to_string(INT_MAX));
  }
}

View1<const index_t> EpochPermutations::permutation(std::uint64_t stream, std::int64_t epoch) {
  for (const auto& e : m_cache) {
    if (e.stream == stream && e.epoch == epoch) {
      return e.perm;
    }
  }
  View1<index_t> perm(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::permutation"),
                      std::max<index_t>(m_total, 1));
  if (m_total > 0) {
    build_permutation(m_seed, stream, epoch, m_total, perm);
  }
  m_cache.push_back(Entry{stream, epoch, perm});
  return perm;
}

void EpochPermutations::fill(std::uint64_t stream, std::int64_t first_slot, index_t size,
                             const View1<index_t>& rows) {
  if (size <= 0 || m_total <= 0) {
    return;
  }
  const std::int64_t end = first_slot + size;
  const std::int64_t first_epoch = first_slot / m_total;
  const std::int64_t last_epoch = (end - 1) / m_total;
  for (std::int64_t e = first_epoch; e <= last_epoch; ++e) {
    const std::int64_t base = e * m_total;
    copy_slots(permutation(stream, e), base, first_slot, std::max(first_slot, base),
               std::min(end, base + m_total), rows);
  }
  // Keep the permutations of this draw's epochs only: the next draw starts in the last one.
  m_cache.erase(std::remove_if(m_cache.begin(), m_cache.end(),
                               [&](const Entry& e) {
                                 return e.stream != stream || e.epoch < first_epoch ||
                                        e.epoch > last_epoch;
                               }),
                m_cache.end());
}

// ---------------------------------------------------------------------------------------------

DrawLocator::DrawLocator(const policies::PreferenceSplit& split)
    : m_groups(static_cast<int>(split.offsets.size()) - 1)
    , m_pieces(static_cast<int>(split.pieces.size())) {
  m_offsets = upload(split.offsets, "grpo::solver::draw_group_offsets");
  std::vector<index_t> rows;
  for (const auto& piece : split.pieces) {
    rows.insert(rows.end(), {piece.global_begin, piece.global_end, piece.local_begin});
  }
  m_piece_rows = upload(rows, "grpo::solver::draw_pieces");
  const std::size_t size = split.offsets.size() + 3 * split.pieces.size();
  m_layout = View1<index_t>("grpo::solver::draw_layout", size);
  m_layout_host = HostView1<index_t>("grpo::solver::draw_layout_host", size);
  m_counts.assign(static_cast<std::size_t>(m_groups), 0);
  m_piece_offsets.assign(static_cast<std::size_t>(m_pieces) + 1, 0);
}

View1<index_t> DrawLocator::rows(index_t n) {
  reserve(m_global, n, "grpo::solver::draw_rows");
  return m_global;
}

void DrawLocator::locate(index_t n) {
  reserve(m_global, n, "grpo::solver::draw_rows");
  if (n > 1) {
    Kokkos::sort(Kokkos::subview(m_global, std::make_pair(index_t(0), n)));
  }
  find_layout(m_global, n, m_offsets, m_groups, m_piece_rows, m_pieces, m_layout);
  Kokkos::deep_copy(m_layout_host, m_layout);
  for (int g = 0; g < m_groups; ++g) {
    m_counts[g] = m_layout_host(g + 1) - m_layout_host(g);
  }
  index_t total = 0;
  for (int p = 0; p < m_pieces; ++p) {
    m_piece_offsets[p] = m_layout_host(m_groups + 3 + 3 * p);
    total = m_piece_offsets[p] + m_layout_host(m_groups + 2 + 3 * p) -
            m_layout_host(m_groups + 1 + 3 * p);
  }
  m_piece_offsets[m_pieces] = total;
  reserve(m_local, total, "grpo::solver::draw_local");
  scatter_local(m_global, n, m_piece_rows, m_pieces, m_layout, m_groups, m_local);
}

} // namespace grpo::solver
