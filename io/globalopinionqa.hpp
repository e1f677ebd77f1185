// The GlobalOpinionQA source (ALGORITHM.md §8.1, docs/formats.md): reads the long-format JSON
// array of (question, country, answer distribution) records, makes per-country preference pairs
// (preferred = the option with the largest share, rejected = a seeded random other option, or
// every other option), splits each country's questions 80/10/10 into train/val/test, and maps
// every option of a pair's prompt to hashed n-gram features (dataset schema 1.1: the pair
// features and all the options). Host-only code, no Views; deterministic and
// platform-independent for a given input and spec (FNV-1a hashing, counter-based draws).
#pragma once

#include "core/communicator.hpp"
#include "core/views.hpp"
#include "io/dataset.hpp"
#include "io/text_features.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::io {

/// How many pairs a (question, country) record gives: one (preferred vs a random other option,
/// ALGORITHM.md §8.1) or all (preferred vs every other option).
enum class OpinionPairs { One, All };
/// ConfigError("option --<option>: invalid value '<v>' (accepted: one, all)") otherwise.
OpinionPairs parse_opinion_pairs(const std::string& value, const std::string& option = "pairs");
const char* opinion_pairs_name(OpinionPairs pairs);

/// The prompt whose n-grams form the question block of the features: `paper` is the official
/// code's prompt "Opinion of people in <country> on: <question>" (ALGORITHM.md §8.1), so one
/// policy can answer each country differently; `question` is the bare question, the same for
/// every country (one policy must then serve conflicting groups).
enum class OpinionPrompt { Paper, Question };
/// ConfigError("option --prompt: invalid value '<v>' (accepted: paper, question)") otherwise.
OpinionPrompt parse_opinion_prompt(const std::string& value);
const char* opinion_prompt_name(OpinionPrompt prompt);
/// The text of the prompt of `question` for `country`.
std::string opinion_prompt_text(OpinionPrompt prompt, const std::string& country,
                                const std::string& question);

inline constexpr int kOpinionMinDim = kTextMinDim;
inline constexpr int kOpinionMaxDim = kTextMaxDim;
inline constexpr int kOpinionMaxTop = 1 << 20;
/// Options per record accepted (GlobalOpinionQA has 2 to 11; --pairs all makes n - 1 pairs of n
/// option rows each, so n is bounded).
inline constexpr int kOpinionMaxOptions = 32;
/// One-hot position slots of the feature map (positions >= 4 share the last slot).
inline constexpr int kOpinionPositionSlots = 5;
/// The position block: the one-hot slots and the relative position k / (n - 1).
inline constexpr int kOpinionPositionSize = kOpinionPositionSlots + 1;

/// Everything that defines a conversion besides the input; the dataset is a pure function of
/// the input bytes and this spec.
struct OpinionSpec {
  /// Groups, in this order (spelling variants allowed). Empty: `top`, or the paper's five.
  std::vector<std::string> countries;
  int top = 0; ///< > 0: the `top` groups with the most records (ties by name)
  OpinionPairs pairs = OpinionPairs::One;
  OpinionPrompt prompt = OpinionPrompt::Paper;
  int dim = 64; ///< feature dimension d >= kOpinionMinDim
  std::uint64_t seed = 42;
  /// Throws ConfigError naming the option, the value and the accepted range.
  void validate() const;
};

/// The paper's five groups (goqa_0 .. goqa_4): Nigeria, Egypt, India (Current national sample),
/// China, Japan.
const std::vector<std::string>& opinion_default_countries();

/// Labels that name the same country in different source surveys, and the one spelling the
/// converter uses for them (docs/formats.md). Non-national samples are never merged with
/// national ones.
struct CountryAlias {
  const char* label;
  const char* canonical;
};
const std::vector<CountryAlias>& country_aliases();
/// The canonical spelling of a group label (the label itself when it has no alias).
std::string canonical_country(const std::string& label);

/// One record of the input, validated.
struct OpinionRecord {
  std::int64_t id = 0;
  std::string question; ///< the bare question text (bare_question of the `question` field)
  std::vector<std::string> options;
  std::string attribute;            ///< the group label as spelled in the file
  std::string country;              ///< canonical_country(attribute)
  std::vector<double> distribution; ///< gold_distribution
};

/// The survey question of a `question` field "Question: <text>\nOptions: A. ... \nAnswer:":
/// the text between the "Question:" prefix and "\nOptions:" (or "\nAnswer:"), trimmed; a field
/// without that template is taken whole (trimmed).
std::string bare_question(const std::string& field);

/// Parses a JSON array of records (README of data/globalopinionqa). `name` names the input in
/// messages: every problem is a one-line DataError naming it, the record (index and id), the
/// field and the value.
std::vector<OpinionRecord> parse_opinion_records(const std::string& text, const std::string& name);
/// Reads the file (IoError when it cannot be read) and parses it.
std::vector<OpinionRecord> read_opinion_records(const std::string& path);

// ---------------------------------------------------------------------------------------------
// The feature map phi(x, y) of option y of prompt x (docs/formats.md, "GlobalOpinionQA").

/// [ option n-grams | question n-grams | position ]: sizes (d - 6 + 1) / 2, (d - 6) / 2, 6.
struct OpinionFeatureLayout {
  int option_begin = 0;
  int option_size = 0;
  int question_begin = 0;
  int question_size = 0;
  int position_begin = 0;
  int position_size = kOpinionPositionSize;
};
OpinionFeatureLayout opinion_feature_layout(int dim);

/// phi(x, y_k) for option k of n: writes dim floats.
void opinion_features(const std::string& question, const std::string& option, int k, int n, int dim,
                      float* out);
/// A one-line description of the feature map (stored as the dataset's `feature_map`).
std::string opinion_feature_map(int dim);

// ---------------------------------------------------------------------------------------------
// Conversion

/// One split, samples sorted by group; host buffers ready for DatasetWriter.
struct OpinionSplit {
  std::vector<index_t> offsets;              ///< K+1
  std::vector<float> chosen;                 ///< [N * d]
  std::vector<float> rejected;               ///< [N * d]
  std::vector<std::int64_t> option_offsets;  ///< N+1
  std::vector<float> options;                ///< [M * d]
  std::vector<std::int32_t> chosen_option;   ///< [N]
  std::vector<std::int32_t> rejected_option; ///< [N]
  std::vector<std::int64_t> question;        ///< [N] question index (OpinionDataset)
  std::vector<std::int64_t> record_id;       ///< [N] the record's `id`
  index_t rows() const { return offsets.empty() ? 0 : offsets.back(); }
  index_t option_rows() const { return option_offsets.empty() ? 0 : option_offsets.back(); }
};

struct OpinionDataset {
  int dim = 0;
  std::vector<std::string> groups;      ///< canonical names, in group order
  std::vector<index_t> group_records;   ///< input records of each group
  std::vector<index_t> group_questions; ///< distinct questions of each group
  /// Distinct questions (bare text and options) of the whole input, numbered in the order of
  /// their first record: the `question` index of a pair.
  index_t num_questions = 0;
  index_t num_records = 0; ///< records in the input
  OpinionSplit train, val, test;
  std::string selection; ///< "default", "countries" or "top N"
};

/// Builds the pairs, the split and the features (DataError naming `name` for an unknown country,
/// a group with fewer than 2 questions, an empty input, a result too large for this machine).
OpinionDataset convert_opinions(const std::vector<OpinionRecord>& records, const OpinionSpec& spec,
                                const std::string& name);

/// The dataset's root attributes (source, input and checksum, countries, pairs, seed,
/// feature_map, the resolved options as `converter`).
DatasetHeader opinion_header(const OpinionDataset& data, const OpinionSpec& spec,
                             const std::string& input, const std::string& checksum);
/// Writes every non-empty split (pairs, options, `question`, `record_id`) through `writer`:
/// the root of `comm` writes all rows, the other ranks join the collective calls.
void write_opinion_splits(DatasetWriter& writer, const OpinionDataset& data,
                          const Communicator& comm);

} // namespace grpo::io
