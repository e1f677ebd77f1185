// Fused loss/gradient kernels: one pass over a group piece yields the loss sum and the gradient
// sum together (ALGORITHM.md §2.2 steps 2-7). The row map selects full-batch rows or the rows of
// a counter-based mini-batch draw; rows that another rank owns are skipped.
#pragma once

#include "core/kokkos_compat.hpp"
#include "core/rng.hpp"
#include "core/views.hpp"
#include "solver/array_sum.hpp"

namespace grpo::solver {

/// Full batch: local rows begin, begin+1, ...
struct ContiguousRows {
  index_t m_begin;
  KOKKOS_INLINE_FUNCTION index_t operator()(index_t k) const { return m_begin + k; }
};

/// Mini-batch: slot k of the step's draw maps to global row rows(k); only rows inside this
/// piece's global range count (others belong to other pieces or ranks).
struct SampledRows {
  Kokkos::View<const index_t*, MemSpace> m_rows;
  index_t m_global_begin; ///< of the piece
  index_t m_global_end;
  index_t m_local_begin;
  KOKKOS_INLINE_FUNCTION index_t operator()(index_t k) const {
    const index_t row = m_rows(k);
    if (row < m_global_begin || row >= m_global_end) {
      return -1;
    }
    return m_local_begin + (row - m_global_begin);
  }
};

/// sums[0] += loss_i, sums[1 + j] += dloss/dtheta_j (if with_gradient), over k in the range.
template <class Margins, class Loss, class RowMap>
struct LossGradientSums : ArraySum {
  Margins m_margins;
  Loss m_loss;
  RowMap m_rows;
  bool m_with_gradient;

  LossGradientSums(Margins margins, Loss loss, RowMap rows, int dim, bool with_gradient)
      : ArraySum{static_cast<unsigned>(with_gradient ? dim + 1 : 1)}
      , m_margins(margins)
      , m_loss(loss)
      , m_rows(rows)
      , m_with_gradient(with_gradient) {}

  KOKKOS_INLINE_FUNCTION void operator()(const index_t k, value_type sums) const {
    const index_t i = m_rows(k);
    if (i < 0) {
      return;
    }
    double value = 0.0;
    double slope = 0.0;
    m_loss(m_margins.margin(i), value, slope);
    sums[0] += value;
    if (m_with_gradient) {
      m_margins.add_gradient(i, slope, sums + 1);
    }
  }
};

/// Runs LossGradientSums over k in [0, count) into the host array `out` (value_count entries).
template <class ExecutionSpace, class Margins, class Loss, class RowMap>
void reduce_loss_gradient(const ExecutionSpace& space, const char* label, Margins margins,
                          Loss loss, RowMap rows, index_t count, int dim, bool with_gradient,
                          double* out) {
  LossGradientSums<Margins, Loss, RowMap> functor(margins, loss, rows, dim, with_gradient);
  if (count <= 0) {
    functor.init(out);
    return;
  }
  Kokkos::parallel_reduce(
      label, Kokkos::RangePolicy<ExecutionSpace, Kokkos::IndexType<index_t>>(space, 0, count),
      functor, out);
}

} // namespace grpo::solver
