// View aliases shared by every layer: device Views in the default memory space, and the explicit
// host layouts handed to HDF5 and MPI.
#pragma once

#include <Kokkos_Core.hpp>

#include <cstdint>

namespace grpo {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;
using HostSpace = Kokkos::HostSpace;

/// Index type for samples (N may exceed 2^31).
using index_t = std::int64_t;

template <class T>
using View1 = Kokkos::View<T*, MemSpace>;
template <class T>
using View2 = Kokkos::View<T**, MemSpace>;
template <class T>
using View4 = Kokkos::View<T****, MemSpace>;

/// Contiguous row-major host buffers for I/O boundaries (HDF5, MPI).
template <class T>
using HostView1 = Kokkos::View<T*, Kokkos::LayoutRight, HostSpace>;
template <class T>
using HostView2 = Kokkos::View<T**, Kokkos::LayoutRight, HostSpace>;

} // namespace grpo
