// The run axis (run under mpiexec -n 1, 2 and 3): the fused pass of R runs gives each run the
// bits of its own pass, and an ensemble trained in lockstep (solver::train_ensemble) writes, for
// every run, the records of the same run trained alone, bit for bit (wall clock aside), whatever
// its siblings; a run that diverges stops with its own error and its siblings go on.
#include "core/error.hpp"
#include "solver/fused_kernel.hpp"
#include "solver/minimax_solver.hpp"
#include "solver/trainer.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/fp_traps.hpp"
#include "tests/support/mpi_test.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace grpo;
using solver::LossType;
using solver::Method;

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

::testing::AssertionResult same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << "sizes " << a.size() << " and " << b.size();
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!same_bits(a[i], b[i])) {
      return ::testing::AssertionFailure()
             << "entry " << i << ": " << format_double(a[i]) << " vs " << format_double(b[i]);
    }
  }
  return ::testing::AssertionSuccess();
}

/// Every field of two records but the wall clock, bit for bit.
::testing::AssertionResult same_record(const TraceRecord& a, const TraceRecord& b) {
  const std::pair<const char*, std::pair<const std::vector<double>*, const std::vector<double>*>>
      vectors[] = {{"alpha", {&a.alpha, &b.alpha}},
                   {"weights", {&a.weights, &b.weights}},
                   {"train_loss", {&a.train_loss, &b.train_loss}},
                   {"val_loss", {&a.val_loss, &b.val_loss}},
                   {"batch_loss", {&a.batch_loss, &b.batch_loss}},
                   {"theta", {&a.theta, &b.theta}},
                   {"gap_avg.losses", {&a.gap_avg.losses, &b.gap_avg.losses}}};
  for (const auto& [name, pair] : vectors) {
    if (auto r = same_bits(*pair.first, *pair.second); !r) {
      return r << " in " << name << " at iteration " << a.iteration;
    }
  }
  const std::pair<const char*, std::pair<double, double>> scalars[] = {
      {"iteration", {static_cast<double>(a.iteration), static_cast<double>(b.iteration)}},
      {"objective", {a.objective, b.objective}},
      {"grad_norm", {a.grad_norm, b.grad_norm}},
      {"param_norm", {a.param_norm, b.param_norm}},
      {"step_theta", {a.step_theta, b.step_theta}},
      {"step_alpha", {a.step_alpha, b.step_alpha}},
      {"live_grad", {a.live_grad, b.live_grad}},
      {"empty_group_steps", {a.empty_group_steps, b.empty_group_steps}},
      {"gap_avg.gap", {a.gap_avg.gap, b.gap_avg.gap}},
      {"gap_last.gap", {a.gap_last.gap, b.gap_last.gap}}};
  for (const auto& [name, pair] : scalars) {
    if (!same_bits(pair.first, pair.second)) {
      return ::testing::AssertionFailure()
             << name << " at iteration " << a.iteration << ": " << format_double(pair.first)
             << " vs " << format_double(pair.second);
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- The kernel: a pass of R runs against R passes of one.

TEST(EnsemblePass, EachRunGetsTheBitsOfItsOwnPass) {
  // Pieces of 37, 100, 5 and 4101 rows: short blocks, short groups of 8, and a piece of two
  // chunks (4096 rows a chunk).
  const std::vector<index_t> sizes{37, 100, 5, 4101};
  for (const int dim : {3, 4, 8, 16, 32, 64}) {
    const auto data = test::random_data(sizes, dim, 11 + dim, true);
    const auto split = test::whole_split(data);
    for (const LossType loss : {LossType::Dpo, LossType::Ipo}) {
      for (const auto& [runs, scale] : {std::pair{1, 1.0}, {9, 1.0}, {70, 1.0}, {17, 3000.0}}) {
        // scale 3000: margins up to |beta h| ~ 1e5, where exp underflows to its clamp.
        SCOPED_TRACE("d = " + std::to_string(dim) + ", " + solver::loss_name(loss) + ", " +
                     std::to_string(runs) + " runs, parameters x " + format_double(scale));
        Kokkos::View<double**, Kokkos::LayoutRight, MemSpace> thetas("thetas", runs, dim);
        auto thetas_host = Kokkos::create_mirror_view(thetas);
        std::vector<double> betas(runs);
        std::vector<double> params(runs);
        for (int r = 0; r < runs; ++r) {
          betas[r] = 0.05 + 0.37 * r;
          params[r] = solver::FusedLossGradient::loss_parameter(loss, betas[r]);
          for (int j = 0; j < dim; ++j) {
            thetas_host(r, j) =
                scale *
                (2.0 * rng::to_unit(rng::hash(5, 9, static_cast<std::uint64_t>(r), j)) - 1.0);
          }
        }
        Kokkos::deep_copy(thetas, thetas_host);
        for (const bool gradient : {true, false}) {
          solver::FusedLossGradient together;
          const auto sums = together.full_runs(thetas, params, split, loss, gradient);
          const int width = dim + 1;
          ASSERT_EQ(sums.extent(1), static_cast<std::size_t>(runs * width));
          std::string first_difference;
          int differences = 0;
          for (int r = 0; r < runs; ++r) {
            policies::LogLinearPolicy policy(dim);
            Kokkos::deep_copy(policy.params(), Kokkos::subview(thetas, r, Kokkos::ALL()));
            solver::FusedLossGradient alone_pass;
            const auto alone = alone_pass.full(policy, split, loss, betas[r], gradient);
            for (std::size_t p = 0; p < split.pieces.size(); ++p) {
              for (int j = 0; j < (gradient ? width : 1); ++j) {
                if (!same_bits(sums(p, r * width + j), alone(p, j))) {
                  if (differences++ == 0) {
                    first_difference = "run " + std::to_string(r) + ", piece " + std::to_string(p) +
                                       ", column " + std::to_string(j) + ": " +
                                       format_double(sums(p, r * width + j)) + " vs " +
                                       format_double(alone(p, j));
                  }
                }
              }
            }
          }
          EXPECT_EQ(differences, 0)
              << (gradient ? "with" : "without") << " the gradient; first " << first_difference;
        }
      }
    }
  }
}

// ---- The solver: an ensemble against its runs alone.

struct Case {
  const char* name;
  Method method;
  double beta;
  double step_theta;
  double step_alpha;
  double chi;
  index_t batch; ///< 0: full batch
  bool closed_form;
  double exp_adaptive;
  std::uint64_t seed;
};

solver::SolverConfig config_of(const Case& c) {
  solver::SolverConfig config;
  config.method = c.method;
  config.beta = c.beta;
  config.step_theta = c.step_theta;
  config.step_alpha = c.step_alpha;
  config.chi = c.chi;
  config.batch_size = c.batch;
  config.closed_form = c.closed_form;
  config.exp_adaptive = c.exp_adaptive;
  config.seed = c.seed;
  config.iterations = c.closed_form ? 15 : 60 + static_cast<index_t>(c.seed % 7);
  return config;
}

// Full-batch DPO runs of many hyperparameters share the pass (more than 8 of them: tiles of
// eight runs and single runs); IPO runs use the statistics; batches, the closed form, two-phase
// alpha steps and runs of a second dataset (another dimension) ride along.
std::vector<Case> cases() {
  std::vector<Case> all;
  const Method dpo_family[] = {Method::GrDpo, Method::Dpo, Method::IsDpo};
  for (int k = 0; k < 11; ++k) {
    all.push_back({"dpo full", dpo_family[k % 3], 0.5 + 0.25 * k, 0.05 * (1 + k % 4),
                   0.1 * (1 + k % 3), k % 2 == 0 ? 1.0 : 0.5, 0, false, 0.0,
                   static_cast<std::uint64_t>(2021 + k)});
  }
  all.push_back({"gr-ipo full", Method::GrIpo, 0.1, 0.01, 0.2, 1.0, 0, false, 0.0, 7});
  all.push_back({"ipo full", Method::Ipo, 0.5, 0.02, 0.2, 1.0, 0, false, 0.0, 8});
  all.push_back({"gr-dpo batch", Method::GrDpo, 1.0, 0.1, 0.3, 1.0, 16, false, 0.0, 9});
  all.push_back({"gr-ipo closed form", Method::GrIpo, 0.5, 0.1, 0.3, 1.0, 0, true, 0.0, 10});
  all.push_back({"gr-dpo exp-adaptive", Method::GrDpo, 1.0, 0.1, 0.3, 1.0, 0, false, 2.0, 11});
  return all;
}

TEST(Ensemble, EveryRunWritesTheRecordsOfItsRunAlone) {
  Communicator world;
  const auto data = test::random_data({23, 61, 40, 17}, 4, 77, true);
  const auto other = test::random_data({50, 30, 44, 21}, 8, 78, true);
  const auto train = test::split_for_rank(data, world.rank(), world.size());
  const auto val = test::split_for_rank(data, world.rank(), world.size(), "val");
  const auto train8 = test::split_for_rank(other, world.rank(), world.size());
  const auto all = cases();
  const std::size_t n = all.size() + 2;
  std::vector<std::unique_ptr<solver::MinimaxSolver>> solvers;
  std::vector<solver::TrainingData> datas;
  const auto make = [&](std::size_t i) {
    if (i < all.size()) {
      const auto config = config_of(all[i]);
      return std::make_unique<solver::MinimaxSolver>(
          config, world, train, solver::MinimaxSolver::initial_theta(config, 4));
    }
    auto config = config_of(all[i - all.size()]);
    config.seed += 100;
    return std::make_unique<solver::MinimaxSolver>(config, world, train8,
                                                   solver::MinimaxSolver::initial_theta(config, 8));
  };
  const auto data_of = [&](std::size_t i) {
    return i < all.size() ? solver::TrainingData{&train, &val, nullptr}
                          : solver::TrainingData{&train8, nullptr, nullptr};
  };
  solver::TraceOptions trace;
  trace.every = 7;
  trace.gap = true;
  std::vector<std::vector<TraceRecord>> alone(n);
  std::vector<std::unique_ptr<solver::MinimaxSolver>> alone_solvers;
  for (std::size_t i = 0; i < n; ++i) {
    alone_solvers.push_back(make(i));
    solver::train(*alone_solvers.back(), data_of(i), trace,
                  [&](const TraceRecord& r) { alone[i].push_back(r); });
  }
  std::vector<std::vector<TraceRecord>> together(n);
  std::vector<solver::EnsembleRun> runs;
  for (std::size_t i = 0; i < n; ++i) {
    solvers.push_back(make(i));
    runs.push_back({solvers.back().get(), data_of(i), trace,
                    [&together, i](const TraceRecord& r) { together[i].push_back(r); }});
  }
  const auto results = solver::train_ensemble(runs);
  for (std::size_t i = 0; i < n; ++i) {
    SCOPED_TRACE(std::string("run ") + std::to_string(i) + " (" +
                 (i < all.size() ? all[i].name : "second dataset") + ")");
    EXPECT_FALSE(results[i].error);
    ASSERT_EQ(together[i].size(), alone[i].size());
    ASSERT_FALSE(alone[i].empty());
    for (std::size_t k = 0; k < alone[i].size(); ++k) {
      ASSERT_TRUE(same_record(together[i][k], alone[i][k]));
    }
    // The end values of the trace too.
    EXPECT_TRUE(same_bits(solvers[i]->theta_avg(), alone_solvers[i]->theta_avg()));
    EXPECT_TRUE(same_bits(solvers[i]->alpha_avg(), alone_solvers[i]->alpha_avg()));
    EXPECT_TRUE(same_bits(solvers[i]->alpha(), alone_solvers[i]->alpha()));
  }
}

TEST(Ensemble, ADivergingRunStopsAloneWithItsError) {
  // The diverging run's records evaluate losses at an overflowing theta (inf - inf): allowed.
  const test::InvalidAllowed invalid_allowed;
  Communicator world;
  const auto data = test::random_data({30, 50, 20}, 8, 5, true);
  const auto train = test::split_for_rank(data, world.rank(), world.size());
  const Case good{"gr-dpo", Method::GrDpo, 1.0, 0.1, 0.3, 1.0, 0, false, 0.0, 1};
  Case bad = good;
  bad.step_theta = 1e308; // the loss sums overflow at the second step
  bad.seed = 2;
  const Case cases[] = {good, bad, {"dpo", Method::Dpo, 2.0, 0.2, 0.3, 1.0, 0, false, 0.0, 3}};
  const auto make = [&](const Case& c) {
    const auto config = config_of(c);
    return std::make_unique<solver::MinimaxSolver>(config, world, train,
                                                   solver::MinimaxSolver::initial_theta(config, 8));
  };
  solver::TraceOptions trace;
  trace.every = 1;
  std::vector<std::unique_ptr<solver::MinimaxSolver>> solvers;
  std::vector<std::vector<TraceRecord>> together(3);
  std::vector<solver::EnsembleRun> runs;
  for (std::size_t i = 0; i < 3; ++i) {
    solvers.push_back(make(cases[i]));
    runs.push_back({solvers.back().get(),
                    {&train, nullptr, nullptr},
                    trace,
                    [&together, i](const TraceRecord& r) { together[i].push_back(r); }});
  }
  const auto results = solver::train_ensemble(runs);
  ASSERT_TRUE(results[1].error);
  std::string message;
  try {
    std::rethrow_exception(results[1].error);
  } catch (const NumericalError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("non-finite"), std::string::npos) << message;
  // Alone, the same run fails with the same error at the same step.
  auto lone_bad = make(bad);
  std::vector<TraceRecord> lone_bad_records;
  EXPECT_THROW(solver::train(*lone_bad, {&train, nullptr, nullptr}, trace,
                             [&](const TraceRecord& r) { lone_bad_records.push_back(r); }),
               NumericalError);
  ASSERT_EQ(together[1].size(), lone_bad_records.size());
  EXPECT_LT(together[1].size(), static_cast<std::size_t>(config_of(bad).iterations));
  EXPECT_EQ(solvers[1]->iterations_done(), lone_bad->iterations_done());
  for (const std::size_t i : {std::size_t{0}, std::size_t{2}}) {
    EXPECT_FALSE(results[i].error);
    auto lone = make(cases[i]);
    std::vector<TraceRecord> records;
    solver::train(*lone, {&train, nullptr, nullptr}, trace,
                  [&](const TraceRecord& r) { records.push_back(r); });
    ASSERT_EQ(together[i].size(), records.size());
    EXPECT_EQ(together[i].size(), static_cast<std::size_t>(config_of(cases[i]).iterations));
    for (std::size_t k = 0; k < records.size(); ++k) {
      ASSERT_TRUE(same_record(together[i][k], records[k])) << "run " << i;
    }
  }
}

} // namespace
