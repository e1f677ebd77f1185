# Finds Kokkos (GrpoFindKokkos.cmake) and wraps it in grpo::kokkos. Kokkos::kokkos is an
# IMPORTED target, so its include directories are SYSTEM: Kokkos headers never trip our warnings.
# KokkosKernels, when found, is linked too and GRPO_HAVE_KOKKOSKERNELS (core/config.hpp) says so;
# without it the MLP policy falls back to its own (slower) matrix products.
option(GRPO_ENABLE_KOKKOSKERNELS "Use KokkosKernels BLAS (gemm) when it is installed" ON)
include(GrpoFindKokkos)

if(GRPO_REQUIRE_KOKKOS_DEVICES)
  kokkos_check(DEVICES ${GRPO_REQUIRE_KOKKOS_DEVICES})
endif()

# Against a CUDA Kokkos (CMAKE_CXX_COMPILER = its nvcc_wrapper), a kernel that could not run on
# the device must not compile: calling a host function from a KOKKOS_FUNCTION or KOKKOS_LAMBDA
# (nvcc's cross-execution-space-call warnings) and capturing `this` in a KOKKOS_LAMBDA (a host
# pointer on the device) are errors in grpo's own code, with or without GRPO_ENABLE_WERROR.
# Host code that runs Kokkos kernels in a lambda it defines (a lambda without KOKKOS_LAMBDA)
# and device code calling non-constexpr std:: functions fail as they do with plain nvcc;
# tests/portability/ holds one probe of each kind that must not compile (CTest label
# `portability`). constexpr functions (std::min, std::max) are device code here: Kokkos is built
# with --expt-relaxed-constexpr (Kokkos_ENABLE_CUDA_CONSTEXPR).
set(GRPO_KOKKOS_CUDA OFF)
if("CUDA" IN_LIST Kokkos_DEVICES)
  set(GRPO_KOKKOS_CUDA ON)
  foreach(_grpo_diag h_hd_illegal_call h_hd_illegal_call_generic this_addr_capture_ext_lambda)
    target_compile_options(grpo_warnings INTERFACE
                           "$<$<COMPILE_LANGUAGE:CXX>:SHELL:-Xcudafe --diag_error=${_grpo_diag}>")
  endforeach()
endif()

add_library(grpo_kokkos INTERFACE)
add_library(grpo::kokkos ALIAS grpo_kokkos)
target_link_libraries(grpo_kokkos INTERFACE Kokkos::kokkos)
if(GRPO_KOKKOSKERNELS_TARGET)
  target_link_libraries(grpo_kokkos INTERFACE ${GRPO_KOKKOSKERNELS_TARGET})
  set(GRPO_HAVE_KOKKOSKERNELS ON)
  message(STATUS "KokkosKernels: ${GRPO_KOKKOSKERNELS_TARGET} (${KokkosKernels_DIR})")
else()
  set(GRPO_HAVE_KOKKOSKERNELS OFF)
  message(STATUS "KokkosKernels: not used (Debian: libtrilinos-kokkos-kernels-dev); "
                 "the MLP policy uses its own matrix products")
endif()
install(TARGETS grpo_kokkos EXPORT grpoTargets)
