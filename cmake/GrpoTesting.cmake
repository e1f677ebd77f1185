# grpo_add_test(NAME <name> MODULE <module> SOURCES <src>... [LIBRARIES <lib>...]
#               [LABELS <label>...] [MPI_RANKS <n>...] [TIMEOUT <seconds>])
# One GoogleTest executable; one CTest entry <module>.<name> (serial) or one per rank count
# <module>.<name>.np<N> run under mpiexec, with PROCESSORS N, a TIMEOUT, labels, and the OpenMPI
# variables that allow root and more ranks than cores (test environment only, never in code).
find_package(GTest REQUIRED)

# OMPI_MCA_pml=ob1 and OMPI_MCA_ess_singleton_isolated=1: a process that starts MPI without a
# launcher (GRPO_MPI=1; grpo started alone does not start MPI, core/environment.hpp) starts
# without the UCX device probe and without a singleton orted; multi-rank tests use ob1 over
# shared memory.
set(GRPO_TEST_ENVIRONMENT
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
    OMPI_MCA_pml=ob1 OMPI_MCA_ess_singleton_isolated=1
    HDF5_USE_FILE_LOCKING=FALSE)
if(GRPO_SANITIZE)
  # LeakSanitizer on, third-party one-time allocations suppressed. Full (slow) unwinding at
  # malloc, so that allocations made inside OpenMPI's components are traced back to libmpi.
  # intercept_tls_get_addr=0: with ess_singleton_isolated, a one-rank process exits with a
  # dynamic-TLS block that ASan recorded at a bogus address (0x2804), and LeakSanitizer's
  # stop-the-world tracer dies reading it ("Tracer caught signal 11", every run of
  # policies.mlp_policy); untracked, dynamic TLS is simply not scanned as a root.
  list(APPEND GRPO_TEST_ENVIRONMENT
       "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=30:intercept_tls_get_addr=0"
       OMPI_MCA_mca_base_component_disable_dlclose=1
       "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/cmake/lsan.supp:print_suppressions=0"
       "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
       # Tests that size a run so that it outlives a poll (a kill after the first checkpoint)
       # may make it shorter where every step is some 50x slower.
       GRPO_SANITIZED=1)
endif()

function(grpo_add_test)
  cmake_parse_arguments(T "" "NAME;MODULE;TIMEOUT" "SOURCES;LIBRARIES;LABELS;MPI_RANKS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set(_exe test_${T_MODULE}_${T_NAME})
  add_executable(${_exe} ${T_SOURCES})
  target_link_libraries(${_exe} PRIVATE grpo_test_support ${T_LIBRARIES} grpo::warnings)
  if(T_MPI_RANKS AND GRPO_ENABLE_MPI)
    foreach(_n IN LISTS T_MPI_RANKS)
      set(_test ${T_MODULE}.${T_NAME}.np${_n})
      add_test(NAME ${_test}
               COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${_n} ${MPIEXEC_PREFLAGS}
                       $<TARGET_FILE:${_exe}> ${MPIEXEC_POSTFLAGS})
      set_tests_properties(${_test} PROPERTIES PROCESSORS ${_n} TIMEOUT ${T_TIMEOUT}
                           LABELS "mpi;${T_LABELS}" ENVIRONMENT "${GRPO_TEST_ENVIRONMENT}")
    endforeach()
  else()
    set(_test ${T_MODULE}.${T_NAME})
    add_test(NAME ${_test} COMMAND ${_exe})
    set_tests_properties(${_test} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
                         ENVIRONMENT "${GRPO_TEST_ENVIRONMENT}")
  endif()
endfunction()
