// Must not compile for CUDA: a kernel calls a host-only function (tests/portability).
#include "core/views.hpp"

namespace {
double host_only(double x) { return 2.0 * x; }
} // namespace

void grpo_probe(const grpo::View1<double>& v) {
  Kokkos::parallel_for(
      "grpo::probe::host_function", Kokkos::RangePolicy<grpo::ExecSpace>(0, v.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) { v(i) = host_only(v(i)); });
}
