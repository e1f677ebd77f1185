// NeuralSolver under mpiexec -n 1, 2, 3: the SFT stage, mini-batches in micro-batches, alpha and
// the network give the same results as a one-rank run on the whole data (to rounding: the sums
// over ranks are added in another order), and alpha and the parameters are identical on every
// rank.
#include "solver/neural_solver.hpp"
#include "solver/neural_trainer.hpp"
#include "tests/solver/neural_fixtures.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/mpi_test.hpp"

#include <gtest/gtest.h>

namespace {

using namespace grpo;

TEST(NeuralMpi, MatchesTheOneRankRun) {
  Communicator world;
  // Uneven groups, so that 2 and 3 ranks split a group.
  const auto data = test::option_data({13, 29, 8, 21}, 5, 123, true);
  const auto local = test::option_split(data, world.rank(), world.size());
  const auto whole = test::option_split(data, 0, 1);
  for (const auto update : {solver::AlphaUpdate::Step, solver::AlphaUpdate::MicroBatch}) {
    solver::NeuralConfig c;
    c.method = solver::Method::GrDpo;
    c.alpha_update = update;
    c.step_alpha = update == solver::AlphaUpdate::Step ? 0.3 : 1e-3;
    c.network.hidden = {6, 4};
    c.network.activation = policies::Activation::Gelu;
    c.batch_size = 12;
    c.micro_batches = 2;
    c.sft_steps = 4;
    c.sft_batch = 8;
    c.reference = solver::ReferenceKind::Sft;
    c.iterations = 20;
    c.optimizer.lr = 0.01;
    solver::NeuralSolver parallel(c, world, local);
    solver::NeuralSolver serial(c, test::self_communicator(), whole);
    for (int t = 0; t < c.iterations; ++t) {
      parallel.step();
      serial.step();
    }
    const auto p = parallel.params();
    const auto q = serial.params();
    const bool close = test::max_rel_diff(p, q) < 1e-10 &&
                       test::max_rel_diff(parallel.alpha(), serial.alpha()) < 1e-10;
    EXPECT_TRUE(test::all_ranks(world, close)) << solver::alpha_update_name(update);
    // Identical on every rank: the same bits after the Allreduce.
    auto p0 = p;
    world.broadcast(p0);
    EXPECT_TRUE(test::all_ranks(world, p0 == p));
    const auto m = parallel.evaluate(local);
    const auto ms = serial.evaluate(whole);
    EXPECT_TRUE(test::all_ranks(world, test::max_rel_diff(m.loss, ms.loss) < 1e-10 &&
                                           m.reward_accuracy == ms.reward_accuracy &&
                                           test::max_rel_diff(m.nll, ms.nll) < 1e-10));
  }
}

} // namespace
