// Dataset writer and reader under mpiexec -n 1, 2, 3: every rank writes its block of a
// generated dataset, then reads back exactly the rows its partition assigns to it.
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/synthetic_bandit.hpp"
#include "io/trace_writer.hpp"
#include "solver/group_partition.hpp"
#include "tests/support/mpi_test.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <unistd.h>

namespace {

using namespace grpo;

using test::ScratchDir;

io::BanditSpec small_spec() {
  io::BanditSpec s = io::bandit_preset("uneven-imbalanced");
  s.train.size = 97;
  s.val.size = 41;
  s.test.size = 13;
  s.num_groups = 3;
  s.train.proportions = {0.2, 0.5, 0.3};
  s.seed = 5;
  return s;
}

void write_dataset(const io::BanditSpec& spec, const std::string& path, const Communicator& comm) {
  io::DatasetHeader header;
  header.feature_dim = spec.feature_dim();
  header.group_names = {"a", "b", "c"};
  header.source = "synthetic";
  header.text_attributes["preset"] = "test";
  io::DatasetWriter writer(path, comm, header);
  for (auto kind : {io::SplitKind::Train, io::SplitKind::Val}) {
    const auto offsets = io::split_offsets(spec, kind);
    const solver::GroupPartition p(offsets, comm.size());
    const auto rows =
        io::generate_rows(spec, kind, p.rank_begin(comm.rank()), p.rank_end(comm.rank()));
    writer.begin_split(io::split_kind_name(kind), offsets);
    writer.write_split_rows(io::split_kind_name(kind), rows.row_begin, rows.row_end,
                            rows.chosen.data(), rows.rejected.data(), nullptr);
  }
  writer.commit();
}

TEST(DatasetIo, RoundTripReadsOnlyTheOwnedRows) {
  Communicator comm;
  const auto spec = small_spec();
  const ScratchDir scratch(comm, "roundtrip");
  const auto path = scratch.file("roundtrip");
  write_dataset(spec, path, comm);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const auto data = io::load_dataset(path, comm);
  bool ok = data.summary.num_groups() == 3 && data.summary.feature_dim == 4 &&
            data.summary.group_names[1] == "b" && data.summary.attributes.at("preset") == "test" &&
            data.env.empty() && !data.val.empty();
  // The rows this rank holds are the partition's rows, and z = chosen - rejected.
  const auto offsets = io::split_offsets(spec, io::SplitKind::Train);
  const solver::GroupPartition p(offsets, comm.size());
  ok = ok && data.train.global_begin == p.rank_begin(comm.rank()) &&
       data.train.local_rows() == p.rank_rows(comm.rank());
  const auto rows = io::generate_rows(spec, io::SplitKind::Train, p.rank_begin(comm.rank()),
                                      p.rank_end(comm.rank()));
  auto z = Kokkos::create_mirror_view_and_copy(HostSpace(), data.train.z);
  double worst = 0.0;
  for (index_t i = 0; i < data.train.local_rows(); ++i) {
    for (int j = 0; j < 4; ++j) {
      const float expected = static_cast<float>(static_cast<double>(rows.chosen[i * 4 + j]) -
                                                static_cast<double>(rows.rejected[i * 4 + j]));
      worst = std::max(worst, static_cast<double>(std::abs(z(i, j) - expected)));
    }
  }
  ok = ok && worst == 0.0;
  EXPECT_TRUE(test::all_ranks(comm, ok)) << "rank " << comm.rank() << " worst " << worst;
}

TEST(DatasetIo, UncommittedWriterLeavesNoFile) {
  Communicator comm;
  const ScratchDir scratch(comm, "aborted");
  const auto path = scratch.file("aborted");
  {
    io::DatasetHeader header;
    header.feature_dim = 2;
    header.group_names = {"x"};
    header.source = "synthetic";
    io::DatasetWriter writer(path, comm, header);
    writer.begin_split("train", {0, 5});
  }
  comm.barrier();
  EXPECT_TRUE(test::all_ranks(comm, !std::filesystem::exists(path) &&
                                        !std::filesystem::exists(path + ".tmp")));
}

TEST(DatasetIo, ChecksumIsZlibCrc32) {
  Communicator comm;
  const ScratchDir scratch(comm, "crc");
  const auto path = scratch.file("crc");
  if (comm.is_root()) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("123456789", f); // the CRC-32 check value of "123456789" is cbf43926
    std::fclose(f);
  }
  comm.barrier();
  EXPECT_EQ(io::file_checksum(path), "crc32:cbf43926");
  EXPECT_EQ(io::file_checksum(path), "crc32:cbf43926"); // kept for the next run of a bundle
  // The same size rewritten in place: the kept checksum is not reused.
  comm.barrier();
  if (comm.is_root()) {
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    std::fputs("987654321", f);
    std::fclose(f);
  }
  comm.barrier();
  EXPECT_NE(io::file_checksum(path), "crc32:cbf43926");
  EXPECT_EQ(io::file_checksum(path), "crc32:015f0201"); // zlib.crc32(b"987654321")
}

TEST(DatasetIo, TraceWriterAppendsFlushedRecords) {
  Communicator comm;
  const ScratchDir scratch(comm, "trace");
  const auto path = scratch.file("trace");
  io::TraceHeader header;
  header.group_names = {"a", "b"};
  header.text_attributes["method"] = "gr-dpo";
  {
    io::TraceWriter trace(path, comm, header);
    for (int t = 0; t < 3; ++t) {
      TraceRecord r;
      r.iteration = 10 * t;
      r.alpha = {0.5 - 0.1 * t, 0.5 + 0.1 * t};
      r.weights = r.alpha;
      r.train_loss = {1.0 * t, 2.0 * t};
      r.batch_loss = r.train_loss;
      r.theta = {1.0, 2.0, 3.0};
      r.grad_norm = t;
      trace.append(r);
    }
    trace.finish({{"theta_final", {1.0, 2.0, 3.0}}}, {{"records", 3}});
  }
  comm.barrier();
  bool ok = true;
  if (comm.is_root()) {
    const auto f = io::h5::File::open(path, false, nullptr);
    ok = f.read_string_attribute("/", "status") == "completed" &&
         f.read_int64("iteration") == std::vector<std::int64_t>{0, 10, 20} &&
         f.info("alpha").dims == std::vector<hsize_t>{3, 2} &&
         f.info("grad_norm").dims == std::vector<hsize_t>{3} &&
         f.read_double("train_loss")[5] == 4.0 && f.read_strings("groups/names")[1] == "b";
  }
  EXPECT_TRUE(test::all_ranks(comm, ok));
}

TEST(DatasetIo, TraceInAMissingDirectoryFailsOnEveryRank) {
  Communicator comm;
  io::TraceHeader header;
  header.group_names = {"a"};
  bool threw = false;
  try {
    io::TraceWriter trace("/nonexistent-dir/x/trace.h5", comm, header);
  } catch (const IoError&) {
    threw = true;
  }
  EXPECT_TRUE(test::all_ranks(comm, threw));
}

} // namespace
