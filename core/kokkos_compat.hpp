// The one place that hides differences between Kokkos versions (3.4 .. 4.x).
#pragma once

#include <Kokkos_Core.hpp>

#include <string>

#ifndef KOKKOS_VERSION
#error "Kokkos_Core.hpp must define KOKKOS_VERSION"
#endif

#if KOKKOS_VERSION < 40000
/// Kokkos 3 requires `volatile` join arguments for custom reductions; Kokkos 4 drops them.
#define GRPO_REDUCE_VOLATILE volatile
#else
#define GRPO_REDUCE_VOLATILE
#endif

namespace grpo::core {

/// Name of the default execution space (e.g. "Serial", "OpenMP", "Cuda").
inline std::string kokkos_backend_name() { return Kokkos::DefaultExecutionSpace::name(); }

/// Kokkos version as "major.minor.patch".
inline std::string kokkos_version_string() {
  return std::to_string(KOKKOS_VERSION / 10000) + "." + std::to_string(KOKKOS_VERSION / 100 % 100) +
         "." + std::to_string(KOKKOS_VERSION % 100);
}

/// RAII profiling region (shows up in Kokkos tools as a named phase).
class ProfilingRegion {
public:
  explicit ProfilingRegion(const std::string& name) { Kokkos::Profiling::pushRegion(name); }
  ~ProfilingRegion() { Kokkos::Profiling::popRegion(); }
  ProfilingRegion(const ProfilingRegion&) = delete;
  ProfilingRegion& operator=(const ProfilingRegion&) = delete;
};

} // namespace grpo::core

namespace grpo::math {
// Device-callable math: Kokkos 3.x keeps these in Kokkos::Experimental, Kokkos 4 in Kokkos.
#if KOKKOS_VERSION < 40000
using Kokkos::Experimental::exp;
using Kokkos::Experimental::log;
using Kokkos::Experimental::sqrt;
#else
using Kokkos::exp;
using Kokkos::log;
using Kokkos::sqrt;
#endif
} // namespace grpo::math
