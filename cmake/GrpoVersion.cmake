# Stamps the git revision (with -dirty when the tree has changes) into a generated header at
# every build, so traces record exactly which code produced them.
set(GRPO_GENERATED_DIR ${PROJECT_BINARY_DIR}/generated)
add_custom_target(grpo_git_revision ALL
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
          -DOUTPUT=${GRPO_GENERATED_DIR}/core/git_revision.hpp
          -P ${PROJECT_SOURCE_DIR}/cmake/GrpoWriteRevision.cmake
  BYPRODUCTS ${GRPO_GENERATED_DIR}/core/git_revision.hpp
  COMMENT "Stamping git revision")
