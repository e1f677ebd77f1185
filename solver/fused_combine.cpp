// The step's side of the fused pass (FusedLossGradient::step_full, step_batch, combine): the
// per-piece gradient sums stay on the device, only the loss column comes back, and the weighted
// sums that the step needs are formed there. In a file of its own so that the pass's kernels in
// fused_kernel.cpp compile exactly as before (their SIMD reductions' order is the compiler's).
#include "core/error.hpp"
#include "solver/fused_kernel.hpp"

#include <string>

namespace grpo::solver {

namespace {

/// losses(r pieces + p) = sums(p, r stride): the runs' loss columns, packed for one copy to the
/// host.
void pack_losses(const FusedLossGradient::Sums& sums, const View1<double>& losses, index_t pieces,
                 int runs, int stride) {
  Kokkos::parallel_for(
      "grpo::solver::fused::losses",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), 0, pieces * runs),
      KOKKOS_LAMBDA(const index_t k) {
        const index_t r = k / pieces;
        const index_t p = k % pieces;
        losses(k) = sums(p, r * stride);
      });
}

/// out(r, j) = the sum over p = 0, 1, ... with coef(r, pieces + p) != 0 of
/// coef(r, p) sums(p, first + j), from 0 in that order (first: the run's first gradient column). A
/// team per row r, its threads over j: piece rows are read in order and contiguously (coalesced on
/// a device, cache lines on a host).
void combine_pieces(const FusedLossGradient::Sums& sums, const FusedLossGradient::Sums& coef,
                    const FusedLossGradient::Sums& out, index_t pieces, int dim, int rows,
                    int first) {
  using Policy = Kokkos::TeamPolicy<ExecSpace>;
  Kokkos::parallel_for(
      "grpo::solver::fused::combine", Policy(ExecSpace(), rows, Kokkos::AUTO),
      KOKKOS_LAMBDA(const Policy::member_type& team) {
        const int r = team.league_rank();
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, dim),
                             [&](const int j) { out(r, j) = 0.0; });
        for (index_t p = 0; p < pieces; ++p) {
          if (coef(r, pieces + p) != 0.0) {
            const double c = coef(r, p);
            // Thread t always owns the same columns j, so no barrier is needed between pieces.
            Kokkos::parallel_for(Kokkos::TeamThreadRange(team, dim),
                                 [&](const int j) { out(r, j) += c * sums(p, first + j); });
          }
        }
      });
}

std::vector<index_t> piece_begins(const policies::PreferenceSplit& split) {
  std::vector<index_t> begin;
  for (const auto& piece : split.pieces) {
    begin.push_back(piece.local_begin);
  }
  return begin;
}

std::vector<index_t> piece_ends(const policies::PreferenceSplit& split) {
  std::vector<index_t> end;
  for (const auto& piece : split.pieces) {
    end.push_back(piece.local_begin + piece.size());
  }
  return end;
}

} // namespace

const std::vector<double>& FusedLossGradient::step_full(const policies::LogLinearPolicy& policy,
                                                        const policies::PreferenceSplit& split,
                                                        LossType loss, double beta) {
  run_one(policy, split, loss, beta, true, nullptr, piece_begins(split), piece_ends(split), false);
  return copy_losses();
}

const std::vector<double>& FusedLossGradient::step_full_runs(const Thetas& thetas,
                                                             const std::vector<double>& params,
                                                             const policies::PreferenceSplit& split,
                                                             LossType loss) {
  run(thetas, params, split, loss, true, nullptr, piece_begins(split), piece_ends(split), false);
  return copy_losses();
}

const std::vector<double>&
FusedLossGradient::step_batch(const policies::LogLinearPolicy& policy,
                              const policies::PreferenceSplit& split, LossType loss, double beta,
                              const Kokkos::View<const index_t*, MemSpace>& rows,
                              const std::vector<index_t>& piece_offsets) {
  const std::vector<index_t> begin(piece_offsets.begin(), piece_offsets.end() - 1);
  const std::vector<index_t> end(piece_offsets.begin() + 1, piece_offsets.end());
  run_one(policy, split, loss, beta, true, &rows, begin, end, false);
  return copy_losses();
}

const std::vector<double>& FusedLossGradient::copy_losses() {
  const auto pieces = static_cast<index_t>(m_piece_sums.extent(0));
  const auto count = static_cast<std::size_t>(pieces) * m_runs;
  if (m_losses_dev.extent(0) != count) {
    m_losses_dev = View1<double>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::fused::losses"), count);
  }
  pack_losses(m_piece_sums, m_losses_dev, pieces, m_runs, m_dim + 1);
  m_losses.resize(count);
  Kokkos::deep_copy(HostView1<double>(m_losses.data(), m_losses.size()), m_losses_dev);
  return m_losses;
}

void FusedLossGradient::combine(const std::vector<double>& coef_use, int rows,
                                std::vector<double>& out, int run) {
  const auto pieces = static_cast<index_t>(m_piece_sums.extent(0));
  const int dim = m_dim;
  if (rows < 1 || run < 0 || run >= m_runs ||
      coef_use.size() != static_cast<std::size_t>(rows) * 2 * pieces) {
    throw InternalError("FusedLossGradient::combine: " + std::to_string(coef_use.size()) +
                            " coefficients for " + std::to_string(rows) + " rows of " +
                            std::to_string(pieces) + " pieces (run " + std::to_string(run) +
                            " of " + std::to_string(m_runs) + ")",
                        false);
  }
  if (m_coef.extent(0) != static_cast<std::size_t>(rows) ||
      m_coef.extent(1) != static_cast<std::size_t>(2 * pieces)) {
    m_coef = Sums(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::fused::coef"),
                  rows, 2 * pieces);
  }
  if (m_combined.extent(0) != static_cast<std::size_t>(rows) ||
      m_combined.extent(1) != static_cast<std::size_t>(dim)) {
    m_combined =
        Sums(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::fused::combined"), rows,
             dim);
  }
  using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
  using HostRows = Kokkos::View<double**, Kokkos::LayoutRight, HostSpace, Unmanaged>;
  using ConstHostRows = Kokkos::View<const double**, Kokkos::LayoutRight, HostSpace, Unmanaged>;
  Kokkos::deep_copy(m_coef, ConstHostRows(coef_use.data(), rows, 2 * pieces));
  combine_pieces(m_piece_sums, m_coef, m_combined, pieces, dim, rows, run * (dim + 1) + 1);
  out.resize(static_cast<std::size_t>(rows) * dim);
  Kokkos::deep_copy(HostRows(out.data(), rows, dim), m_combined);
}

} // namespace grpo::solver
