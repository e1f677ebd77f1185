// Checkpoints under mpiexec -n 1, 2, 3: an MLP checkpoint (reference network, optimiser state,
// learning rate, finals) and a log-linear one round-trip through the file; resume_checkpoint
// gives every rank rank 0's checkpoint, refuses another configuration or dataset, and returns
// nothing without a file; a schema 1.0 file (no policy attribute) reads as log-linear.
#include "core/error.hpp"
#include "io/checkpoint.hpp"
#include "io/hdf5.hpp"
#include "tests/support/mpi_test.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace {

using namespace grpo;
using test::ScratchDir;

io::Checkpoint mlp_checkpoint() {
  io::Checkpoint c;
  c.state.policy = "mlp";
  c.state.iteration = 42;
  c.state.theta = {0.5, -1.25, 3.0};
  c.state.log_alpha = {-0.1, -2.4};
  c.state.alpha_avg = {0.6, 0.4};
  c.state.reference = {0.25, 0.125, -8.0};
  c.state.optimizer = {2.0, 3.0, 42.0, 1e-3, 2e-3, 3e-3, 4e-6, 5e-6, 6e-6};
  c.state.lr = 3e-4;
  c.config = "policy = mlp\nbeta = 0.5\n";
  c.dataset_checksum = "1234abcd";
  c.num_ranks = 2;
  c.trace_records = 7;
  c.wall_seconds = 1.5;
  c.sft_seconds = 0.25;
  c.finals = {{"sft_train_nll", {1.75}}, {"sft_val_loss", {0.5, 0.75}}};
  return c;
}

void expect_equal(const io::Checkpoint& a, const io::Checkpoint& b) {
  EXPECT_EQ(a.state.policy, b.state.policy);
  EXPECT_EQ(a.state.iteration, b.state.iteration);
  EXPECT_EQ(a.state.theta, b.state.theta);
  EXPECT_EQ(a.state.theta_avg, b.state.theta_avg);
  EXPECT_EQ(a.state.log_alpha, b.state.log_alpha);
  EXPECT_EQ(a.state.alpha_avg, b.state.alpha_avg);
  EXPECT_EQ(a.state.reference, b.state.reference);
  EXPECT_EQ(a.state.optimizer, b.state.optimizer);
  EXPECT_EQ(a.state.lr, b.state.lr);
  EXPECT_EQ(a.state.adagrad, b.state.adagrad);
  EXPECT_EQ(a.state.empty_group_steps, b.state.empty_group_steps);
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.dataset_checksum, b.dataset_checksum);
  EXPECT_EQ(a.num_ranks, b.num_ranks);
  EXPECT_EQ(a.trace_records, b.trace_records);
  EXPECT_EQ(a.wall_seconds, b.wall_seconds);
  EXPECT_EQ(a.sft_seconds, b.sft_seconds);
  EXPECT_EQ(a.finals, b.finals);
}

TEST(Checkpoint, MlpStateRoundTripsAndReachesEveryRank) {
  const Communicator comm;
  ScratchDir dir(comm, "ckpt_mlp");
  const auto path = dir.path("run.ckpt");
  const auto want = mlp_checkpoint();
  if (comm.is_root()) {
    io::write_checkpoint(path, want);
    expect_equal(io::read_checkpoint(path), want);
  }
  comm.barrier();
  const auto got = io::resume_checkpoint(path, "d.h5", want.config, want.dataset_checksum, comm);
  ASSERT_TRUE(got.has_value());
  expect_equal(*got, want); // on every rank, from rank 0's read
  EXPECT_FALSE(io::resume_checkpoint(dir.path("absent.ckpt"), "d.h5", want.config,
                                     want.dataset_checksum, comm)
                   .has_value());
}

TEST(Checkpoint, LogLinearStateRoundTrips) {
  const Communicator comm;
  ScratchDir dir(comm, "ckpt_linear");
  const auto path = dir.path("run.ckpt");
  io::Checkpoint want;
  want.state.iteration = 3;
  want.state.theta = {1.0, 2.0};
  want.state.theta_avg = {0.5, 1.5};
  want.state.log_alpha = {-0.5, -0.9};
  want.state.alpha_avg = {0.5, 0.5};
  want.state.adagrad = 2.5;
  want.state.empty_group_steps = 1;
  want.config = "method = gr-dpo\n";
  want.dataset_checksum = "ff";
  if (comm.is_root()) {
    io::write_checkpoint(path, want);
    expect_equal(io::read_checkpoint(path), want);
  }
  comm.barrier();
}

TEST(Checkpoint, ResumeRefusesAnotherRunOnEveryRank) {
  const Communicator comm;
  ScratchDir dir(comm, "ckpt_refuse");
  const auto path = dir.path("run.ckpt");
  const auto c = mlp_checkpoint();
  if (comm.is_root()) {
    io::write_checkpoint(path, c);
  }
  comm.barrier();
  try {
    io::resume_checkpoint(path, "d.h5", "policy = mlp\nbeta = 0.7\n", c.dataset_checksum, comm);
    ADD_FAILURE() << "another configuration was accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("beta = 0.5"), std::string::npos) << what;
    EXPECT_NE(what.find("beta = 0.7"), std::string::npos) << what;
  }
  EXPECT_THROW(io::resume_checkpoint(path, "d.h5", c.config, "00000000", comm), DataError);
}

TEST(Checkpoint, SchemaOneZeroFilesReadAsLogLinearAndMlpNeedsItsOptimizer) {
  const Communicator comm;
  ScratchDir dir(comm, "ckpt_schema");
  if (!comm.is_root()) {
    return;
  }
  io::Checkpoint linear;
  linear.state.theta = {1.0};
  linear.state.theta_avg = {1.0};
  linear.state.log_alpha = {0.0};
  linear.state.alpha_avg = {1.0};
  const auto old_path = dir.path("old.ckpt");
  io::write_checkpoint(old_path, linear);
  {
    auto f = io::h5::File::open(old_path, true, nullptr);
    f.write_attribute("/", "schema_version", std::string("1.0"));
    H5Adelete(f.id(), "policy");
    H5Adelete(f.id(), "lr");
    H5Adelete(f.id(), "sft_seconds");
  }
  EXPECT_EQ(io::read_checkpoint(old_path).state.policy, "loglinear");

  auto mlp = mlp_checkpoint();
  mlp.state.optimizer.clear();
  const auto bad = dir.path("bad.ckpt");
  io::write_checkpoint(bad, mlp);
  try {
    io::read_checkpoint(bad);
    ADD_FAILURE() << "an MLP checkpoint without optimizer_state was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer_state"), std::string::npos) << e.what();
  }
  mlp = mlp_checkpoint();
  mlp.state.policy = "transformer";
  io::write_checkpoint(bad, mlp);
  EXPECT_THROW(io::read_checkpoint(bad), DataError);
}

} // namespace
