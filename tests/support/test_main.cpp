// The one GoogleTest main of grpo: starts the Environment (MPI, then Kokkos), silences the
// default printer on ranks other than 0, and makes every rank return the same verdict.
#include "core/environment.hpp"
#include "solver/communicator.hpp"

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  grpo::core::Environment env(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  env.start_kokkos();
  int result = 0;
  {
    if (env.world_rank() != 0) {
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
    }
    result = RUN_ALL_TESTS();
    grpo::solver::Communicator comm;
    result = comm.any(result != 0) ? 1 : 0;
  }
  return result;
}
