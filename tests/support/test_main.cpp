// The one GoogleTest main of grpo: starts the Environment (MPI, then Kokkos), traps invalid
// floating-point operations (FE_INVALID: 0/0, inf - inf, sqrt(-1), an ordered comparison with a
// NaN) so that a NaN fails the test where it is born, with SIGFPE, rather than where it is
// noticed; silences the default printer on ranks other than 0, and makes every rank return the
// same verdict. Tests that make NaNs on purpose hold a test::InvalidAllowed
// (tests/support/fp_traps.hpp) while they do.
#include "core/communicator.hpp"
#include "core/environment.hpp"
#include "tests/support/fp_traps.hpp"

#include <gtest/gtest.h>

int main(int argc, char** argv) {
  grpo::core::Environment env(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  env.start_kokkos();
  grpo::test::trap_invalid(true);
  int result = 0;
  {
    if (env.world_rank() != 0) {
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
    }
    result = RUN_ALL_TESTS();
    grpo::Communicator comm;
    result = comm.any(result != 0) ? 1 : 0;
  }
  return result;
}
