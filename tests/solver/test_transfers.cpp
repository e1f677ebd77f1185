// What crosses between host and device per training step, counted through Kokkos' profiling
// callbacks (they fire on every backend, Serial included, for every deep_copy; fills from a
// scalar are not transfers and are left out). Issue 14's target is O(K + P) values per step.
// - MLP, full batch: the K group sums come back as a reduction; the K group coefficients go
//   up; the P gradient entries go down and up once for the Allreduce: at most 8 (2P + 2K) bytes
//   per step, independent of the number of pairs.
// - MLP, mini-batches and micro-batch parts: plus, per part, the K group coefficients and the
//   draw's layout (K + 1 + 3P index values, solver/batch_sampler.hpp): the rows are drawn,
//   sorted and located on the device, so the bytes do not grow with the batch.
// - Log-linear, full batch: theta up (d), the K loss sums down, a few rows of coefficients up
//   and of d sums down; mini-batches add the draw's layout. Any per-row transfer fails the
//   tests.
#include "solver/minimax_solver.hpp"
#include "solver/neural_solver.hpp"
#include "tests/solver/neural_fixtures.hpp"
#include "tests/support/fixtures.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace {

using namespace grpo;

struct Transfers {
  std::uint64_t calls = 0;
  std::uint64_t bytes = 0;
};
Transfers g_transfers;

void count_deep_copy(Kokkos::Tools::SpaceHandle, const char*, const void*,
                     Kokkos::Tools::SpaceHandle, const char* src_name, const void*,
                     std::uint64_t size) {
  if (std::strcmp(src_name, "Scalar") == 0) {
    return; // a fill: one value, not an array, crosses
  }
  ++g_transfers.calls;
  g_transfers.bytes += size;
}

/// Counts the deep copies made while it lives.
class TransferCounter {
public:
  TransferCounter() {
    g_transfers = Transfers();
    Kokkos::Tools::Experimental::set_begin_deep_copy_callback(count_deep_copy);
  }
  ~TransferCounter() { Kokkos::Tools::Experimental::set_begin_deep_copy_callback(nullptr); }
  TransferCounter(const TransferCounter&) = delete;
  TransferCounter& operator=(const TransferCounter&) = delete;
  Transfers get() const { return g_transfers; }
};

TEST(Transfers, CounterSeesACopyAndIgnoresAFill) {
  View1<double> device("device", 100);
  const HostView1<double> host("host", 100);
  TransferCounter counter;
  Kokkos::deep_copy(device, 1.0);
  EXPECT_EQ(counter.get().bytes, 0u);
  Kokkos::deep_copy(host, device);
  EXPECT_EQ(counter.get().calls, 1u);
  EXPECT_EQ(counter.get().bytes, 800u);
}

solver::NeuralConfig mlp_config(index_t batch, index_t parts) {
  solver::NeuralConfig c;
  c.method = solver::Method::GrDpo;
  c.network.hidden = {16, 8};
  c.batch_size = batch;
  c.micro_batches = parts;
  c.iterations = 100;
  return c;
}

/// Bytes per step of an MLP run after a warm-up step (reference margins cached).
Transfers mlp_step(const policies::PreferenceSplit& split, const solver::NeuralConfig& c) {
  solver::NeuralSolver s(c, test::self_communicator(), split);
  s.prepare();
  s.step();
  TransferCounter counter;
  for (int t = 0; t < 4; ++t) {
    s.step();
  }
  auto t = counter.get();
  t.calls /= 4;
  t.bytes /= 4;
  return t;
}

TEST(Transfers, MlpFullBatchStepMovesOrderKPlusPValuesWhateverN) {
  const std::uint64_t K = 3;
  for (const index_t n : {60, 600}) {
    const auto data = test::option_data({n / 3, n / 2, n / 6}, 5, 7);
    const auto split = test::option_split(data, 0, 1);
    const auto c = mlp_config(0, 1);
    const solver::NeuralSolver probe(c, test::self_communicator(), split);
    const auto p = static_cast<std::uint64_t>(probe.policy().num_params());
    const auto t = mlp_step(split, c);
    EXPECT_LE(t.bytes, 8 * (2 * p + 2 * K))
        << "N = " << n << ": " << t.calls << " copies, " << t.bytes << " bytes per step";
    EXPECT_GE(t.bytes, 8 * 2 * p); // the gradient's round trip for the Allreduce is seen
  }
}

TEST(Transfers, MlpMiniBatchesMoveOrderKPlusPValuesWhateverTheBatch) {
  const std::uint64_t K = 3;
  const auto data = test::option_data({200, 300, 100}, 5, 7);
  const auto split = test::option_split(data, 0, 1);
  const std::uint64_t layout = K + 1 + 3 * K; // one rank: a piece per group
  std::vector<std::uint64_t> seen;
  // Batches of 64 and 512 pairs, and of 900 (a part spans two epochs of the 600 pairs).
  for (const index_t batch : {64, 512, 900}) {
    const auto c = mlp_config(batch, 2);
    const solver::NeuralSolver probe(c, test::self_communicator(), split);
    const auto p = static_cast<std::uint64_t>(probe.policy().num_params());
    const auto t = mlp_step(split, c);
    EXPECT_LE(t.bytes, 8 * (2 * p + 2 * (2 * K + layout)))
        << "batch " << batch << ": " << t.calls << " copies, " << t.bytes << " bytes per step";
    seen.push_back(t.bytes);
  }
  EXPECT_EQ(seen[0], seen[1]); // no bytes per pair
  EXPECT_EQ(seen[0], seen[2]);
}

TEST(Transfers, LogLinearStepMovesOrderKPlusPValuesWhateverN) {
  // The pieces' gradient sums stay on the device: a step moves theta (d values) up, the K loss
  // sums down, a few rows of K coefficients up and a few rows of d sums down. With K = 16 and
  // d = 64 the bound below is smaller than the K (d + 1) sums the step used to copy.
  for (const int dim : {6, 64}) {
    for (const index_t n : {64, 4096}) {
      const int k = dim == 64 ? 16 : 3;
      const auto data = test::random_data(std::vector<index_t>(k, n / k), dim, 3, true);
      const auto split = test::whole_split(data);
      for (const auto method :
           {solver::Method::GrDpo, solver::Method::Dpo, solver::Method::IsDpo}) {
        solver::SolverConfig c;
        c.method = method;
        c.iterations = 10;
        solver::MinimaxSolver s(c, test::self_communicator(), split,
                                solver::MinimaxSolver::initial_theta(c, data.dim));
        s.step();
        TransferCounter counter;
        s.step();
        const auto t = counter.get();
        const std::uint64_t kp = static_cast<std::uint64_t>(k) + dim;
        EXPECT_LE(t.bytes, 8 * 8 * kp) << "d = " << dim << ", N = " << n << ": " << t.calls
                                       << " copies, " << t.bytes << " bytes";
        if (dim == 64) {
          EXPECT_LT(t.bytes, 8 * static_cast<std::uint64_t>(k) * (1 + dim)); // the old copy
        }
        EXPECT_GE(t.bytes, 8 * (static_cast<std::uint64_t>(k) + 2 * dim)); // seen: sums, theta
      }
    }
  }
}

TEST(Transfers, LogLinearMiniBatchMovesOrderKPlusPValuesWhateverTheBatch) {
  const int k = 4;
  const int dim = 8;
  const auto data = test::random_data(std::vector<index_t>(k, 1024), dim, 5, true);
  const auto split = test::whole_split(data);
  std::vector<std::uint64_t> seen;
  for (const index_t batch : {256, 2048}) {
    for (const auto mode : {solver::BatchMode::Uniform, solver::BatchMode::GroupWeighted}) {
      solver::SolverConfig c;
      c.method = solver::Method::GrDpo;
      c.batch_size = batch;
      c.batch_mode = mode;
      c.iterations = 10;
      solver::MinimaxSolver s(c, test::self_communicator(), split,
                              solver::MinimaxSolver::initial_theta(c, data.dim));
      s.step();
      TransferCounter counter;
      s.step();
      const auto t = counter.get();
      EXPECT_LE(t.bytes, 8 * 8 * static_cast<std::uint64_t>(k + dim))
          << "batch " << batch << ": " << t.calls << " copies, " << t.bytes << " bytes";
      seen.push_back(t.bytes);
    }
  }
  EXPECT_EQ(seen[0], seen[2]); // no bytes per drawn row
  EXPECT_EQ(seen[1], seen[3]);
}

} // namespace
