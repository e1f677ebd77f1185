// MLP policy under mpiexec -n 1, 2, 3: the seeded initialisation is identical on every rank
// (compared with rank 0's), and pair gradients computed on each rank's share of the pairs and
// summed by one Allreduce of P doubles equal the one-rank gradient of all pairs.
#include "core/communicator.hpp"
#include "core/rng.hpp"
#include "policies/mlp_policy.hpp"
#include "tests/support/mpi_test.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using namespace grpo;
using policies::Activation;
using policies::MlpConfig;
using policies::MlpPolicy;
using policies::MlpWorkspace;
using policies::RowSelection;

MlpConfig config(Activation act, std::vector<int> hidden) {
  MlpConfig c;
  c.input_dim = 5;
  c.hidden = std::move(hidden);
  c.activation = act;
  return c;
}

TEST(MlpMpi, InitialisationIsIdenticalOnEveryRank) {
  Communicator comm;
  for (auto act : {Activation::Relu, Activation::Tanh, Activation::Gelu}) {
    for (std::uint64_t seed : {0ULL, 7ULL, 123456789ULL}) {
      const MlpPolicy policy(config(act, {16, 8}), seed);
      const auto mine = policy.params_host();
      auto root = mine;
      comm.broadcast(root, 0);
      double diff = 0.0;
      for (std::size_t p = 0; p < mine.size(); ++p) {
        diff = std::max(diff, std::abs(mine[p] - root[p]));
      }
      const double worst = comm.allreduce_max(diff);
      EXPECT_EQ(worst, 0.0) << policies::activation_name(act) << " seed " << seed;
      EXPECT_TRUE(test::all_ranks(comm, static_cast<index_t>(mine.size()) == policy.num_params()));
    }
  }
}

TEST(MlpMpi, AllreducedGradientEqualsTheOneRankGradient) {
  Communicator comm;
  const auto c = config(Activation::Tanh, {6, 4});
  const MlpPolicy policy(c, 99);
  const index_t total = 53;
  // Every rank builds the same table; rank r takes the pairs r, r + size, r + 2 size, ...
  Kokkos::View<float**, MemSpace> chosen("chosen", total, c.input_dim);
  Kokkos::View<float**, MemSpace> rejected("rejected", total, c.input_dim);
  auto hc = Kokkos::create_mirror_view(chosen);
  auto hr = Kokkos::create_mirror_view(rejected);
  for (index_t i = 0; i < total; ++i) {
    for (int j = 0; j < c.input_dim; ++j) {
      hc(i, j) = static_cast<float>(2.0 * rng::to_unit(rng::hash(1, i, j)) - 1.0);
      hr(i, j) = static_cast<float>(2.0 * rng::to_unit(rng::hash(2, i, j)) - 1.0);
    }
  }
  Kokkos::deep_copy(chosen, hc);
  Kokkos::deep_copy(rejected, hr);
  View1<double> coeff("coeff", total);
  auto hcoeff = Kokkos::create_mirror_view(coeff);
  for (index_t i = 0; i < total; ++i) {
    hcoeff(i) = std::cos(static_cast<double>(i));
  }
  Kokkos::deep_copy(coeff, hcoeff);

  std::vector<index_t> mine;
  for (index_t i = comm.rank(); i < total; i += comm.size()) {
    mine.push_back(i);
  }
  View1<index_t> index("index", mine.size());
  View1<double> my_coeff("my_coeff", mine.size());
  auto hindex = Kokkos::create_mirror_view(index);
  auto hmy = Kokkos::create_mirror_view(my_coeff);
  for (std::size_t k = 0; k < mine.size(); ++k) {
    hindex(k) = mine[k];
    hmy(k) = hcoeff(mine[k]);
  }
  Kokkos::deep_copy(index, hindex);
  Kokkos::deep_copy(my_coeff, hmy);

  const ExecSpace space;
  MlpWorkspace ws(c, 2 * total);
  View1<double> margins("margins", total);
  View1<double> local("local", policy.num_params());
  policy.pair_margins(space, ws, chosen, rejected, RowSelection::rows(index), margins);
  policy.accumulate_pair_gradient(space, ws, my_coeff, local);
  auto reduced = std::vector<double>(policy.num_params());
  {
    auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), local);
    std::copy(h.data(), h.data() + h.extent(0), reduced.begin());
  }
  comm.allreduce_sum(reduced);

  View1<double> whole("whole", policy.num_params());
  policy.pair_margins(space, ws, chosen, rejected, RowSelection::range(0, total), margins);
  policy.accumulate_pair_gradient(space, ws, coeff, whole);
  auto hw = Kokkos::create_mirror_view_and_copy(HostSpace(), whole);
  double worst = 0.0;
  for (std::size_t p = 0; p < reduced.size(); ++p) {
    worst = std::max(worst, std::abs(reduced[p] - hw(p)) / std::max(1.0, std::abs(hw(p))));
  }
  worst = comm.allreduce_max(worst);
  EXPECT_LT(worst, 1e-12);
}

} // namespace
