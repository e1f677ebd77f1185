// Must not compile for CUDA: a kernel written as a plain lambda instead of KOKKOS_LAMBDA
// (tests/portability).
#include "core/views.hpp"

void grpo_probe(const grpo::View1<double>& v) {
  Kokkos::parallel_for("grpo::probe::plain_lambda",
                       Kokkos::RangePolicy<grpo::ExecSpace>(0, v.extent(0)),
                       [=](const std::size_t i) { v(i) = 1.0; });
}
