// Tests of `grpo convert pairs` as a library (io/pairs_convert.hpp): groups in first-seen and
// sorted order, the split column, the split by fractions (per group, by prompt, seeded, with the
// documented rounding), --min-pairs, text features from the shared hasher, precomputed features
// and ref_logratio, blocks independent of the buffer size, a file changed between the passes,
// and the written file loaded back with its option datasets.
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "io/pairs_convert.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/scratch_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace grpo::io {
namespace {

std::string jsonl_row(const std::string& group, const std::string& prompt,
                      const std::string& chosen, const std::string& rejected,
                      const std::string& split = "") {
  std::string s = "{\"group\": \"" + group + "\", \"prompt\": \"" + prompt + "\", \"chosen\": \"" +
                  chosen + "\", \"rejected\": \"" + rejected + "\"";
  if (!split.empty()) {
    s += ", \"split\": \"" + split + "\"";
  }
  return s + "}\n";
}

PairsPlan plan_of(const std::string& text, const PairsSpec& spec) {
  std::istringstream in(text);
  return plan_pairs(in, "in", spec);
}

/// Every row of every split as the sink receives them: [split][row] -> (chosen, rejected, ref,
/// line), with a check that blocks are contiguous and never overlap.
struct Collected {
  std::array<std::vector<std::vector<float>>, 3> chosen, rejected;
  std::array<std::vector<float>, 3> ref;
  std::array<std::vector<std::int64_t>, 3> line;
};

Collected collect(const std::string& text, const PairsSpec& spec, const PairsPlan& plan,
                  std::size_t buffer_bytes) {
  Collected out;
  const auto d = static_cast<std::size_t>(plan.dim);
  for (int s = 0; s < 3; ++s) {
    const auto n = static_cast<std::size_t>(plan.split_rows(s));
    out.chosen[s].resize(n);
    out.rejected[s].resize(n);
    out.ref[s].assign(n, -999.0F);
    out.line[s].assign(n, 0);
  }
  std::istringstream in(text);
  convert_pairs(in, "in", spec, plan, buffer_bytes, [&](const PairsBlock& b) {
    for (index_t k = 0; k < b.count; ++k) {
      const auto i = static_cast<std::size_t>(b.begin + k);
      EXPECT_EQ(out.line[b.split][i], 0) << "row written twice";
      out.chosen[b.split][i].assign(b.chosen + k * d, b.chosen + (k + 1) * d);
      out.rejected[b.split][i].assign(b.rejected + k * d, b.rejected + (k + 1) * d);
      out.ref[b.split][i] = b.ref != nullptr ? b.ref[k] : 0.0F;
      out.line[b.split][i] = b.line[k];
    }
  });
  for (int s = 0; s < 3; ++s) {
    for (const auto l : out.line[s]) {
      EXPECT_GT(l, 0) << "a row never written";
    }
  }
  return out;
}

TEST(PairsConvert, SplitColumnAndGroupOrder) {
  std::string text;
  text += jsonl_row("zeta", "p", "a", "b", "train");
  text += jsonl_row("alpha", "p", "a", "b", "val");
  text += jsonl_row("zeta", "p", "a", "b", "val");
  text += jsonl_row("alpha", "p", "a", "b", "train");
  text += jsonl_row("alpha", "q", "a", "b", "train");
  PairsSpec spec;
  auto plan = plan_of(text, spec);
  EXPECT_TRUE(plan.split_column);
  EXPECT_EQ(plan.groups, (std::vector<std::string>{"zeta", "alpha"}));
  EXPECT_EQ(plan.offsets[0], (std::vector<index_t>{0, 1, 3}));
  EXPECT_EQ(plan.offsets[1], (std::vector<index_t>{0, 1, 2}));
  EXPECT_EQ(plan.offsets[2], (std::vector<index_t>{0, 0, 0}));
  spec.group_order = GroupOrder::Sorted;
  plan = plan_of(text, spec);
  EXPECT_EQ(plan.groups, (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ(plan.offsets[0], (std::vector<index_t>{0, 2, 3}));
  // Rows keep their input order within a (split, group): lines 4 and 5 are alpha's train rows.
  const auto rows = collect(text, spec, plan, 1);
  EXPECT_EQ(rows.line[0], (std::vector<std::int64_t>{4, 5, 1}));
  EXPECT_EQ(rows.line[1], (std::vector<std::int64_t>{2, 3}));
  // Fractions cannot be combined with a split column.
  spec.fractions_given = true;
  EXPECT_THROW(plan_of(text, spec), ConfigError);
}

TEST(PairsConvert, FractionsPerGroupByPromptSeeded) {
  std::string text;
  for (int k = 0; k < 40; ++k) { // group a: 40 prompts, 2 pairs each; group b: 7 prompts
    text += jsonl_row("a", "prompt " + std::to_string(k), "x", "y");
    text += jsonl_row("a", "prompt " + std::to_string(k), "x2", "y2");
    if (k < 7) {
      text += jsonl_row("b", "question " + std::to_string(k), "x", "y");
    }
  }
  PairsSpec spec;
  spec.val_fraction = 0.1;
  spec.test_fraction = 0.25;
  const auto plan = plan_of(text, spec);
  EXPECT_FALSE(plan.split_column);
  EXPECT_EQ(plan.group_prompts, (std::vector<index_t>{40, 7}));
  // a: val round(4) = 4 prompts, test round(10) = 10, train 26 (2 pairs per prompt);
  // b: val max(1, round(0.7)) = 1, test round(1.75) = 2, train 4.
  EXPECT_EQ(plan.offsets[0], (std::vector<index_t>{0, 52, 56}));
  EXPECT_EQ(plan.offsets[1], (std::vector<index_t>{0, 8, 9}));
  EXPECT_EQ(plan.offsets[2], (std::vector<index_t>{0, 20, 22}));
  // Both pairs of a prompt share its split.
  std::map<std::string, std::set<int>> splits_of_prompt;
  {
    std::istringstream in(text);
    PairsReader reader(in, "in", PairsFormat::Jsonl, {});
    PairRow row;
    std::size_t i = 0;
    while (reader.next(row)) {
      splits_of_prompt[row.prompt].insert(plan.row_split[i++]);
    }
  }
  for (const auto& [prompt, splits] : splits_of_prompt) {
    EXPECT_EQ(splits.size(), 1u) << prompt;
  }
  // Deterministic; another seed gives another split of the same sizes.
  EXPECT_EQ(plan_of(text, spec).row_split, plan.row_split);
  spec.seed = 7;
  const auto other = plan_of(text, spec);
  EXPECT_EQ(other.offsets, plan.offsets);
  EXPECT_NE(other.row_split, plan.row_split);
  // No test split with --test-fraction 0.
  spec.test_fraction = 0.0;
  EXPECT_EQ(plan_of(text, spec).split_rows(2), 0);
}

TEST(PairsConvert, MinPairsIsCheckedPerGroupAndSplit) {
  std::string text;
  for (int k = 0; k < 20; ++k) {
    text += jsonl_row("big", "p" + std::to_string(k), "x", "y");
  }
  text += jsonl_row("small", "only", "x", "y");
  text += jsonl_row("small", "other", "x", "y");
  PairsSpec spec;
  try {
    plan_of(text, spec);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("group 'small' has 2 pairs, 2 distinct prompts: train 0, val 1, test 1"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("--min-pairs"), std::string::npos) << m;
  }
  spec.test_fraction = 0.0;
  EXPECT_NO_THROW(plan_of(text, spec));
  spec.min_pairs = 2;
  EXPECT_THROW(plan_of(text, spec), DataError);
  // An empty file.
  EXPECT_THROW(plan_of("\n\n", PairsSpec{}), DataError);
}

TEST(PairsConvert, HashTextIsHashNgramsOfTextNgrams) {
  // The allocation-free hash_text against the n-gram strings, on random texts of letters,
  // digits, punctuation, spaces and UTF-8 bytes.
  const std::string alphabet = "aZ9 ,.-\n\xc3\xa9Qx  b";
  std::uint64_t state = 12345;
  for (int t = 0; t < 500; ++t) {
    std::string text;
    const int length = t % 60;
    for (int k = 0; k < length; ++k) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      text += alphabet[(state >> 33) % alphabet.size()];
    }
    for (const int size : {1, 7, 29}) {
      std::vector<float> fast(static_cast<std::size_t>(size));
      std::vector<float> slow(static_cast<std::size_t>(size));
      hash_text(text, fast.data(), size);
      hash_ngrams(text_ngrams(text), slow.data(), size);
      ASSERT_EQ(fast, slow) << "text '" << text << "', size " << size;
    }
  }
}

TEST(PairsConvert, TextFeaturesUseTheSharedHasher) {
  std::string text;
  for (int k = 0; k < 10; ++k) {
    text += jsonl_row("g", "What is " + std::to_string(k) + "?", "A short answer", "No idea",
                      k < 8 ? "train" : "val");
  }
  PairsSpec spec;
  spec.dim = 17;
  const auto plan = plan_of(text, spec);
  const auto rows = collect(text, spec, plan, kPairsDefaultBufferBytes);
  std::vector<float> want(17);
  hash_ngrams(text_ngrams("A short answer"), want.data(), 9);
  hash_ngrams(text_ngrams("What is 3?"), want.data() + 9, 8);
  EXPECT_EQ(rows.chosen[0][3], want);
  pair_text_features("What is 3?", "No idea", 17, want.data());
  EXPECT_EQ(rows.rejected[0][3], want);
  EXPECT_EQ(rows.ref[0][3], 0.0F);
  EXPECT_NE(pairs_feature_map(spec, plan).find(kNgramHashDescription), std::string::npos);
}

TEST(PairsConvert, PrecomputedFeaturesAndReferenceIndependentOfTheBuffer) {
  std::string text = "group,split,cf_0,cf_1,cf_2,rf_0,rf_1,rf_2,lp_w,lp_l\n";
  for (int k = 0; k < 30; ++k) {
    const std::string split = k % 5 == 0 ? "val" : (k % 5 == 1 ? "test" : "train");
    text += "g" + std::to_string(k % 3) + "," + split + "," + std::to_string(k) + ",0.5," +
            std::to_string(-k) + ",1,2,3," + std::to_string(-10 - k) + ",-10.25\n";
  }
  PairsSpec spec;
  spec.format = PairsFormat::Csv;
  spec.columns.chosen_features = "cf_";
  spec.columns.rejected_features = "rf_";
  spec.columns.ref_chosen = "lp_w";
  spec.columns.ref_rejected = "lp_l";
  const auto plan = plan_of(text, spec);
  EXPECT_EQ(plan.dim, 3);
  const auto big = collect(text, spec, plan, kPairsDefaultBufferBytes);
  const auto tiny = collect(text, spec, plan, 1); // one row per block
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(big.chosen[s], tiny.chosen[s]);
    EXPECT_EQ(big.rejected[s], tiny.rejected[s]);
    EXPECT_EQ(big.ref[s], tiny.ref[s]);
    EXPECT_EQ(big.line[s], tiny.line[s]);
  }
  // Row k of the input is on line k + 2; check every row against the text.
  for (int s = 0; s < 3; ++s) {
    for (std::size_t i = 0; i < big.line[s].size(); ++i) {
      const auto k = static_cast<int>(big.line[s][i] - 2);
      EXPECT_EQ(big.chosen[s][i],
                (std::vector<float>{static_cast<float>(k), 0.5F, static_cast<float>(-k)}));
      EXPECT_EQ(big.rejected[s][i], (std::vector<float>{1.0F, 2.0F, 3.0F}));
      EXPECT_EQ(big.ref[s][i], static_cast<float>(-10.0 - k + 10.25));
    }
  }
  // The input changed between the passes: an IoError.
  std::string shorter = text.substr(0, text.rfind('\n', text.size() - 2) + 1);
  std::istringstream in(shorter);
  EXPECT_THROW(convert_pairs(in, "in", spec, plan, 1, [](const PairsBlock&) {}), IoError);
}

TEST(PairsConvert, SpecValidation) {
  PairsSpec spec;
  spec.columns.chosen_features = "cf";
  EXPECT_THROW(spec.validate(), ConfigError); // without --rejected-features
  spec = {};
  spec.columns.ref_chosen = "a";
  EXPECT_THROW(spec.validate(), ConfigError);
  spec = {};
  spec.val_fraction = 0.0;
  EXPECT_THROW(spec.validate(), ConfigError);
  spec = {};
  spec.val_fraction = 0.6;
  spec.test_fraction = 0.4;
  EXPECT_THROW(spec.validate(), ConfigError);
  spec = {};
  spec.dim = 4;
  EXPECT_THROW(spec.validate(), ConfigError);
  spec = {};
  spec.min_pairs = 0;
  EXPECT_THROW(spec.validate(), ConfigError);
  EXPECT_EQ(parse_group_order("sorted"), GroupOrder::Sorted);
  EXPECT_THROW(parse_group_order("by-size"), ConfigError);
  EXPECT_EQ(parse_pair_options("none"), PairOptions::None);
  EXPECT_THROW(parse_pair_options("all"), ConfigError);
}

TEST(PairsConvert, WrittenFileLoadsWithItsOptions) {
  const auto self = test::self_communicator();
  const test::ScratchDir scratch(self, "pairs");
  const std::string input = scratch.path("in.jsonl");
  std::string text;
  for (int k = 0; k < 24; ++k) {
    text += jsonl_row(k % 3 == 0 ? "b" : "a", "prompt " + std::to_string(k),
                      "good answer " + std::to_string(k), "bad " + std::to_string(k));
  }
  { std::ofstream(input) << text; }
  PairsSpec spec;
  spec.dim = 16;
  spec.test_fraction = 0.2;
  const auto plan = plan_pairs(input, spec);
  const auto out = scratch.file("pairs");
  {
    DatasetWriter writer(out, self, pairs_header(plan, spec, input));
    write_pairs(writer, input, spec, plan, 1);
    writer.commit();
  }
  const auto summary = inspect_dataset(out);
  EXPECT_EQ(summary.source, "pairs");
  EXPECT_EQ(summary.group_names, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(summary.attributes.at("input_checksum"), file_checksum(input));
  EXPECT_EQ(summary.attributes.at("features"), "text");
  ASSERT_EQ(summary.splits.size(), 3u);
  LoadOptions request;
  request.options = true;
  request.pair_features = true;
  request.test = true;
  const auto loaded = load_dataset(summary, self, request);
  EXPECT_EQ(loaded.train.offsets, plan.offsets[0]);
  EXPECT_EQ(loaded.test.offsets, plan.offsets[2]);
  const auto rows = collect(text, spec, plan, 1);
  const auto options = Kokkos::create_mirror_view_and_copy(HostSpace(), loaded.train.options);
  const auto chosen = Kokkos::create_mirror_view_and_copy(HostSpace(), loaded.train.chosen);
  const auto rejected_option =
      Kokkos::create_mirror_view_and_copy(HostSpace(), loaded.train.rejected_option);
  const auto n = static_cast<std::size_t>(plan.split_rows(0));
  ASSERT_EQ(options.extent(0), 2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(rejected_option(i), 1);
    for (std::size_t j = 0; j < 16; ++j) {
      EXPECT_EQ(chosen(i, j), rows.chosen[0][i][j]);
      EXPECT_EQ(options(2 * i, j), rows.chosen[0][i][j]);
      EXPECT_EQ(options(2 * i + 1, j), rows.rejected[0][i][j]);
    }
  }
}

} // namespace
} // namespace grpo::io
