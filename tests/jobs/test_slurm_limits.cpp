// The Slurm executor's packing: the cluster's limits read from `scontrol show config`, and the
// number of array elements a submission's arrays get within them (jobs/executors.hpp).
#include "jobs/executors.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace {

using grpo::jobs::array_elements;
using grpo::jobs::parse_slurm_config;
using grpo::jobs::SlurmLimits;

TEST(SlurmLimits, ReadFromScontrolShowConfig) {
  const char* text = "Configuration data as of 2026-12-07T08:00:00\n"
                     "AccountingStorageType   = accounting_storage/none\n"
                     "MaxArraySize            = 4\n"
                     "MaxDBDMsgs              = 20016\n"
                     "MaxJobCount             = 250\n"
                     "MaxJobId                = 67043328\n";
  const SlurmLimits limits = parse_slurm_config(text);
  EXPECT_EQ(limits.max_array_size, 4U);
  EXPECT_EQ(limits.max_job_count, 250U);
}

TEST(SlurmLimits, DefaultsForWhatTheTextDoesNotSay) {
  const SlurmLimits limits = parse_slurm_config("MaxArraySizeX = 3\nMaxJobCount = lots\n");
  EXPECT_EQ(limits.max_array_size, 1001U);
  EXPECT_EQ(limits.max_job_count, 10000U);
}

TEST(SlurmLimits, SmallArraysKeepOneTaskAnElement) {
  EXPECT_EQ(array_elements({1, 4, 2, 1}, SlurmLimits{}), (std::vector<std::size_t>{1, 4, 2, 1}));
}

TEST(SlurmLimits, ArraysAreCappedByMaxArraySizeAndAThousand) {
  EXPECT_EQ(array_elements({10, 3, 4}, SlurmLimits{4, 10000}), (std::vector<std::size_t>{4, 3, 4}));
  // A 10^5-run sweep: at most 1000 elements even where MaxArraySize allows more.
  EXPECT_EQ(array_elements({1, 100000, 3300, 1}, SlurmLimits{40001, 1000000}),
            (std::vector<std::size_t>{1, 1000, 1000, 1}));
  EXPECT_EQ(array_elements({100000}, SlurmLimits{}), (std::vector<std::size_t>{1000}));
}

TEST(SlurmLimits, AllArraysTogetherStayWithinHalfOfMaxJobCount) {
  const auto e = array_elements({1, 5000, 400, 1}, SlurmLimits{1001, 1000});
  const auto total = std::accumulate(e.begin(), e.end(), std::size_t{0});
  EXPECT_LE(total, 500U);
  for (const auto n : e) {
    EXPECT_GE(n, 1U);
  }
  EXPECT_EQ(e[0], 1U);
  EXPECT_EQ(e[3], 1U);
  EXPECT_GT(e[1], 200U); // the budget goes to the large arrays
  // Never fewer than one element an array, whatever the limits say.
  EXPECT_EQ(array_elements({7, 7, 7}, SlurmLimits{1, 1}), (std::vector<std::size_t>{1, 1, 1}));
}

} // namespace
