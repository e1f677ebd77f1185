// Which rows of a split a batch uses (RowSelection), shared by every policy's margins and
// gradients, with the front-end checks of a batch's shapes: feature columns against the policy's
// input dimension, and batch rows against the table (counted on the device for an index).
#pragma once

#include "core/error.hpp"
#include "core/views.hpp"

#include <string>

namespace grpo::policies {

/// Feature table: [rows, d] float32 on the device, any layout (PreferenceSplit's views convert).
using FeatureView = Kokkos::View<const float**, MemSpace>;

/// Which rows of a table a batch uses: the rows index(offset + i) when `index` is set, otherwise
/// the contiguous rows offset + i, for i = 0 .. count - 1. Batch position i is row i of every
/// per-batch output (scores, margins, log-probs) and coefficient input.
struct RowSelection {
  View1<const index_t> index;
  index_t offset = 0;
  index_t count = 0;
  bool indexed = false;

  /// Rows begin .. begin + count - 1.
  static RowSelection range(index_t begin, index_t count);
  /// Rows index(0) .. index(count - 1); count defaults to the whole View.
  static RowSelection rows(const View1<const index_t>& index, index_t count = -1);
  /// Batch positions begin .. begin + n - 1 of this selection.
  RowSelection slice(index_t begin, index_t n) const;
};

namespace detail {

/// Batch position -> table row, on the device.
struct RowMap {
  View1<const index_t> m_index;
  index_t m_offset = 0;
  bool m_indexed = false;
  explicit RowMap(const RowSelection& s)
      : m_index(s.index)
      , m_offset(s.offset)
      , m_indexed(s.indexed) {}
  KOKKOS_INLINE_FUNCTION index_t operator()(index_t i) const {
    return m_indexed ? m_index(m_offset + i) : m_offset + i;
  }
};

/// Number of batch positions whose row lies outside [0, rows).
inline index_t count_out_of_range(const ExecSpace& space, const RowSelection& sel, index_t rows) {
  if (!sel.indexed || sel.count == 0) {
    return (sel.offset < 0 || sel.offset + sel.count > rows) ? sel.count : 0;
  }
  const RowMap map(sel);
  index_t bad = 0;
  Kokkos::parallel_reduce(
      "grpo::policies::check_rows",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, sel.count),
      KOKKOS_LAMBDA(const index_t i, index_t& n) {
        const index_t r = map(i);
        n += (r < 0 || r >= rows) ? 1 : 0;
      },
      bad);
  return bad;
}

inline void check_rows(const ExecSpace& space, const RowSelection& sel, index_t rows,
                       const char* what) {
  if (sel.count < 0) {
    throw InternalError(std::string(what) + ": negative batch size " + std::to_string(sel.count));
  }
  const index_t bad = count_out_of_range(space, sel, rows);
  if (bad != 0) {
    throw InternalError(std::string(what) + ": " + std::to_string(bad) + " of " +
                        std::to_string(sel.count) + " batch rows lie outside the table of " +
                        std::to_string(rows) + " rows");
  }
}

inline void check_features(const FeatureView& features, int dim, const char* what) {
  if (static_cast<int>(features.extent(1)) != dim && features.extent(0) != 0) {
    throw InternalError(std::string(what) + ": features have " +
                        std::to_string(features.extent(1)) + " columns, the policy expects " +
                        std::to_string(dim));
  }
}

} // namespace detail

} // namespace grpo::policies
