// The control of the portability probes (tests/portability): the probes' kernels written so
// that they run on a device. Built with everything else; it must compile.
#include "core/kokkos_compat.hpp"
#include "core/views.hpp"

#include <algorithm>

namespace {

KOKKOS_INLINE_FUNCTION double device_twice(double x) { return 2.0 * x; }

class GrpoControl {
public:
  void scale(const grpo::View1<double>& v) const {
    const double factor = m_factor; // a local copy: the lambda captures no `this`
    Kokkos::parallel_for(
        "grpo::probe::control_scale", Kokkos::RangePolicy<grpo::ExecSpace>(0, v.extent(0)),
        KOKKOS_LAMBDA(const std::size_t i) { v(i) *= factor; });
  }

private:
  double m_factor = 2.0;
};

} // namespace

void grpo_probe_control(const grpo::View1<double>& v) {
  Kokkos::parallel_for(
      "grpo::probe::control", Kokkos::RangePolicy<grpo::ExecSpace>(0, v.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) {
        // constexpr std:: functions are device code (--expt-relaxed-constexpr), math through
        // grpo::math (Kokkos' device-callable overloads).
        v(i) = std::max(device_twice(v(i)), grpo::math::exp(-v(i)));
      });
  GrpoControl().scale(v);
}
