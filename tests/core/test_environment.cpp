// core::Environment starts MPI only under a launcher (mpi_launched): the detection rule on
// made-up environments, and, in this process, that MPI is started exactly when a launcher
// started it and that the Communicator then spans the launched ranks (one rank, without MPI
// calls, otherwise). CTest runs this test alone and under mpiexec -n 1 and 2.
#include "core/communicator.hpp"
#include "core/environment.hpp"
#include "core/error.hpp"

#include <gtest/gtest.h>

#if GRPO_ENABLE_MPI
#include <mpi.h>
#endif

#include <cstdlib>
#include <map>
#include <string>

namespace {

std::map<std::string, std::string>& fake_environment() {
  static std::map<std::string, std::string> variables;
  return variables;
}

const char* fake_getenv(const char* name) {
  const auto it = fake_environment().find(name);
  return it == fake_environment().end() ? nullptr : it->second.c_str();
}

bool launched_with(const std::map<std::string, std::string>& variables) {
  fake_environment() = variables;
  return grpo::core::mpi_launched(&fake_getenv);
}

TEST(Environment, LaunchersAreDetected) {
  EXPECT_FALSE(launched_with({}));
  EXPECT_FALSE(launched_with({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"HOME", "/root"}}));
  EXPECT_TRUE(launched_with({{"OMPI_COMM_WORLD_SIZE", "1"}}));
  EXPECT_TRUE(launched_with({{"PMIX_RANK", "0"}}));
  EXPECT_TRUE(launched_with({{"PMI_RANK", "3"}}));
  EXPECT_TRUE(launched_with({{"PMI_SIZE", "4"}}));
}

TEST(Environment, GrpoMpiForcesEitherWay) {
  EXPECT_TRUE(launched_with({{"GRPO_MPI", "1"}}));
  EXPECT_FALSE(launched_with({{"GRPO_MPI", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"}}));
  EXPECT_TRUE(launched_with({{"GRPO_MPI", ""}, {"PMIX_RANK", "0"}})); // empty: detect
  try {
    launched_with({{"GRPO_MPI", "yes"}});
    ADD_FAILURE() << "GRPO_MPI=yes accepted";
  } catch (const grpo::ConfigError& e) {
    EXPECT_STREQ(e.what(), "environment variable GRPO_MPI: invalid value 'yes' (accepted: 1, 0, "
                           "or unset to detect a launcher)");
  }
}

TEST(Environment, MpiRunsExactlyUnderALauncher) {
  const char* launched_size = std::getenv("OMPI_COMM_WORLD_SIZE");
  const bool launched = grpo::core::mpi_launched_here();
  EXPECT_EQ(launched, launched_size != nullptr);
  const grpo::Communicator comm;
  EXPECT_EQ(comm.size(), launched_size != nullptr ? std::atoi(launched_size) : 1);
#if GRPO_ENABLE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  EXPECT_EQ(initialized != 0, launched);
#endif
  // The collectives of the one-rank communicator are identities; on more ranks they reduce.
  double values[2] = {1.5, -2.0};
  comm.allreduce_sum(values, 2);
  EXPECT_EQ(values[0], 1.5 * comm.size());
  EXPECT_EQ(values[1], -2.0 * comm.size());
  EXPECT_EQ(comm.allreduce_max(static_cast<double>(comm.rank())), comm.size() - 1.0);
  std::string text = comm.is_root() ? "from root" : "";
  comm.broadcast(text);
  EXPECT_EQ(text, "from root");
  comm.barrier();
}

} // namespace
