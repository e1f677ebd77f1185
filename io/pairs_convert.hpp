// `grpo convert pairs` (docs/formats.md, "Source pairs"): preference pairs with a group column,
// read from JSON Lines or CSV (io/pairs_reader.hpp), with text features (the hashed n-grams of
// io/text_features.hpp, the hasher of the GlobalOpinionQA converter) or precomputed feature
// vectors and reference log-probabilities, split by a split column or by seeded fractions
// stratified by group, and written as a schema 1.1 dataset.
//
// Two passes over the input, so a file of any size converts in bounded memory: plan_pairs
// reads and checks every row and keeps 5 bytes per pair (its group and split; 8 more per pair
// while fractions are drawn); convert_pairs reads the input again, computes the features and
// hands them out in blocks of consecutive output rows per (split, group), at most
// `buffer_bytes` of features held at a time.
#pragma once

#include "core/communicator.hpp"
#include "core/views.hpp"
#include "io/dataset.hpp"
#include "io/pairs_reader.hpp"
#include "io/text_features.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace grpo::io {

/// Order of the groups in the dataset: first-seen (the order of their first row in the input)
/// or sorted (byte-wise by name).
enum class GroupOrder { FirstSeen, Sorted };
GroupOrder parse_group_order(const std::string& value);
const char* group_order_name(GroupOrder order);

/// The schema 1.1 option datasets: `pair` (the two responses of each pair, so the MLP's SFT
/// stage and its NLL metrics have their options) or `none` (log-linear training needs none).
enum class PairOptions { Pair, None };
PairOptions parse_pair_options(const std::string& value);
const char* pair_options_name(PairOptions options);

inline constexpr std::size_t kPairsDefaultBufferBytes = std::size_t{64} << 20;

/// Everything that defines a conversion besides the input.
struct PairsSpec {
  PairsFormat format = PairsFormat::Jsonl;
  PairsColumns columns;
  int dim = kTextDefaultDim; ///< text features: d
  double val_fraction = 0.1;
  double test_fraction = 0.1;
  bool fractions_given = false; ///< a split column is then an error (give --split none)
  std::uint64_t seed = 42;
  GroupOrder group_order = GroupOrder::FirstSeen;
  std::int64_t min_pairs = 1; ///< per group, in train and val (and test when it has pairs)
  PairOptions options = PairOptions::Pair;
  /// ConfigError naming the option and the accepted range.
  void validate() const;
};

/// What the first pass learnt: the groups, the split and the place of every pair.
struct PairsPlan {
  std::string checksum; ///< crc32 of the input
  std::uint64_t bytes = 0;
  index_t rows = 0;
  int dim = 0; ///< d of the dataset
  bool has_prompt = false;
  bool split_column = false;                   ///< split from the file (else by fractions)
  std::vector<std::string> groups;             ///< in dataset order
  std::vector<index_t> group_pairs;            ///< pairs of each group, all splits
  std::vector<index_t> group_prompts;          ///< split units of each group (distinct prompts)
  std::array<std::vector<index_t>, 3> offsets; ///< per split (train, val, test): K+1
  std::vector<std::int32_t> row_group;         ///< per input row: its group (dataset order)
  std::vector<std::uint8_t> row_split;         ///< per input row: 0 train, 1 val, 2 test
  index_t split_rows(int s) const { return offsets[static_cast<std::size_t>(s)].back(); }
};

/// First pass: reads and checks every row (DataError naming `name`, the line and the value),
/// assigns groups and splits, checks --min-pairs.
PairsPlan plan_pairs(std::istream& in, const std::string& name, const PairsSpec& spec);
/// The same for a file (IoError when it cannot be read).
PairsPlan plan_pairs(const std::string& path, const PairsSpec& spec);

/// Consecutive dataset rows [begin, begin + count) of one split, and their input lines.
struct PairsBlock {
  int split = 0;
  index_t begin = 0;
  index_t count = 0;
  const float* chosen = nullptr;   ///< [count, d]
  const float* rejected = nullptr; ///< [count, d]
  const float* ref = nullptr;      ///< [count] ref_logratio, null without reference log-probs
  const std::int64_t* line = nullptr;
};

/// Second pass: computes the features of every row of the input planned by `plan` and hands
/// them to `sink` in blocks (IoError when the input changed since the first pass).
void convert_pairs(std::istream& in, const std::string& name, const PairsSpec& spec,
                   const PairsPlan& plan, std::size_t buffer_bytes,
                   const std::function<void(const PairsBlock&)>& sink);

/// phi(x, y) of text features: [ response n-grams (ceil(d/2)) | prompt n-grams (floor(d/2)) ].
void pair_text_features(const std::string& prompt, const std::string& response, int dim,
                        float* out);
/// The dataset's `feature_map` attribute.
std::string pairs_feature_map(const PairsSpec& spec, const PairsPlan& plan);
/// The dataset's root attributes (source "pairs", input and checksum, the resolved options).
DatasetHeader pairs_header(const PairsPlan& plan, const PairsSpec& spec, const std::string& input);
/// Second pass straight into `writer` (rank 0 of a one-rank communicator): every non-empty
/// split's pairs, ref_logratio, the option datasets (PairOptions::Pair) and `line`.
void write_pairs(DatasetWriter& writer, const std::string& input, const PairsSpec& spec,
                 const PairsPlan& plan, std::size_t buffer_bytes = kPairsDefaultBufferBytes);

} // namespace grpo::io
