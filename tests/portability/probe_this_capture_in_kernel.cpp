// Must not compile for CUDA: a KOKKOS_LAMBDA in a member function reads a data member, so it
// captures `this`, a host pointer on the device (STYLE.md pitfall 4; tests/portability).
#include "core/views.hpp"

class GrpoProbe {
public:
  void scale(const grpo::View1<double>& v) const {
    Kokkos::parallel_for(
        "grpo::probe::this_capture", Kokkos::RangePolicy<grpo::ExecSpace>(0, v.extent(0)),
        KOKKOS_LAMBDA(const std::size_t i) { v(i) *= m_factor; });
  }

private:
  double m_factor = 2.0;
};

void grpo_probe(const grpo::View1<double>& v) { GrpoProbe().scale(v); }
