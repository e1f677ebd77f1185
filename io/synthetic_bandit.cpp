#include "io/synthetic_bandit.hpp"

#include "core/environment.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "solver/losses.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <unistd.h>
#include <utility>

namespace grpo::io {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Upper bounds that keep every derived size (feature_dim, K * A * D, ...) far from int overflow.
constexpr int kMaxStateDim = 1 << 20;
constexpr int kMaxActions = 1 << 24;
constexpr int kMaxGroups = 1 << 20;

template <class Enum>
using NameTable = std::array<std::pair<const char*, Enum>, 3>;

constexpr NameTable<FeatureType> kFeatureTypes{{{"same", FeatureType::Same},
                                                {"swapped", FeatureType::Swapped},
                                                {"flipped", FeatureType::Flipped}}};
constexpr std::array<std::pair<const char*, PairRule>, 2> kPairRules{
    {{"even", PairRule::Even}, {"uneven", PairRule::Uneven}}};
constexpr NameTable<LabelRule> kLabelRules{{{"deterministic", LabelRule::Deterministic},
                                            {"bradley-terry", LabelRule::BradleyTerry},
                                            {"mixed", LabelRule::Mixed}}};
constexpr NameTable<SplitKind> kSplitKinds{
    {{"train", SplitKind::Train}, {"val", SplitKind::Val}, {"test", SplitKind::Test}}};
constexpr std::array<const char*, 3> kPresets{"even-imbalanced", "uneven-balanced",
                                              "uneven-imbalanced"};

[[noreturn]] void invalid_value(const std::string& option, const std::string& value,
                                const std::string& accepted) {
  throw ConfigError("option --" + option + ": invalid value '" + value +
                    "' (accepted: " + accepted + ")");
}

template <class Table>
std::string accepted_names(const Table& table) {
  std::string names;
  for (const auto& entry : table) {
    names += (names.empty() ? "" : ", ") + std::string(entry.first);
  }
  return names;
}

template <class Table>
auto parse_named(const Table& table, const std::string& value, const std::string& option) {
  for (const auto& entry : table) {
    if (value == entry.first) {
      return entry.second;
    }
  }
  invalid_value(option, value, accepted_names(table));
}

template <class Table, class Enum>
const char* name_of(const Table& table, Enum value) {
  for (const auto& entry : table) {
    if (entry.second == value) {
      return entry.first;
    }
  }
  return "unknown";
}

std::string join(const std::vector<double>& values) {
  std::string text;
  for (double v : values) {
    text += (text.empty() ? "" : ", ") + format_double(v);
  }
  return text;
}

// Option names of a split's settings: --proportions, --val-proportions, --test-proportions.
std::string split_option(SplitKind kind, const char* name) {
  static constexpr std::array<const char*, 3> kPrefix{"", "val-", "test-"};
  return kPrefix[static_cast<std::size_t>(kind)] + std::string(name);
}

// Checks proportions (empty, or K finite values >= 0 with a positive sum); `what` starts the
// message ("option --val-proportions" from validate(), "apportion" otherwise).
void check_proportions(const std::vector<double>& p, int num_groups, const std::string& what) {
  if (!p.empty() && p.size() != static_cast<std::size_t>(num_groups)) {
    throw ConfigError(what + ": expected 0 (equal) or " + std::to_string(num_groups) +
                      " values (one per group), got " + std::to_string(p.size()));
  }
  double sum = 0.0;
  for (std::size_t g = 0; g < p.size(); ++g) {
    if (!std::isfinite(p[g]) || p[g] < 0.0) {
      throw ConfigError(what + ": invalid value '" + format_double(p[g]) + "' for group " +
                        std::to_string(g) + " (accepted: a finite number >= 0)");
    }
    sum += p[g];
  }
  if (!p.empty() && !(sum > 0.0 && std::isfinite(sum))) {
    throw ConfigError(what + ": values '" + join(p) +
                      "' have no positive finite sum (they are normalised, so at least one "
                      "must be > 0)");
  }
}

// Group of row r: the last group whose offset is <= r (empty groups are skipped).
int group_of(const std::vector<index_t>& offsets, index_t r) {
  const auto it = std::upper_bound(offsets.begin(), offsets.end(), r);
  return static_cast<int>(it - offsets.begin()) - 1;
}

void check_range(index_t begin, index_t end, index_t size, const char* what) {
  if (begin < 0 || begin > end || end > size) {
    throw ConfigError(std::string(what) + ": range [" + std::to_string(begin) + ", " +
                      std::to_string(end) + ") is not within [0, " + std::to_string(size) + "]");
  }
}

// Draws and scores samples of one split. Sample j of group g reads only its own keyed stream,
// with fixed draw numbers: k < d state, d first action, d+1 second action, d+2 Bradley-Terry
// coin, d+3 the Mixed rule's epsilon.
class SampleDrawer {
public:
  SampleDrawer(const BanditSpec& spec, SplitKind kind)
      : m_spec(spec)
      , m_split(spec.split(kind))
      , m_kind(kind)
      , m_theta(reward_params(spec.num_groups, spec.feature_dim()))
      , m_phi(static_cast<std::size_t>(spec.feature_dim())) {}

  rng::KeyedStream stream(int g, index_t j) const {
    return rng::KeyedStream(
        rng::hash(m_spec.seed, rng::kStreamData, static_cast<std::uint64_t>(m_kind),
                  static_cast<std::uint64_t>(g), static_cast<std::uint64_t>(j)));
  }

  void draw_state(const rng::KeyedStream& s, double* state) const {
    for (int k = 0; k < m_spec.state_dim; ++k) {
      state[k] = s.uniform(static_cast<std::uint64_t>(k));
    }
  }

  std::pair<int, int> draw_actions(const rng::KeyedStream& s, int g) const {
    const auto d = static_cast<std::uint64_t>(m_spec.state_dim);
    const int num_actions = m_spec.num_actions;
    const auto a1 = static_cast<int>(s.index(d, num_actions));
    int a2 = 0;
    if (m_split.pairs == PairRule::Even) {
      // Uniform over the A-1 other actions: skip a1.
      a2 = static_cast<int>(s.index(d + 1, num_actions - 1));
      a2 += a2 >= a1 ? 1 : 0;
    } else if (g % 2 == 0) {
      // Neighbours (the hard group), reflected at both ends.
      a2 = a1 + (s.uniform(d + 1) < 0.5 ? -1 : 1);
      a2 = a2 < 0 ? 1 : (a2 >= num_actions ? num_actions - 2 : a2);
    } else {
      a2 = (a1 + num_actions / 2) % num_actions; // half the range apart (the easy group)
    }
    return {a1, a2};
  }

  double reward(const double* state, int action, int g) {
    const int dim = m_spec.feature_dim();
    feature_map(m_spec.feature_type, state, m_spec.state_dim, action, m_spec.num_actions, g,
                m_phi.data());
    const double* theta = m_theta.data() + static_cast<std::size_t>(g) * dim;
    return std::inner_product(m_phi.begin(), m_phi.end(), theta, 0.0);
  }

  // "pref = 1": true when a2 is preferred.
  bool second_preferred(const rng::KeyedStream& s, int g, double r1, double r2) const {
    const auto d = static_cast<std::uint64_t>(m_spec.state_dim);
    bool deterministic = m_split.labels == LabelRule::Deterministic;
    if (m_split.labels == LabelRule::Mixed) {
      deterministic = deterministic_ratio(g) >= s.uniform(d + 3);
    }
    if (deterministic) {
      return !(r1 > r2); // ties go to a2, as in the reference code
    }
    return s.uniform(d + 2) < solver::sigmoid(r2 - r1);
  }

private:
  double deterministic_ratio(int g) const {
    const auto& rho = m_split.deterministic_ratio;
    if (rho.empty()) {
      return 1.0;
    }
    return rho.size() == 1 ? rho[0] : rho[static_cast<std::size_t>(g)];
  }

  const BanditSpec& m_spec;
  const SplitSpec& m_split;
  SplitKind m_kind;
  std::vector<double> m_theta;
  std::vector<double> m_phi; // scratch for one feature vector
};

} // namespace

FeatureType parse_feature_type(const std::string& value, const std::string& option) {
  return parse_named(kFeatureTypes, value, option);
}
PairRule parse_pair_rule(const std::string& value, const std::string& option) {
  return parse_named(kPairRules, value, option);
}
LabelRule parse_label_rule(const std::string& value, const std::string& option) {
  return parse_named(kLabelRules, value, option);
}
SplitKind parse_split_kind(const std::string& value, const std::string& option) {
  return parse_named(kSplitKinds, value, option);
}
const char* feature_type_name(FeatureType type) { return name_of(kFeatureTypes, type); }
const char* pair_rule_name(PairRule rule) { return name_of(kPairRules, rule); }
const char* label_rule_name(LabelRule rule) { return name_of(kLabelRules, rule); }
const char* split_kind_name(SplitKind kind) { return name_of(kSplitKinds, kind); }

const SplitSpec& BanditSpec::split(SplitKind kind) const {
  switch (kind) {
  case SplitKind::Train:
    return train;
  case SplitKind::Val:
    return val;
  case SplitKind::Test:
    return test;
  }
  throw InternalError("BanditSpec::split: unknown split kind " +
                      std::to_string(static_cast<int>(kind)));
}

void BanditSpec::validate() const {
  const auto check_int = [](int value, int low, int high, const char* option) {
    if (value < low || value > high) {
      invalid_value(option, std::to_string(value),
                    "an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "]");
    }
  };
  check_int(state_dim, 1, kMaxStateDim, "state-dim");
  check_int(num_actions, 2, kMaxActions, "actions");
  check_int(num_groups, 1, kMaxGroups, "groups");

  for (SplitKind kind : {SplitKind::Train, SplitKind::Val, SplitKind::Test}) {
    const SplitSpec& s = split(kind);
    // Training needs data; val and test may be empty (no validation / no evaluation states).
    const index_t min_size = kind == SplitKind::Train ? 1 : 0;
    if (s.size < min_size || s.size > kMaxSplitSize) {
      invalid_value(std::string(split_kind_name(kind)) + "-size", std::to_string(s.size),
                    "an integer in [" + std::to_string(min_size) + ", " +
                        std::to_string(kMaxSplitSize) + "]");
    }
    check_proportions(s.proportions, num_groups, "option --" + split_option(kind, "proportions"));

    const std::string rho_option = split_option(kind, "deterministic-ratio");
    const std::size_t n_rho = s.deterministic_ratio.size();
    if (n_rho > 1 && n_rho != static_cast<std::size_t>(num_groups)) {
      throw ConfigError("option --" + rho_option + ": expected 0, 1 or " +
                        std::to_string(num_groups) + " values (one per group), got " +
                        std::to_string(n_rho));
    }
    for (double rho : s.deterministic_ratio) {
      // isnan first: an ordered comparison with NaN raises FE_INVALID, which test mains trap.
      if (std::isnan(rho) || rho < 0.0 || rho > 1.0) {
        invalid_value(rho_option, format_double(rho), "a number in [0, 1]");
      }
    }
  }

  // A group without training pairs has an undefined loss (0/0, pitfall 1): reject it here.
  const std::vector<index_t> counts = apportion(train.size, train.proportions, num_groups);
  for (int g = 0; g < num_groups; ++g) {
    if (counts[static_cast<std::size_t>(g)] == 0) {
      throw ConfigError(
          "option --proportions: group " + std::to_string(g) + " gets 0 of the " +
          std::to_string(train.size) + " training pairs (proportions '" +
          (train.proportions.empty() ? std::string("equal") : join(train.proportions)) +
          "'); every group needs at least one: raise --train-size or group " + std::to_string(g) +
          "'s proportion");
    }
  }
  // The validation split feeds per-group metrics: no empty group either (as the reader
  // requires; the test split may leave a group out).
  for (auto kind : {SplitKind::Val}) {
    const auto& sp = split(kind);
    if (sp.size == 0) {
      continue;
    }
    const std::vector<index_t> c = apportion(sp.size, sp.proportions, num_groups);
    for (int g = 0; g < num_groups; ++g) {
      if (c[static_cast<std::size_t>(g)] == 0) {
        throw ConfigError("option --" + split_option(kind, "size") + ": group " +
                          std::to_string(g) + " gets 0 of the " + std::to_string(sp.size) + " " +
                          split_kind_name(kind) +
                          " pairs; every group needs at least one (or 0 pairs: no such split)");
      }
    }
  }
  // The generator holds one rank's rows, and the evaluation environment, in memory.
  const double memory = core::physical_memory_bytes();
  const double d = 2.0 * state_dim;
  const double row_bytes = 2.0 * (2.0 * d * 4.0 + 8.0 * state_dim + 24.0 + 16.0);
  const auto gib = static_cast<double>(1ULL << 30);
  const double env_bytes = static_cast<double>(test.size) * num_groups * num_actions * d * 8.0;
  if (env_bytes > memory / 2) {
    // Name the larger factor: the number of actions or the number of test states.
    const bool actions = static_cast<index_t>(num_actions) >= test.size;
    throw ConfigError(std::string("option --") + (actions ? "actions" : "test-size") + ": " +
                      std::to_string(num_actions) + " actions x " + std::to_string(test.size) +
                      " test states x " + std::to_string(num_groups) + " groups need about " +
                      format_double(std::ceil(env_bytes / gib)) +
                      " GiB for the evaluation environment; this machine has " +
                      format_double(std::round(memory / gib)) + " GiB");
  }
  for (auto kind : {SplitKind::Train, SplitKind::Val, SplitKind::Test}) {
    const double need = static_cast<double>(split(kind).size) * row_bytes + env_bytes;
    if (need > memory) {
      const std::string option =
          kind == SplitKind::Train ? std::string("train-size") : split_option(kind, "size");
      throw ConfigError(
          "option --" + option + ": " + std::to_string(split(kind).size) + " pairs need about " +
          format_double(std::ceil(need / gib)) + " GiB of memory per rank; this machine has " +
          format_double(std::round(memory / gib)) + " GiB (use more ranks or fewer pairs)");
    }
  }
}

BanditSpec bandit_preset(const std::string& name) {
  if (std::find(kPresets.begin(), kPresets.end(), name) == kPresets.end()) {
    std::string accepted;
    for (const char* preset : kPresets) {
      accepted += (accepted.empty() ? "" : ", ") + std::string(preset);
    }
    invalid_value("preset", name, accepted);
  }
  // ALGORITHM.md section 5.5: only the training pairs/proportions and the validation pairs
  // differ; the test split is always even pairs with equal proportions.
  BanditSpec spec;
  spec.state_dim = 2;
  spec.num_actions = 8;
  spec.num_groups = 2;
  spec.feature_type = FeatureType::Swapped;
  const PairRule pairs = name == "even-imbalanced" ? PairRule::Even : PairRule::Uneven;
  const std::vector<double> proportions =
      name == "uneven-balanced" ? std::vector<double>{0.5, 0.5} : std::vector<double>{0.2, 0.8};
  spec.train = SplitSpec{300, pairs, proportions, LabelRule::Deterministic, {}};
  spec.val = SplitSpec{1000, pairs, {}, LabelRule::Deterministic, {}};
  spec.test = SplitSpec{1000, PairRule::Even, {}, LabelRule::Deterministic, {}};
  spec.preset = name;
  return spec;
}

std::vector<index_t> apportion(index_t n, const std::vector<double>& proportions, int num_groups) {
  if (num_groups < 1 || n < 0) {
    throw ConfigError("apportion: cannot split " + std::to_string(n) + " samples over " +
                      std::to_string(num_groups) + " groups");
  }
  check_proportions(proportions, num_groups, "apportion");
  const auto k = static_cast<std::size_t>(num_groups);
  std::vector<double> p = proportions.empty() ? std::vector<double>(k, 1.0) : proportions;
  const double total = std::accumulate(p.begin(), p.end(), 0.0);

  std::vector<index_t> counts(k);
  std::vector<double> remainder(k);
  index_t assigned = 0;
  for (std::size_t g = 0; g < k; ++g) {
    const double quota = static_cast<double>(n) * (p[g] / total);
    counts[g] = static_cast<index_t>(std::floor(quota));
    remainder[g] = quota - static_cast<double>(counts[g]);
    assigned += counts[g];
  }
  // Largest remainders first, ties to the lower group (stable sort of the indices).
  std::vector<std::size_t> order(k);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return remainder[a] > remainder[b]; });
  // In exact arithmetic 0 <= n - assigned < (number of positive remainders). Rounding of the
  // quotas can break this by one near integers, so both directions are handled; a group with
  // proportion 0 never receives a sample.
  while (assigned < n) {
    for (auto it = order.begin(); it != order.end() && assigned < n; ++it) {
      if (p[*it] > 0.0) {
        ++counts[*it];
        ++assigned;
      }
    }
  }
  while (assigned > n) {
    for (auto it = order.rbegin(); it != order.rend() && assigned > n; ++it) {
      if (counts[*it] > 0) {
        --counts[*it];
        --assigned;
      }
    }
  }
  return counts;
}

std::vector<index_t> split_offsets(const BanditSpec& spec, SplitKind kind) {
  const SplitSpec& s = spec.split(kind);
  const std::vector<index_t> counts = apportion(s.size, s.proportions, spec.num_groups);
  std::vector<index_t> offsets(counts.size() + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), offsets.begin() + 1);
  return offsets;
}

void feature_map(FeatureType type, const double* state, int state_dim, int action, int num_actions,
                 int group, double* out) {
  const double u = 1.0 + static_cast<double>(action) / static_cast<double>(num_actions);
  const bool odd = group % 2 != 0;
  for (int j = 0; j < state_dim; ++j) {
    const double c = std::cos(kPi * state[j]);
    const double s = std::sin(kPi * state[j]);
    double first = u * c;
    double second = s / u;
    if (odd && type == FeatureType::Swapped) {
      first = s / u;
      second = u * c;
    } else if (odd && type == FeatureType::Flipped) {
      first = u * s;
      second = c / u;
    }
    out[2 * static_cast<std::size_t>(j)] = first;
    out[2 * static_cast<std::size_t>(j) + 1] = second;
  }
}

std::vector<double> reward_params(int num_groups, int feature_dim) {
  // Section 5.2 defines K = 2; further groups follow their parity, like the feature map.
  const double low = 1.0;
  const double high = feature_dim == 2 ? 2.0 : 3.0;
  std::vector<double> theta(static_cast<std::size_t>(num_groups) * feature_dim);
  for (int g = 0; g < num_groups; ++g) {
    for (int i = 0; i < feature_dim; ++i) {
      const bool first_of_pair = i % 2 == 0;
      const bool low_here = (g % 2 == 0) == first_of_pair;
      theta[static_cast<std::size_t>(g) * feature_dim + i] = low_here ? low : high;
    }
  }
  return theta;
}

double true_reward(const BanditSpec& spec, const double* state, int action, int group) {
  std::vector<double> phi(static_cast<std::size_t>(spec.feature_dim()));
  feature_map(spec.feature_type, state, spec.state_dim, action, spec.num_actions, group,
              phi.data());
  const std::vector<double> theta = reward_params(spec.num_groups, spec.feature_dim());
  return std::inner_product(phi.begin(), phi.end(),
                            theta.begin() + static_cast<std::ptrdiff_t>(group) * spec.feature_dim(),
                            0.0);
}

GeneratedRows generate_rows(const BanditSpec& spec, SplitKind kind, index_t row_begin,
                            index_t row_end) {
  spec.validate();
  GeneratedRows out;
  out.offsets = split_offsets(spec, kind);
  check_range(row_begin, row_end, out.offsets.back(), "generate_rows");
  out.row_begin = row_begin;
  out.row_end = row_end;

  const auto rows = static_cast<std::size_t>(row_end - row_begin);
  const auto d = static_cast<std::size_t>(spec.state_dim);
  const auto dim = static_cast<std::size_t>(spec.feature_dim());
  out.chosen.resize(rows * dim);
  out.rejected.resize(rows * dim);
  out.states.resize(rows * d);
  out.action_chosen.resize(rows);
  out.action_rejected.resize(rows);
  out.reward_chosen.resize(rows);
  out.reward_rejected.resize(rows);
  out.group.resize(rows);
  if (rows == 0) {
    return out;
  }

  SampleDrawer drawer(spec, kind);
  std::vector<double> phi(dim);
  // Features are computed in double, then stored as the float32 of the dataset schema.
  const auto store_features = [&](const double* state, int action, int g, float* dst) {
    feature_map(spec.feature_type, state, spec.state_dim, action, spec.num_actions, g, phi.data());
    std::transform(phi.begin(), phi.end(), dst, [](double v) { return static_cast<float>(v); });
  };
  int g = group_of(out.offsets, row_begin);
  for (std::size_t i = 0; i < rows; ++i) {
    const index_t r = row_begin + static_cast<index_t>(i);
    while (r >= out.offsets[static_cast<std::size_t>(g) + 1]) {
      ++g;
    }
    const rng::KeyedStream stream = drawer.stream(g, r - out.offsets[static_cast<std::size_t>(g)]);
    double* state = out.states.data() + i * d;
    drawer.draw_state(stream, state);
    const auto [a1, a2] = drawer.draw_actions(stream, g);
    const double r1 = drawer.reward(state, a1, g);
    const double r2 = drawer.reward(state, a2, g);
    const bool second = drawer.second_preferred(stream, g, r1, r2);

    const int winner = second ? a2 : a1;
    const int loser = second ? a1 : a2;
    out.action_chosen[i] = winner;
    out.action_rejected[i] = loser;
    out.reward_chosen[i] = second ? r2 : r1;
    out.reward_rejected[i] = second ? r1 : r2;
    out.group[i] = g;
    store_features(state, winner, g, out.chosen.data() + i * dim);
    store_features(state, loser, g, out.rejected.data() + i * dim);
  }
  return out;
}

EnvironmentRows environment_rows(const BanditSpec& spec, index_t state_begin, index_t state_end) {
  spec.validate();
  const std::vector<index_t> offsets = split_offsets(spec, SplitKind::Test);
  EnvironmentRows out;
  out.num_states = offsets.back();
  check_range(state_begin, state_end, out.num_states, "environment_rows");
  out.state_begin = state_begin;
  out.state_end = state_end;

  const auto local = static_cast<std::size_t>(state_end - state_begin);
  const auto d = static_cast<std::size_t>(spec.state_dim);
  const auto num_actions = static_cast<std::size_t>(spec.num_actions);
  const auto dim = static_cast<std::size_t>(spec.feature_dim());
  out.states.resize(local * d);
  out.action_features.resize(static_cast<std::size_t>(spec.num_groups) * local * num_actions * dim);
  if (local == 0) {
    return out;
  }

  // The same keyed draws as generate_rows(Test), so state m is the state of test row m.
  const SampleDrawer drawer(spec, SplitKind::Test);
  int g = group_of(offsets, state_begin);
  for (std::size_t m = 0; m < local; ++m) {
    const index_t r = state_begin + static_cast<index_t>(m);
    while (r >= offsets[static_cast<std::size_t>(g) + 1]) {
      ++g;
    }
    drawer.draw_state(drawer.stream(g, r - offsets[static_cast<std::size_t>(g)]),
                      out.states.data() + m * d);
  }
  for (int h = 0; h < spec.num_groups; ++h) {
    for (std::size_t m = 0; m < local; ++m) {
      for (std::size_t a = 0; a < num_actions; ++a) {
        const std::size_t row = (static_cast<std::size_t>(h) * local + m) * num_actions + a;
        feature_map(spec.feature_type, out.states.data() + m * d, spec.state_dim,
                    static_cast<int>(a), spec.num_actions, h,
                    out.action_features.data() + row * dim);
      }
    }
  }
  return out;
}

} // namespace grpo::io
