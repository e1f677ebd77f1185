// The pieces of a training run that grpo train shares between its policies: the trace header
// (io/run_header.hpp) and the checkpoints seen from the run (io/run_checkpoint.hpp).
#include "core/error.hpp"
#include "core/git_revision.hpp"
#include "io/checkpoint.hpp"
#include "io/run_checkpoint.hpp"
#include "io/run_header.hpp"
#include "io/trace_reader.hpp"
#include "io/trace_writer.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {
using namespace grpo;
using test::ScratchDir;

io::DatasetSummary summary_of(const std::string& path) {
  io::DatasetSummary d;
  d.path = path;
  d.source = "synthetic";
  d.feature_dim = 3;
  d.group_names = {"a", "b"};
  d.attributes = {{"preset", "even-imbalanced"}, {"feature_type", "same"}, {"other", "x"}};
  return d;
}

TEST(RunHeader, CommonAttributesThenThePolicys) {
  io::RunHeader run;
  run.config = "method = gr-dpo\n";
  run.method = "gr-dpo";
  run.dataset_checksum = "crc32:00000001";
  run.num_ranks = 2;
  run.iterations = 50;
  run.trace_every = 10;
  run.seed = 7;
  run.dataset_attributes = {"preset", "feature_type", "absent"};
  const auto header = io::trace_header(run, summary_of("data.h5"));
  EXPECT_EQ(header.group_names, (std::vector<std::string>{"a", "b"}));
  const std::map<std::string, std::string> text = {
      {"config", "method = gr-dpo\n"},
      {"method", "gr-dpo"},
      {"git_revision", GRPO_GIT_REVISION},
      {"grpo_version", GRPO_VERSION},
      {"kokkos_backend", header.text_attributes.at("kokkos_backend")},
      {"kokkos_version", header.text_attributes.at("kokkos_version")},
      {"dataset_path", "data.h5"},
      {"dataset_checksum", "crc32:00000001"},
      {"dataset_source", "synthetic"},
      {"dataset_preset", "even-imbalanced"},
      {"dataset_feature_type", "same"}};
  EXPECT_EQ(header.text_attributes, text);
  const std::map<std::string, std::int64_t> ints = {
      {"num_ranks", 2}, {"iterations", 50}, {"trace_every", 10}, {"feature_dim", 3}, {"seed", 7}};
  EXPECT_EQ(header.int_attributes, ints);

  io::RunHeader mlp = run;
  mlp.dataset_attributes.clear();
  mlp.policy_text = {{"policy", "mlp"}, {"network", "3-64-1 tanh"}};
  mlp.policy_int = {{"num_params", 321}};
  const auto h = io::trace_header(mlp, summary_of("data.h5"));
  EXPECT_EQ(h.text_attributes.count("dataset_preset"), 0U);
  EXPECT_EQ(h.text_attributes.at("policy"), "mlp");
  EXPECT_EQ(h.text_attributes.at("network"), "3-64-1 tanh");
  EXPECT_EQ(h.int_attributes.at("num_params"), 321);
  EXPECT_EQ(h.int_attributes.size(), 6U);
}

/// A solver as the run sees it: a state to save, a restore that may refuse.
struct FakeSolver {
  SolverState m_state;
  bool m_refuse = false;
  SolverState state() const { return m_state; }
  void restore(const SolverState& s) {
    if (m_refuse) {
      throw DataError("checkpoint: 3 groups, the data have 2");
    }
    m_state = s;
  }
};

TEST(RunCheckpoint, WritesResumesRestoresAndRemoves) {
  const Communicator comm;
  const ScratchDir scratch(comm, "run_checkpoint");
  const auto data = scratch.file("data");
  if (comm.is_root()) {
    std::ofstream(data) << "bytes of a dataset";
  }
  comm.barrier();
  const std::string checksum = io::dataset_checksum(data, comm);
  EXPECT_EQ(checksum, io::file_checksum(data));

  io::CheckpointSettings settings;
  settings.every = 5;
  settings.path = scratch.file("run_ckpt");
  EXPECT_FALSE(io::resume_run(settings, data, "config", checksum, comm)); // resume not asked
  settings.resume = true;
  EXPECT_FALSE(io::resume_run(settings, data, "config", checksum, comm)); // no file yet

  FakeSolver solver;
  solver.m_state.iteration = 10;
  solver.m_state.theta = {1.0, 2.0};
  solver.m_state.theta_avg = {0.5, 1.5};
  solver.m_state.log_alpha = {-0.7, -0.7};
  solver.m_state.alpha_avg = {0.5, 0.5};
  io::TraceHeader header;
  header.group_names = {"a", "b"};
  io::TraceWriter trace(scratch.file("trace"), comm, header);
  io::Checkpoint base;
  base.config = "config";
  base.dataset_checksum = checksum;
  base.finals = {{"sft_train_nll", {0.5}}};
  io::checkpoint_writer(solver, base, settings, trace, comm)(12.5);

  const auto resumed = io::resume_run(settings, data, "config", checksum, comm);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->state.iteration, 10);
  EXPECT_EQ(resumed->state.theta, solver.m_state.theta);
  EXPECT_EQ(resumed->wall_seconds, 12.5);
  EXPECT_EQ(resumed->num_ranks, comm.size());
  EXPECT_EQ(resumed->trace_records, 0);
  EXPECT_EQ(resumed->finals, base.finals);
  EXPECT_THROW(io::resume_run(settings, data, "other config", checksum, comm), ConfigError);

  FakeSolver fresh;
  io::restore_solver(fresh, *resumed, settings.path);
  EXPECT_EQ(fresh.m_state.iteration, 10);
  fresh.m_refuse = true;
  try {
    io::restore_solver(fresh, *resumed, settings.path);
    ADD_FAILURE() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()),
              "'" + settings.path + "': checkpoint: 3 groups, the data have 2");
  }

  io::remove_checkpoint(settings, false, comm);
  comm.barrier();
  EXPECT_FALSE(std::filesystem::exists(settings.path));
  trace.finish({}, {});
}

TEST(RunCheckpoint, KeptWhenTheRunNeverCheckpointed) {
  const Communicator comm;
  const ScratchDir scratch(comm, "run_checkpoint_kept");
  io::CheckpointSettings settings;
  settings.path = scratch.file("someone_elses_ckpt");
  if (comm.is_root()) {
    std::ofstream(settings.path) << "x";
  }
  io::remove_checkpoint(settings, false, comm); // every = 0 and not resumed: not this run's
  comm.barrier();
  EXPECT_TRUE(std::filesystem::exists(settings.path));
  io::remove_checkpoint(settings, true, comm);
  comm.barrier();
  EXPECT_FALSE(std::filesystem::exists(settings.path));
}

TEST(FileKind, TraceOrDataset) {
  const Communicator comm;
  const ScratchDir scratch(comm, "file_kind");
  const auto path = scratch.file("trace");
  {
    io::TraceHeader header;
    header.group_names = {"a"};
    io::TraceWriter trace(path, comm, header);
    trace.finish({}, {});
  }
  EXPECT_EQ(io::file_kind(path), "trace");
  EXPECT_THROW(io::file_kind(scratch.file("missing")), IoError);
}

} // namespace
