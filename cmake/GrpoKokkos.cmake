# Finds Kokkos (GrpoFindKokkos.cmake) and wraps it in grpo::kokkos. Kokkos::kokkos is an
# IMPORTED target, so its include directories are SYSTEM: Kokkos headers never trip our warnings.
include(GrpoFindKokkos)

if(GRPO_REQUIRE_KOKKOS_DEVICES)
  kokkos_check(DEVICES ${GRPO_REQUIRE_KOKKOS_DEVICES})
endif()

add_library(grpo_kokkos INTERFACE)
add_library(grpo::kokkos ALIAS grpo_kokkos)
target_link_libraries(grpo_kokkos INTERFACE Kokkos::kokkos)
install(TARGETS grpo_kokkos EXPORT grpoTargets)
