// Must not compile for CUDA: a KOKKOS_LAMBDA inside a private member function (nvcc needs the
// enclosing function of an extended lambda to be accessible; tests/portability).
#include "core/views.hpp"

class GrpoProbe {
public:
  void run(const grpo::View1<double>& v) const { fill(v); }

private:
  void fill(const grpo::View1<double>& v) const {
    Kokkos::parallel_for(
        "grpo::probe::private_member", Kokkos::RangePolicy<grpo::ExecSpace>(0, v.extent(0)),
        KOKKOS_LAMBDA(const std::size_t i) { v(i) = 1.0; });
  }
};

void grpo_probe(const grpo::View1<double>& v) { GrpoProbe().run(v); }
