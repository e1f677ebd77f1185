# Warning, optimisation and sanitizer flags, applied to grpo's own targets only (never to Kokkos
# or HDF5).
add_library(grpo_warnings INTERFACE)
add_library(grpo::warnings ALIAS grpo_warnings)
target_compile_options(grpo_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${GRPO_ENABLE_WERROR}>>:-Werror>
  # `omp simd` loops are hints; clang reports each one it cannot vectorise (e.g. under
  # sanitizer instrumentation), which is not a defect.
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:Clang>>:-Wno-pass-failed>)
if(GRPO_SANITIZE)
  string(REPLACE ";" "," _grpo_sanitizers "${GRPO_SANITIZE}")
  target_compile_options(grpo_warnings INTERFACE -fsanitize=${_grpo_sanitizers} -fno-omit-frame-pointer)
  target_link_options(grpo_warnings INTERFACE -fsanitize=${_grpo_sanitizers})
endif()
install(TARGETS grpo_warnings EXPORT grpoTargets)

# The kernels are compute-bound on CPUs with wide vectors (bench/README.md): build them for this
# machine's instruction set unless told not to (binaries for other machines: GRPO_ENABLE_NATIVE=OFF).
if(GRPO_ENABLE_NATIVE AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native GRPO_HAVE_MARCH_NATIVE)
  if(GRPO_HAVE_MARCH_NATIVE)
    target_compile_options(grpo_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
endif()
