# Finds Kokkos and repairs its imported target (used by the build and by grpoConfig.cmake).
#
# Debian's libtrilinos-kokkos-dev exports Kokkos::kokkos with INTERFACE_INCLUDE_DIRECTORIES
# pointing at a non-existent /usr/lib/include; we repair the imported target with the include
# directory its own config reports (KokkosCore_INCLUDE_DIRS = /usr/include/trilinos).
# -DKokkos_ROOT=<prefix> selects any other Kokkos install (OpenMP, CUDA) instead.
#
# KokkosKernels (BLAS on Views: the MLP policy's layer products) is looked for too, unless
# GRPO_ENABLE_KOKKOSKERNELS is OFF; GRPO_KOKKOSKERNELS_TARGET names its imported target when
# found (a standalone install exports Kokkos::kokkoskernels, Debian's Trilinos package
# trilinos_kokkoskernels, whose headers live in Kokkos' include directory).
# -DKokkosKernels_ROOT=<prefix> selects the install that matches a non-default Kokkos.
#
# A CUDA Kokkos 3.4 (built with nvcc_wrapper as the compiler) writes copies of the CUDA::cudart
# and CUDA::cuda_driver targets of the CMake that built it into its config, and defines them
# only where they are missing. From CMake 3.29 on, FindCUDAToolkit's CUDA::cudart links
# CUDA::cudart_static_deps and CUDA::cuda_driver keeps its location per configuration, so the
# copies are broken (seen with CMake 4.4 on the GPU machine). Finding the toolkit first defines
# complete targets, and Kokkos' config then leaves them alone.
if(CMAKE_CXX_COMPILER MATCHES "nvcc_wrapper" AND CMAKE_VERSION VERSION_GREATER_EQUAL 3.17)
  find_package(CUDAToolkit REQUIRED)
endif()
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

set(GRPO_KOKKOSKERNELS_TARGET "")
if(NOT DEFINED GRPO_ENABLE_KOKKOSKERNELS OR GRPO_ENABLE_KOKKOSKERNELS)
  if(DEFINED KokkosKernels_ROOT OR DEFINED ENV{KokkosKernels_ROOT})
    find_package(KokkosKernels QUIET)
  else()
    # KokkosKernels must be built against the Kokkos found above: look beside it only, so that
    # a -DKokkos_ROOT install (CUDA, OpenMP) never picks up Debian's Serial-only one.
    get_filename_component(_grpo_kokkos_cmake_dir "${Kokkos_DIR}" DIRECTORY)
    find_package(KokkosKernels QUIET NO_DEFAULT_PATH PATHS "${_grpo_kokkos_cmake_dir}")
  endif()
  if(TARGET Kokkos::kokkoskernels)
    set(GRPO_KOKKOSKERNELS_TARGET Kokkos::kokkoskernels)
  elseif(TARGET trilinos_kokkoskernels)
    set(GRPO_KOKKOSKERNELS_TARGET trilinos_kokkoskernels)
  endif()
endif()
