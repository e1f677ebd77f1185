// ArraySum: the init/join half of a Kokkos reduction into a runtime-length array of doubles
// (value_type double[], value_count entries). Kernels that sum several quantities at once derive
// from it and supply only operator().
#pragma once

#include "core/kokkos_compat.hpp"

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

} // namespace grpo::solver
