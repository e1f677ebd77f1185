# Finds Kokkos and repairs its imported target (used by the build and by grpoConfig.cmake).
#
# Debian's libtrilinos-kokkos-dev exports Kokkos::kokkos with INTERFACE_INCLUDE_DIRECTORIES
# pointing at a non-existent /usr/lib/include; we repair the imported target with the include
# directory its own config reports (KokkosCore_INCLUDE_DIRS = /usr/include/trilinos).
# -DKokkos_ROOT=<prefix> selects any other Kokkos install (OpenMP, CUDA) instead.
find_package(Kokkos REQUIRED)
if(Kokkos_VERSION VERSION_LESS 3.4)
  message(FATAL_ERROR "grpo needs Kokkos >= 3.4, found ${Kokkos_VERSION}")
endif()

if(TARGET Kokkos::kokkos)
  get_target_property(_grpo_kokkos_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  set(_grpo_kokkos_fixed "")
  foreach(_dir IN LISTS _grpo_kokkos_inc)
    if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
      list(APPEND _grpo_kokkos_fixed "${_dir}")
    endif()
  endforeach()
  if(DEFINED KokkosCore_INCLUDE_DIRS)
    foreach(_dir IN LISTS KokkosCore_INCLUDE_DIRS)
      get_filename_component(_dir "${_dir}" REALPATH)
      if(EXISTS "${_dir}")
        list(APPEND _grpo_kokkos_fixed "${_dir}")
      endif()
    endforeach()
  endif()
  list(REMOVE_DUPLICATES _grpo_kokkos_fixed)
  if(NOT "${_grpo_kokkos_fixed}" STREQUAL "${_grpo_kokkos_inc}")
    message(STATUS "Repairing Kokkos::kokkos include path: ${_grpo_kokkos_inc} -> ${_grpo_kokkos_fixed}")
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_grpo_kokkos_fixed}")
  endif()
else()
  message(FATAL_ERROR "The Kokkos package found at ${Kokkos_DIR} defines no Kokkos::kokkos target")
endif()

