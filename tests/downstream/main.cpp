// Uses the installed grpo libraries: a few GR-DPO steps on a two-group problem.
#include "core/environment.hpp"
#include "solver/group_partition.hpp"
#include "solver/local_split.hpp"
#include "solver/minimax_solver.hpp"
#ifdef DOWNSTREAM_WITH_IO
#include "io/dataset.hpp"
#endif

#include <cstdio>

int main(int argc, char** argv) {
  grpo::core::Environment env(argc, argv);
  env.start_kokkos();
  int status = 1;
  {
    const std::vector<float> z{1.0f, 0.5f, 2.0f, -1.0f, 0.5f, 1.5f};
    const grpo::solver::GroupPartition partition({0, 1, 3}, 1);
    const auto split = grpo::solver::make_local_split("train", 2, partition, 0, z.data(), nullptr);
    grpo::solver::SolverConfig config;
    config.method = grpo::solver::Method::GrDpo;
    config.iterations = 10;
    grpo::solver::MinimaxSolver solver(config, grpo::Communicator(), split, {0.0, 0.0});
    for (int t = 0; t < 10; ++t) {
      solver.step();
    }
    std::printf("downstream: theta = (%g, %g), alpha = (%g, %g)\n", solver.theta()[0],
                solver.theta()[1], solver.alpha()[0], solver.alpha()[1]);
    status = solver.theta()[0] > 0.0 ? 0 : 1;
  }
  return status;
}
