// ArraySum: the init/join half of a Kokkos reduction into a runtime-length array of doubles
// (value_type double[], value_count entries). Kernels that sum several quantities at once derive
// from it and supply only operator()(i, sums).
//
// array_reduce(label, functor, n, result) runs such a functor over [0, n):
// - on a host execution space, one Kokkos::parallel_reduce;
// - on a device, where Kokkos keeps a reduction's value in each thread's registers and in the
//   block's shared memory and aborts when hundreds of doubles do not fit (the d^2 + d + 1 sums
//   of the GR-IPO statistics, the Hessian sums of the gap certificate), each thread sums a run
//   of consecutive i into its own row of a scratch array, and the rows are added in order on
//   the host. Both are deterministic for a given build.
#pragma once

#include "core/kokkos_compat.hpp"
#include "core/views.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

namespace grpo::solver {

struct ArraySum {
  using value_type = double[];
  using size_type = unsigned;
  unsigned value_count = 0;

  KOKKOS_INLINE_FUNCTION void init(value_type sums) const {
    for (unsigned j = 0; j < value_count; ++j) {
      sums[j] = 0.0;
    }
  }

  KOKKOS_INLINE_FUNCTION void join(GRPO_REDUCE_VOLATILE value_type dst,
                                   const GRPO_REDUCE_VOLATILE value_type src) const {
    for (unsigned j = 0; j < value_count; ++j) {
      dst[j] += src[j];
    }
  }
};

namespace detail {

/// Thread c sums functor(i) over i in [c * rows, min((c + 1) * rows, n)) into partial(c, :).
template <class Functor>
struct ArraySumRuns {
  Functor m_functor;
  Kokkos::View<double**, Kokkos::LayoutRight, MemSpace> m_partial;
  index_t m_n;
  index_t m_rows;

  KOKKOS_INLINE_FUNCTION void operator()(const index_t c) const {
    double* sums = &m_partial(c, 0);
    m_functor.init(sums);
    const index_t begin = c * m_rows;
    const index_t end = begin + m_rows < m_n ? begin + m_rows : m_n;
    for (index_t i = begin; i < end; ++i) {
      m_functor(i, sums);
    }
  }
};

} // namespace detail

/// Adds functor(i, sums) over i in [0, n) into result (functor.value_count entries, resized).
template <class Functor>
void array_reduce(const std::string& label, const Functor& functor, index_t n,
                  std::vector<double>& result) {
  const std::size_t width = functor.value_count;
  result.assign(width, 0.0);
  if (n <= 0 || width == 0) {
    return;
  }
  const Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>> all(ExecSpace(), 0, n);
  if constexpr (std::is_same<MemSpace, Kokkos::HostSpace>::value) {
    Kokkos::parallel_reduce(label, all, functor, result.data());
  } else {
    // Scratch of at most 64 MiB, at least 64 rows per thread.
    constexpr std::size_t kScratchBytes = std::size_t{64} << 20;
    const auto max_runs =
        static_cast<index_t>(std::max<std::size_t>(1, kScratchBytes / (width * sizeof(double))));
    const index_t runs = std::max<index_t>(1, std::min<index_t>((n + 63) / 64, max_runs));
    const index_t rows = (n + runs - 1) / runs;
    const index_t used = (n + rows - 1) / rows;
    Kokkos::View<double**, Kokkos::LayoutRight, MemSpace> partial(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label + "::runs"), used, width);
    Kokkos::parallel_for(label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(0, used),
                         detail::ArraySumRuns<Functor>{functor, partial, n, rows});
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), partial);
    for (index_t c = 0; c < used; ++c) {
      for (std::size_t j = 0; j < width; ++j) {
        result[j] += host(c, j);
      }
    }
  }
}

} // namespace grpo::solver
