// The fused loss/gradient pass of the log-linear step (ALGORITHM.md §2.2 steps 2-7): one read of
// the features yields, for every local group piece, the loss sum and the gradient sum together.
//
// Work is cut into chunks of rows that never straddle a piece. Kernel 1 reduces each chunk into
// a row of a small scratch array (no temporaries of size N, no atomics); kernel 2 adds the
// chunks of each piece in order, so sums are deterministic. On the host, rows are processed in
// blocks of 32: margins (8 independent partial sums per row), the loss and its slope eight rows
// at a time (branch-free; AVX-512 exp and log1p where available), then the gradient update;
// features of a block are still in L1 for the last pass, and the next 64 KiB of features are
// prefetched. Feature dimensions 1, 2, 4, 8, 16, 32, 64 are compiled with
// fixed trip counts (accumulators in registers); others use a generic path. On a device
// (TeamChunkKernel) a team of threads shares a chunk, rows interleaved over its threads so that
// reads of the LayoutLeft features are coalesced, and adds its threads' sums in a fixed order.
//
// The run axis: one pass serves R runs (an ensemble: MinimaxSolver::step_runs) with parameters
// and loss parameters of their own over the same rows. On the host, for d = 8, 16, 32, 64, runs
// go eight at a time as the lanes of vectors (HostTileKernel: the margins of eight runs are a row
// times a d x 8 matrix) and each block of rows is read once for all of them; every other run
// (the rest of R / 8, any run on a device or of another d) is a launch of the one-run kernels,
// the same machine code for a run alone and in an ensemble. Every run's sums are formed by the
// same operations in the same order as when it is alone, so a run's bits do not depend on its
// siblings (tests/solver/test_ensemble.cpp). A single run is the ensemble of one.
#pragma once

#include "core/views.hpp"
#include "policies/log_linear_policy.hpp"
#include "policies/preference_batch.hpp"
#include "solver/losses.hpp"

#include <type_traits>
#include <vector>

namespace grpo::solver {

class FusedLossGradient {
public:
  /// The per-piece sums, [pieces][width], row-major on every backend: a row's gradient sums
  /// are contiguous (callers take &sums(p, 1) as a pointer to d values).
  using Sums = Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>;
  /// Host copy of the per-piece sums.
  using HostSums = Sums::HostMirror;
  static_assert(std::is_same<HostSums::array_layout, Kokkos::LayoutRight>::value,
                "a piece's gradient sums must be contiguous on the host");

  /// The parameters of R runs, [R][d], run-major (a run's d values contiguous).
  using Thetas = Kokkos::View<const double**, Kokkos::LayoutRight, MemSpace>;

  FusedLossGradient() = default;

  /// The loss functor's parameter of a run (DpoLoss::m_beta, IpoLoss::m_target) for `beta`.
  static double loss_parameter(LossType loss, double beta);

  /// R runs at once over every row of `split`: host array [pieces][R (1 + d)]; run r's loss sum
  /// is column r (1 + d) and its gradient sums follow (without `with_gradient`: only the loss
  /// columns are set). `params` holds the R loss parameters (loss_parameter).
  HostSums full_runs(const Thetas& thetas, const std::vector<double>& params,
                     const policies::PreferenceSplit& split, LossType loss, bool with_gradient);
  /// The step's pass of R runs over every row: as step_full for each run. Returns the R x pieces
  /// loss sums, run-major; combine(..., run) forms run r's weighted sums.
  const std::vector<double>& step_full_runs(const Thetas& thetas, const std::vector<double>& params,
                                            const policies::PreferenceSplit& split, LossType loss);

  /// Loss sums (and, with `with_gradient`, gradient sums) of every piece of `split` over all its
  /// rows. Returns a host array [pieces][1 + d] (or [pieces][1]): column 0 is the loss sum.
  HostSums full(const policies::LogLinearPolicy& policy, const policies::PreferenceSplit& split,
                LossType loss, double beta, bool with_gradient);

  /// The same over a batch: `rows` holds local row indices sorted ascending (duplicates allowed)
  /// and `piece_offsets[p] .. piece_offsets[p+1]` are the positions that belong to piece p.
  HostSums batch(const policies::LogLinearPolicy& policy, const policies::PreferenceSplit& split,
                 LossType loss, double beta, const Kokkos::View<const index_t*, MemSpace>& rows,
                 const std::vector<index_t>& piece_offsets);

  /// The step's pass over every row: as full() with the gradient, but the gradient sums stay
  /// on the device for combine(); returns the pieces' loss sums (the only values copied back).
  const std::vector<double>& step_full(const policies::LogLinearPolicy& policy,
                                       const policies::PreferenceSplit& split, LossType loss,
                                       double beta);
  /// The same over a batch (the rows and offsets of batch()).
  const std::vector<double>& step_batch(const policies::LogLinearPolicy& policy,
                                        const policies::PreferenceSplit& split, LossType loss,
                                        double beta,
                                        const Kokkos::View<const index_t*, MemSpace>& rows,
                                        const std::vector<index_t>& piece_offsets);
  /// Weighted sums of the last step pass's gradient sums, on the device: with P pieces,
  /// `coef_use` holds `rows` rows of 2P values, the coefficients c(r, p) and then flags u(r, p)
  /// (1 or 0), and out[r d + j] = the sum over p = 0, 1, ... with u(r, p) = 1 of
  /// c(r, p) G_p[j], accumulated in that order from 0 (the host loop's bits). Copies rows 2P
  /// values to the device and rows d values back.
  /// `run`: which run of the last pass (0 for a pass of one run).
  void combine(const std::vector<double>& coef_use, int rows, std::vector<double>& out,
               int run = 0);

  /// Rows per chunk (a chunk is the unit of parallel work).
  static index_t chunk_rows();

private:
  /// The pass itself: per-piece sums into m_piece_sums (device), copied to the host mirror
  /// when `to_host`.
  HostSums run(const Thetas& thetas, const std::vector<double>& params,
               const policies::PreferenceSplit& split, LossType loss, bool with_gradient,
               const Kokkos::View<const index_t*, MemSpace>* rows,
               const std::vector<index_t>& piece_begin, const std::vector<index_t>& piece_end,
               bool to_host);
  /// The one-run form of run() for `policy` and `beta`.
  HostSums run_one(const policies::LogLinearPolicy& policy, const policies::PreferenceSplit& split,
                   LossType loss, double beta, bool with_gradient,
                   const Kokkos::View<const index_t*, MemSpace>* rows,
                   const std::vector<index_t>& piece_begin, const std::vector<index_t>& piece_end,
                   bool to_host);
  /// Copies the loss columns of m_piece_sums to m_losses (run-major).
  const std::vector<double>& copy_losses();
  /// Cuts [piece_begin[p], piece_end[p]) into chunks; reuses the last layout when unchanged.
  void layout(const std::vector<index_t>& piece_begin, const std::vector<index_t>& piece_end);

  View1<index_t> m_chunk_begin;
  View1<index_t> m_chunk_end;
  View1<index_t> m_piece_chunks; ///< pieces + 1 offsets into the chunk list
  using Partials = Kokkos::View<double***, Kokkos::LayoutRight, MemSpace>;
  Partials m_partial;              ///< [runs][chunks][1 + d]
  Sums m_piece_sums;               ///< [pieces][runs (1 + d)]
  int m_runs = 0;                  ///< runs of the last pass
  int m_dim = 0;                   ///< d of the last pass
  View1<double> m_params_dev;      ///< the runs' loss parameters
  std::vector<double> m_params;    ///< host copy of m_params_dev (copied only when it changes)
  std::vector<double> m_one_param; ///< run_one's parameter
  HostSums m_piece_sums_host;
  View1<double> m_losses_dev;          ///< [runs][pieces], the loss columns packed for one copy
  std::vector<double> m_losses;        ///< host copy of the loss sums of the last step pass
  Sums m_coef;                         ///< [rows][2 pieces] of combine()
  Sums m_combined;                     ///< [rows][d] of combine()
  std::vector<index_t> m_layout_begin; ///< the piece ranges of the current layout
  std::vector<index_t> m_layout_end;
  index_t m_num_chunks = 0;
};

} // namespace grpo::solver
