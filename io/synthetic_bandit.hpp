// The synthetic group bandit of the paper (ALGORITHM.md section 5): feature maps, true rewards,
// group apportionment and the preference-pair generator. Every random draw of a sample is keyed by
// (seed, split, group, index in group), so any row range of a split is generated identically on
// any rank: a rank generates only the rows it owns. Host-only code, no Views, no I/O.
#pragma once

#include "core/views.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::io {

/// How the feature map depends on the group's parity (ALGORITHM.md section 5.1).
enum class FeatureType { Same, Swapped, Flipped };
/// How the two actions of a pair are drawn (section 5.4, step 2).
enum class PairRule { Even, Uneven };
/// How the preferred action of a pair is chosen (section 5.4, step 3).
enum class LabelRule { Deterministic, BradleyTerry, Mixed };
/// The three splits; the value is part of the random key of every sample.
enum class SplitKind { Train = 0, Val = 1, Test = 2 };

/// Parsers throw ConfigError("option --<option>: invalid value '<v>' (accepted: ...)").
FeatureType parse_feature_type(const std::string& value,
                               const std::string& option = "feature-type");
PairRule parse_pair_rule(const std::string& value, const std::string& option = "pairs");
LabelRule parse_label_rule(const std::string& value, const std::string& option = "labels");
SplitKind parse_split_kind(const std::string& value, const std::string& option = "split");
const char* feature_type_name(FeatureType type);
const char* pair_rule_name(PairRule rule);
const char* label_rule_name(LabelRule rule);
const char* split_kind_name(SplitKind kind);

/// Largest split size accepted by validate().
constexpr index_t kMaxSplitSize = index_t{1} << 40;

/// One split of the data set: its size, the pair and label rules and the group proportions.
struct SplitSpec {
  index_t size = 0;
  PairRule pairs = PairRule::Even;
  /// Empty = equal; otherwise one per group, >= 0 with a positive sum (normalised).
  std::vector<double> proportions;
  LabelRule labels = LabelRule::Deterministic;
  /// rho_g of the Mixed rule: empty = all 1, one value = every group, or one per group.
  std::vector<double> deterministic_ratio;
};

/// Everything that defines a synthetic data set; the data are a pure function of it.
struct BanditSpec {
  int state_dim = 2;   ///< d >= 1
  int num_actions = 8; ///< A >= 2
  int num_groups = 2;  ///< K >= 1
  FeatureType feature_type = FeatureType::Swapped;
  SplitSpec train{300, PairRule::Even, {0.2, 0.8}, LabelRule::Deterministic, {}};
  SplitSpec val{1000, PairRule::Even, {}, LabelRule::Deterministic, {}};
  SplitSpec test{1000, PairRule::Even, {}, LabelRule::Deterministic, {}};
  std::uint64_t seed = 2021;
  std::string preset; ///< name of the preset it came from, or empty

  int feature_dim() const { return 2 * state_dim; }
  const SplitSpec& split(SplitKind kind) const;
  /// Throws ConfigError naming the option, the value and the accepted range.
  void validate() const;
};

/// The paper's three settings (section 5.5): "even-imbalanced", "uneven-balanced",
/// "uneven-imbalanced". Unknown names throw ConfigError (option --preset).
BanditSpec bandit_preset(const std::string& name);

/// Largest-remainder apportionment of n samples over num_groups groups (pitfall 10): the counts
/// sum to n exactly, each is the floor or the ceiling of its quota n * p_g, leftover samples go
/// to the largest remainders (ties to the lower group). Empty proportions = equal.
std::vector<index_t> apportion(index_t n, const std::vector<double>& proportions, int num_groups);

/// K+1 offsets of a split, whose samples are sorted by group.
std::vector<index_t> split_offsets(const BanditSpec& spec, SplitKind kind);

/// phi(s, a, g): writes 2 * state_dim values to out (section 5.1, u(a) = 1 + a / A).
void feature_map(FeatureType type, const double* state, int state_dim, int action, int num_actions,
                 int group, double* out);

/// theta*_g for every group, [num_groups * feature_dim] row-major (section 5.2).
std::vector<double> reward_params(int num_groups, int feature_dim);

/// r_g(s, a) = theta*_g . phi(s, a, g).
double true_reward(const BanditSpec& spec, const double* state, int action, int group);

/// Rows [row_begin, row_end) of one split; samples are sorted by group.
struct GeneratedRows {
  std::vector<index_t> offsets; ///< K+1 offsets of the whole split
  index_t row_begin = 0;
  index_t row_end = 0;
  std::vector<float> chosen;   ///< [rows * D] phi(s, y_w, g)
  std::vector<float> rejected; ///< [rows * D] phi(s, y_l, g)
  std::vector<double> states;  ///< [rows * state_dim]
  std::vector<std::int32_t> action_chosen;
  std::vector<std::int32_t> action_rejected;
  std::vector<double> reward_chosen; ///< true rewards
  std::vector<double> reward_rejected;
  std::vector<std::int32_t> group;
};

/// Generates rows [row_begin, row_end) of a split (ConfigError unless 0 <= begin <= end <= size).
GeneratedRows generate_rows(const BanditSpec& spec, SplitKind kind, index_t row_begin,
                            index_t row_end);

/// The truth metrics need: the evaluation states (the states of the test split's rows, in row
/// order) [state_begin, state_end) and the features of every action under every group.
struct EnvironmentRows {
  index_t num_states = 0; ///< M = test size
  index_t state_begin = 0;
  index_t state_end = 0;
  std::vector<double> states;          ///< [local * state_dim]
  std::vector<double> action_features; ///< [K][local][A][D] phi(s_m, a, g)
};

/// Generates evaluation states [state_begin, state_end) (ConfigError unless within [0, M]).
EnvironmentRows environment_rows(const BanditSpec& spec, index_t state_begin, index_t state_end);

} // namespace grpo::io
