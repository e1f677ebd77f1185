// Trace packs: every dataset and attribute of the packed traces comes back bit for bit (record
// columns of different widths, columns only some runs have, end-of-run arrays, group names),
// the pack is written whole or not at all, and bad input is refused naming file and dataset.
#include "core/error.hpp"
#include "io/trace_pack.hpp"
#include "io/trace_reader.hpp"
#include "io/trace_writer.hpp"
#include "tests/support/expect_error.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace {
using namespace grpo;
using test::expect_data_error;
using test::ScratchDir;

/// A trace of `records` records over `groups` groups; with `val`, a validation column too.
void write_trace(const std::string& path, int records, int groups, bool val, bool finish) {
  const Communicator comm;
  io::TraceHeader header;
  for (int g = 0; g < groups; ++g) {
    header.group_names.push_back("g" + std::to_string(g));
  }
  header.text_attributes["method"] = val ? "gr-dpo" : "ipo";
  header.int_attributes["seed"] = 2021 + records;
  io::TraceWriter trace(path, comm, header);
  for (int t = 0; t < records; ++t) {
    TraceRecord r;
    r.iteration = 7 * t;
    for (int g = 0; g < groups; ++g) {
      r.alpha.push_back(1.0 / groups + 0.01 * t * g);
      r.train_loss.push_back(std::sqrt(1.0 + t + g)); // inexact values: bits must survive
    }
    r.weights = r.alpha;
    r.batch_loss = r.train_loss;
    r.worst_train_loss = r.train_loss.back();
    if (val) {
      r.val_loss = r.train_loss;
      r.worst_val_loss = std::exp(-0.1 * t);
    }
    r.grad_norm = 1.0 / (3.0 + t);
    trace.append(r);
  }
  if (finish) {
    trace.finish({{"theta_final", {1.0 / 3.0, -2.0, 3.0}}}, {{"records", records}});
  }
}

std::vector<double> read_column(const std::string& path, const std::string& name) {
  const auto f = io::h5::File::open(path, false, nullptr);
  return f.read_double(name);
}

TEST(TracePack, HoldsEveryDatasetAndAttributeOfItsTraces) {
  const Communicator comm;
  const ScratchDir scratch(comm, "trace_pack");
  const auto a = scratch.file("a");
  const auto b = scratch.file("b");
  const auto c = scratch.file("c");
  write_trace(a, 3, 2, true, true);
  write_trace(b, 5, 3, false, true); // three groups, no validation columns
  write_trace(c, 0, 2, true, false); // still running: no record, no column yet
  const auto pack_path = scratch.file("pack");
  io::write_trace_pack(pack_path, {{"ta", "h1", a}, {"tb", "h2", b}, {"tc", "h3", c}});
  EXPECT_FALSE(std::filesystem::exists(pack_path + ".tmp"));

  const io::TracePack pack(pack_path);
  ASSERT_EQ(pack.size(), 3U);
  EXPECT_EQ(pack.task(1), "tb");
  EXPECT_EQ(pack.hash(1), "h2");
  EXPECT_EQ(pack.records(0), 3);
  EXPECT_EQ(pack.records(1), 5);
  EXPECT_EQ(pack.records(2), 0);
  EXPECT_EQ(pack.find("tb", "h2"), std::optional<std::size_t>(1));
  EXPECT_EQ(pack.find("tb", "other"), std::nullopt);
  EXPECT_EQ(pack.status(0), "completed");
  EXPECT_EQ(pack.status(2), "running");
  EXPECT_EQ(pack.attribute(1, "method"), std::optional<std::string>("ipo"));
  EXPECT_EQ(pack.attribute(1, "seed"), std::optional<std::string>("2026"));
  EXPECT_EQ(pack.attribute(1, "no_such"), std::nullopt);

  // Scalar columns: the same values as each trace, bit for bit.
  for (const auto& [run, path] : {std::pair<std::size_t, std::string>{0, a}, {1, b}}) {
    const io::TraceReader trace(path);
    EXPECT_EQ(pack.scalar(run, "grad_norm"), trace.scalar("grad_norm"));
    EXPECT_EQ(pack.last(run, "worst_train_loss"), trace.last("worst_train_loss"));
  }
  EXPECT_EQ(pack.last(1, "worst_val_loss"), std::nullopt); // b has no validation split
  EXPECT_EQ(pack.last(2, "grad_norm"), std::nullopt);      // c has no record
  EXPECT_EQ(pack.last(0, "alpha"), std::nullopt);          // not a scalar column

  // The layout itself (docs/formats.md): columns concatenated run after run, row-major.
  const auto f = io::h5::File::open(pack_path, false, nullptr);
  EXPECT_EQ(f.read_int64("record_widths/train_loss"), (std::vector<std::int64_t>{2, 3, 0}));
  EXPECT_EQ(f.read_int64("record_widths/worst_val_loss"), (std::vector<std::int64_t>{1, 0, 0}));
  auto want = read_column(a, "train_loss");
  const auto from_b = read_column(b, "train_loss");
  want.insert(want.end(), from_b.begin(), from_b.end());
  EXPECT_EQ(f.read_double("records/train_loss"), want);
  EXPECT_EQ(f.read_int_attribute("records/train_loss", "rank"), 2);
  EXPECT_EQ(f.read_int64("records/iteration"),
            (std::vector<std::int64_t>{0, 7, 14, 0, 7, 14, 21, 28}));
  EXPECT_EQ(f.read_int64("final_sizes/theta_final"), (std::vector<std::int64_t>{3, 3, -1}));
  EXPECT_EQ(f.read_double("finals/theta_final"),
            (std::vector<double>{1.0 / 3.0, -2.0, 3.0, 1.0 / 3.0, -2.0, 3.0}));
  const auto groups = f.read_strings("runs/groups");
  ASSERT_EQ(groups.size(), 3U);
  EXPECT_EQ(nlohmann::json::parse(groups[1]), nlohmann::json({"g0", "g1", "g2"}));
  EXPECT_EQ(f.read_string_attribute("/", "kind"), "trace_pack");
  EXPECT_EQ(f.read_int_attribute("/", "runs"), 3);
}

TEST(TracePack, RefusesBadInputAndLeavesNoPartialPack) {
  const Communicator comm;
  const ScratchDir scratch(comm, "trace_pack_bad");
  const auto good = scratch.file("good");
  write_trace(good, 2, 2, true, true);
  const auto pack = scratch.file("pack");

  const auto other = scratch.file("other");
  {
    const auto f = io::h5::File::create(other, nullptr);
    f.write_attribute("/", "kind", std::string("dataset"));
  }
  expect_data_error(
      [&] {
        io::write_trace_pack(pack, {{"t1", "h", good}, {"t2", "h", other}});
      },
      {other, "not a grpo trace"});
  EXPECT_FALSE(std::filesystem::exists(pack));
  EXPECT_FALSE(std::filesystem::exists(pack + ".tmp"));

  const auto ragged = scratch.file("ragged");
  write_trace(ragged, 2, 2, true, true);
  {
    const auto f = io::h5::File::open(ragged, true, nullptr);
    f.write_vector("stray", {1.0, 2.0, 3.0});
  }
  expect_data_error(
      [&] {
        io::write_trace_pack(pack, {{"t", "h", ragged}});
      },
      {ragged, "stray", "one value or row per record"});
  expect_data_error(
      [&] {
        io::write_trace_pack(pack, {{"t", "h", good}, {"t", "h", good}});
      },
      {pack, "'t' given twice"});
  EXPECT_FALSE(std::filesystem::exists(pack));
  EXPECT_THROW(io::write_trace_pack(pack, {{"t", "h", scratch.file("missing")}}), IoError);

  // A pack replaces an older one only once complete.
  io::write_trace_pack(pack, {{"t", "h", good}});
  expect_data_error([&] { io::write_trace_pack(pack, {{"t", "h", other}}); }, {other});
  EXPECT_EQ(io::TracePack(pack).task(0), "t");

  // A damaged pack: a column whose length does not match the run table, a missing table.
  {
    const auto f = io::h5::File::open(pack, true, nullptr);
    f.remove("records/grad_norm");
    f.write_vector("records/grad_norm", {1.0});
    f.write_attribute("records/grad_norm", "rank", std::int64_t{1});
  }
  {
    const io::TracePack damaged(pack);
    expect_data_error([&] { (void)damaged.last(0, "grad_norm"); },
                      {pack, "records/grad_norm", "does not hold 2 values"});
  }
  {
    const auto f = io::h5::File::open(pack, true, nullptr);
    f.remove("runs/hash");
  }
  expect_data_error([&] { io::TracePack p(pack); }, {pack, "runs/hash"});
  expect_data_error([&] { io::TracePack p(other); }, {other, "not a grpo trace pack"});
  expect_data_error([&] { io::TracePack p(good); }, {good, "not a grpo trace pack"});
}

} // namespace
