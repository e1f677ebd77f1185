// Must not compile for CUDA: a kernel calls a std:: function that exists on the host only
// (tests/portability).
#include "core/views.hpp"

#include <string>

void grpo_probe(const grpo::View1<double>& v) {
  Kokkos::parallel_for(
      "grpo::probe::std_call", Kokkos::RangePolicy<grpo::ExecSpace>(0, v.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) { v(i) = static_cast<double>(std::to_string(i).size()); });
}
