// TraceReader: reads back what TraceWriter wrote (attributes, status, scalar and vector
// columns, final datasets), and refuses files that are not traces or whose columns do not
// hold one entry per record, naming the file and the dataset.
#include "core/error.hpp"
#include "io/trace_reader.hpp"
#include "io/trace_writer.hpp"
#include "tests/support/expect_error.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace {
using namespace grpo;
using test::expect_data_error;
using test::ScratchDir;

/// A trace of `records` records (iterations 0, 10, ...), completed when `finish`.
void write_trace(const std::string& path, int records, bool finish) {
  const Communicator comm;
  io::TraceHeader header;
  header.group_names = {"a", "b"};
  header.text_attributes["method"] = "gr-dpo";
  header.int_attributes["num_ranks"] = 1;
  io::TraceWriter trace(path, comm, header);
  for (int t = 0; t < records; ++t) {
    TraceRecord r;
    r.iteration = 10 * t;
    r.alpha = {0.5 - 0.1 * t, 0.5 + 0.1 * t};
    r.weights = r.alpha;
    r.train_loss = {1.0 * t, 2.0 * t};
    r.batch_loss = r.train_loss;
    r.worst_train_loss = 2.0 * t;
    r.grad_norm = 0.25 * t;
    trace.append(r);
  }
  if (finish) {
    trace.finish({{"theta_final", {1.0, -2.0, 3.0}}}, {{"records", records}});
  }
}

TEST(TraceReader, ReadsWhatTheWriterWrote) {
  const Communicator comm;
  const ScratchDir scratch(comm, "trace_reader");
  const auto path = scratch.file("trace");
  write_trace(path, 3, true);

  const io::TraceReader trace(path);
  EXPECT_EQ(trace.path(), path);
  EXPECT_EQ(trace.status(), "completed");
  EXPECT_TRUE(trace.completed());
  EXPECT_EQ(trace.text_attribute("method"), std::optional<std::string>("gr-dpo"));
  EXPECT_EQ(trace.text_attribute("no_such_attribute"), std::nullopt);
  EXPECT_EQ(trace.int_attribute("num_ranks"), std::optional<std::int64_t>(1));
  EXPECT_EQ(trace.int_attribute("records"), std::optional<std::int64_t>(3));
  EXPECT_EQ(trace.records(), 3);
  EXPECT_EQ(trace.iterations(), (std::vector<std::int64_t>{0, 10, 20}));
  EXPECT_EQ(trace.scalar("grad_norm"), (std::vector<double>{0.0, 0.25, 0.5}));
  EXPECT_EQ(trace.last("worst_train_loss"), std::optional<double>(4.0));
  EXPECT_EQ(trace.last("no_such_column"), std::nullopt);
  EXPECT_EQ(trace.width("alpha"), 2U);
  const auto alpha = trace.last_row("alpha");
  ASSERT_EQ(alpha.size(), 2U);
  EXPECT_DOUBLE_EQ(alpha[0], 0.3);
  EXPECT_DOUBLE_EQ(alpha[1], 0.7);
  EXPECT_EQ(trace.final_vector("theta_final"), (std::vector<double>{1.0, -2.0, 3.0}));
  // A scalar column is not a vector column and the other way round.
  expect_data_error([&] { (void)trace.width("grad_norm"); }, {path, "grad_norm", "row"});
  expect_data_error([&] { (void)trace.scalar("alpha"); }, {path, "alpha", "one value"});
  expect_data_error([&] { (void)trace.final_vector("theta_avg"); },
                    {path, "theta_avg", "completed grpo trace"});
}

TEST(TraceReader, AnUnfinishedTraceSaysRunning) {
  const Communicator comm;
  const ScratchDir scratch(comm, "trace_reader_running");
  const auto path = scratch.file("trace");
  write_trace(path, 0, false);
  const io::TraceReader trace(path);
  EXPECT_EQ(trace.status(), "running");
  EXPECT_FALSE(trace.completed());
  EXPECT_EQ(trace.records(), 0);
  EXPECT_TRUE(trace.iterations().empty());
  EXPECT_EQ(trace.last("grad_norm"), std::nullopt);
  expect_data_error([&] { (void)trace.final_vector("theta_final"); }, {path, "theta_final"});
}

TEST(TraceReader, RefusesFilesThatAreNotTraces) {
  const Communicator comm;
  const ScratchDir scratch(comm, "trace_reader_other");
  const auto path = scratch.file("other");
  {
    const auto f = io::h5::File::create(path, nullptr);
    f.write_attribute("/", "kind", std::string("dataset"));
  }
  expect_data_error([&] { io::TraceReader trace(path); }, {path, "not a grpo trace", "dataset"});
  const auto bare = scratch.file("bare");
  (void)io::h5::File::create(bare, nullptr);
  expect_data_error([&] { io::TraceReader trace(bare); }, {bare, "not a grpo trace"});
  EXPECT_THROW(io::TraceReader(scratch.file("missing")), IoError);
}

TEST(TraceReader, ChecksShapesAndFiniteness) {
  const Communicator comm;
  const ScratchDir scratch(comm, "trace_reader_shapes");
  const auto path = scratch.file("trace");
  write_trace(path, 3, true);
  {
    const auto f = io::h5::File::open(path, true, nullptr);
    f.remove("grad_norm"); // now 2 values for 3 records
    f.write_vector("grad_norm", {1.0, 2.0});
    f.remove("theta_final");
    f.write_vector("theta_final", {1.0, std::numeric_limits<double>::quiet_NaN()});
  }
  const io::TraceReader trace(path);
  expect_data_error([&] { (void)trace.scalar("grad_norm"); }, {path, "grad_norm", "3 records"});
  expect_data_error([&] { (void)trace.last("grad_norm"); }, {path, "grad_norm"});
  expect_data_error([&] { (void)trace.final_vector("theta_final"); },
                    {path, "theta_final[1]", "not finite"});
  const auto unchecked = trace.final_vector("theta_final", false);
  ASSERT_EQ(unchecked.size(), 2U);
  EXPECT_TRUE(std::isnan(unchecked[1]));
}

} // namespace
