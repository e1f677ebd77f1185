# Install rules and the exported package: find_package(grpo) gives grpo::core, grpo::policies,
# grpo::solver and (when built with HDF5) grpo::io.
include(CMakePackageConfigHelpers)
set(GRPO_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/grpo)

install(DIRECTORY core policies solver DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/grpo
        FILES_MATCHING PATTERN "*.hpp")
if(GRPO_ENABLE_HDF5)
  install(DIRECTORY io DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/grpo FILES_MATCHING PATTERN "*.hpp")
endif()
install(DIRECTORY ${GRPO_GENERATED_DIR}/core DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/grpo)

install(EXPORT grpoTargets NAMESPACE grpo:: DESTINATION ${GRPO_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/grpoConfig.cmake.in
  ${PROJECT_BINARY_DIR}/grpoConfig.cmake INSTALL_DESTINATION ${GRPO_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/grpoConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/grpoConfig.cmake ${PROJECT_BINARY_DIR}/grpoConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/GrpoFindKokkos.cmake
        DESTINATION ${GRPO_INSTALL_CMAKEDIR})
