// Rank invariance (run under mpiexec -n 1, 2, 3): every method, sampling mode and the closed
// form give the same iterates and metrics as a one-rank run of the same data, to 1e-10 relative.
#include "core/config.hpp"
#include "solver/minimax_solver.hpp"
#include "solver/trainer.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/mpi_test.hpp"

#include <gtest/gtest.h>

namespace {

using namespace grpo;
using solver::Method;

using test::self_communicator;

struct Case {
  const char* name;
  Method method;
  solver::Sampling sampling;
  index_t batch;
  solver::BatchMode mode;
  bool closed_form;
};

TEST(RankInvariance, TrajectoriesMatchTheOneRankRun) {
  Communicator world;
  // Uneven group sizes so that 2 and 3 ranks split groups.
  const auto data = test::random_data({23, 61, 40, 17}, 3, 77, true);
  const auto local = test::split_for_rank(data, world.rank(), world.size());
  const auto whole = test::whole_split(data);
  const Case cases[] = {
      {"gr-dpo full", Method::GrDpo, solver::Sampling::CodeBatch, 0, solver::BatchMode::Uniform,
       false},
      {"gr-ipo full", Method::GrIpo, solver::Sampling::CodeBatch, 0, solver::BatchMode::Uniform,
       false},
      {"dpo full", Method::Dpo, solver::Sampling::CodeBatch, 0, solver::BatchMode::Uniform, false},
      {"is-dpo full", Method::IsDpo, solver::Sampling::CodeBatch, 0, solver::BatchMode::Uniform,
       false},
      {"gr-dpo uniform batch", Method::GrDpo, solver::Sampling::CodeBatch, 16,
       solver::BatchMode::Uniform, false},
      {"gr-dpo weighted batch", Method::GrDpo, solver::Sampling::CodeBatch, 16,
       solver::BatchMode::GroupWeighted, false},
      {"gr-dpo paper_single", Method::GrDpo, solver::Sampling::PaperSingle, 1,
       solver::BatchMode::Uniform, false},
      {"gr-ipo closed form", Method::GrIpo, solver::Sampling::CodeBatch, 0,
       solver::BatchMode::Uniform, true},
  };
  for (const auto& cs : cases) {
    solver::SolverConfig c;
    c.method = cs.method;
    c.sampling = cs.sampling;
    c.batch_size = cs.batch;
    c.batch_mode = cs.mode;
    c.closed_form = cs.closed_form;
    c.beta = cs.closed_form ? 0.5 : 1.0;
    c.step_theta = 0.2;
    c.step_alpha = 0.3;
    c.iterations = cs.closed_form ? 20 : 150;
    const std::vector<double> theta0{0.5, 1.0, -0.5};
    solver::MinimaxSolver distributed(c, world, local, theta0);
    solver::MinimaxSolver reference(c, self_communicator(), whole, theta0);
    std::vector<TraceRecord> got;
    std::vector<TraceRecord> want;
    // With the certified gap: its Newton passes and their sums are rank-invariant too.
    solver::TraceOptions trace;
    trace.every = 10;
    trace.gap = true;
    solver::train(distributed, {&local, nullptr, nullptr}, trace,
                  [&](const TraceRecord& r) { got.push_back(r); });
    solver::train(reference, {&whole, nullptr, nullptr}, trace,
                  [&](const TraceRecord& r) { want.push_back(r); });
    double worst = 0.0;
    bool same_length = got.size() == want.size();
    for (std::size_t i = 0; same_length && i < got.size(); ++i) {
      worst = std::max(worst, test::max_rel_diff(got[i].theta, want[i].theta));
      worst = std::max(worst, test::max_rel_diff(got[i].alpha, want[i].alpha));
      worst = std::max(worst, test::max_rel_diff(got[i].train_loss, want[i].train_loss));
      const auto& a = got[i];
      const auto& b = want[i];
      worst = std::max(worst,
                       test::max_rel_diff(
                           {a.gap_avg.upper, a.gap_avg.lower, a.gap_last.upper, a.gap_last.lower},
                           {b.gap_avg.upper, b.gap_avg.lower, b.gap_last.upper, b.gap_last.lower}));
    }
    worst = std::max(worst, test::max_rel_diff(distributed.theta_avg(), reference.theta_avg()));
    const bool ok = test::all_ranks(world, same_length && worst < 1e-10);
    EXPECT_TRUE(ok) << cs.name << ": max relative difference " << worst << " on rank "
                    << world.rank() << " of " << world.size();
  }
}

} // namespace
