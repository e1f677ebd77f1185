// Tests of the synthetic group bandit (ALGORITHM.md section 5): apportionment, presets, feature
// map and rewards against hand values, the documented draw protocol, pair and label statistics,
// rank invariance of row ranges, validation messages and the evaluation environment. About 700
// lines: one module's 20 tests share the independent reference sampler and helpers at the top.
#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/synthetic_bandit.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace grpo::io {
namespace {

// 99.9999th percentiles are ~33 (7 degrees of freedom) and ~75 (27): a correct generator fails
// these bounds with probability ~1e-6 for a given seed, and the seeds are fixed anyway.
constexpr double kChiSquare7 = 40.0;
constexpr double kChiSquare27 = 80.0;
constexpr double kPi = 3.14159265358979323846;

double chi_square(const std::vector<index_t>& counts, double expected) {
  double chi2 = 0.0;
  for (index_t c : counts) {
    chi2 += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  }
  return chi2;
}

double stable_sigmoid(double z) {
  if (z >= 0.0) {
    return 1.0 / (1.0 + std::exp(-z));
  }
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// A spec with a big train split, for statistics.
BanditSpec large_spec(PairRule pairs, LabelRule labels, index_t size = 20000) {
  BanditSpec spec;
  spec.train = SplitSpec{size, pairs, {}, labels, {}};
  return spec;
}

/// One sample rebuilt independently from the draw protocol documented in the brief and header.
struct ReferenceSample {
  std::vector<double> state;
  int group = 0;
  int a1 = 0;
  int a2 = 0;
  bool second_preferred = false;
};

ReferenceSample reference_sample(const BanditSpec& spec, SplitKind kind, index_t row) {
  const std::vector<index_t> offsets = split_offsets(spec, kind);
  ReferenceSample ref;
  while (row >= offsets[static_cast<std::size_t>(ref.group) + 1]) {
    ++ref.group;
  }
  const int g = ref.group;
  const index_t j = row - offsets[static_cast<std::size_t>(g)];
  const rng::KeyedStream stream(
      rng::hash(spec.seed, rng::kStreamData, static_cast<std::uint64_t>(kind),
                static_cast<std::uint64_t>(g), static_cast<std::uint64_t>(j)));
  const int d = spec.state_dim;
  const int num_actions = spec.num_actions;
  for (int k = 0; k < d; ++k) {
    ref.state.push_back(stream.uniform(static_cast<std::uint64_t>(k)));
  }
  const auto ud = static_cast<std::uint64_t>(d);
  ref.a1 = static_cast<int>(stream.index(ud, num_actions));
  const SplitSpec& split = spec.split(kind);
  if (split.pairs == PairRule::Even) {
    ref.a2 = static_cast<int>(stream.index(ud + 1, num_actions - 1));
    if (ref.a2 >= ref.a1) {
      ++ref.a2;
    }
  } else if (g % 2 == 0) {
    const int step = stream.uniform(ud + 1) < 0.5 ? -1 : 1;
    ref.a2 = ref.a1 + step;
    if (ref.a2 == num_actions) {
      ref.a2 = num_actions - 2;
    }
    if (ref.a2 == -1) {
      ref.a2 = 1;
    }
  } else {
    ref.a2 = (ref.a1 + num_actions / 2) % num_actions;
  }
  const double r1 = true_reward(spec, ref.state.data(), ref.a1, g);
  const double r2 = true_reward(spec, ref.state.data(), ref.a2, g);
  const bool bt = stream.uniform(ud + 2) < stable_sigmoid(r2 - r1);
  const bool det = !(r1 > r2);
  double rho = 1.0;
  if (split.deterministic_ratio.size() == 1) {
    rho = split.deterministic_ratio[0];
  } else if (!split.deterministic_ratio.empty()) {
    rho = split.deterministic_ratio[static_cast<std::size_t>(g)];
  }
  switch (split.labels) {
  case LabelRule::Deterministic:
    ref.second_preferred = det;
    break;
  case LabelRule::BradleyTerry:
    ref.second_preferred = bt;
    break;
  case LabelRule::Mixed:
    ref.second_preferred = rho >= stream.uniform(ud + 3) ? det : bt;
    break;
  }
  return ref;
}

void expect_same_rows(const GeneratedRows& a, const GeneratedRows& b) {
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.row_begin, b.row_begin);
  EXPECT_EQ(a.row_end, b.row_end);
  EXPECT_EQ(a.chosen, b.chosen);
  EXPECT_EQ(a.rejected, b.rejected);
  EXPECT_EQ(a.states, b.states);
  EXPECT_EQ(a.action_chosen, b.action_chosen);
  EXPECT_EQ(a.action_rejected, b.action_rejected);
  EXPECT_EQ(a.reward_chosen, b.reward_chosen);
  EXPECT_EQ(a.reward_rejected, b.reward_rejected);
  EXPECT_EQ(a.group, b.group);
}

template <class T>
std::vector<T> slice(const std::vector<T>& v, index_t begin, index_t end, index_t width) {
  return std::vector<T>(v.begin() + begin * width, v.begin() + end * width);
}

void expect_config_error(const std::function<void()>& call, const std::vector<std::string>& parts) {
  try {
    call();
    ADD_FAILURE() << "expected grpo::ConfigError containing '" << parts.front() << "'";
  } catch (const ConfigError& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message '" << e.what() << "' lacks '" << part << "'";
    }
  }
}

TEST(SyntheticBandit, EnumNamesRoundTripAndBadNamesAreRejected) {
  for (auto t : {FeatureType::Same, FeatureType::Swapped, FeatureType::Flipped}) {
    EXPECT_EQ(parse_feature_type(feature_type_name(t)), t);
  }
  for (auto r : {PairRule::Even, PairRule::Uneven}) {
    EXPECT_EQ(parse_pair_rule(pair_rule_name(r)), r);
  }
  for (auto r : {LabelRule::Deterministic, LabelRule::BradleyTerry, LabelRule::Mixed}) {
    EXPECT_EQ(parse_label_rule(label_rule_name(r)), r);
  }
  for (auto k : {SplitKind::Train, SplitKind::Val, SplitKind::Test}) {
    EXPECT_EQ(parse_split_kind(split_kind_name(k)), k);
  }
  EXPECT_STREQ(label_rule_name(LabelRule::BradleyTerry), "bradley-terry");
  expect_config_error([] { parse_feature_type("Swapped"); },
                      {"option --feature-type: invalid value 'Swapped'", "same, swapped, flipped"});
  expect_config_error([] { parse_pair_rule("odd", "val-pairs"); },
                      {"--val-pairs", "'odd'", "even, uneven"});
  expect_config_error([] { parse_label_rule("bt"); },
                      {"--labels", "deterministic, bradley-terry, mixed"});
}

TEST(SyntheticBandit, ApportionExactValues) {
  EXPECT_EQ(apportion(300, {0.2, 0.8}, 2), (std::vector<index_t>{60, 240}));
  EXPECT_EQ(apportion(300, {0.5, 0.5}, 2), (std::vector<index_t>{150, 150}));
  EXPECT_EQ(apportion(1000, {}, 2), (std::vector<index_t>{500, 500}));
  EXPECT_EQ(apportion(300, {1.0, 3.0}, 2), (std::vector<index_t>{75, 225})); // normalised
  // 10/3 each: one leftover, equal remainders -> the lowest group.
  EXPECT_EQ(apportion(10, {}, 3), (std::vector<index_t>{4, 3, 3}));
  EXPECT_EQ(apportion(5, {}, 3), (std::vector<index_t>{2, 2, 1}));
  EXPECT_EQ(apportion(1, {}, 3), (std::vector<index_t>{1, 0, 0}));
  // Quotas 0, 1.5, 1.5: the zero-proportion group never gets the leftover.
  EXPECT_EQ(apportion(3, {0.0, 1.0, 1.0}, 3), (std::vector<index_t>{0, 2, 1}));
  // np.round would give round(2.5) + round(2.5) = 4 != 5 (half to even): pitfall 10.
  EXPECT_EQ(apportion(5, {0.5, 0.5}, 2), (std::vector<index_t>{3, 2}));
  // Largest remainder, not lowest index: quotas 0.3, 2.7.
  EXPECT_EQ(apportion(3, {0.1, 0.9}, 2), (std::vector<index_t>{0, 3}));
  EXPECT_EQ(apportion(0, {0.2, 0.8}, 2), (std::vector<index_t>{0, 0}));
  EXPECT_EQ(apportion(7, {}, 1), (std::vector<index_t>{7}));
}

TEST(SyntheticBandit, ApportionRandomProportionsSumAndQuotas) {
  for (std::uint64_t trial = 0; trial < 2000; ++trial) {
    const rng::KeyedStream s(rng::hash(99, trial));
    const int k = 1 + static_cast<int>(s.index(0, 9));
    const index_t n = s.index(1, 2) == 0 ? s.index(2, 20) : s.index(2, 1000000000);
    std::vector<double> p(static_cast<std::size_t>(k));
    for (int g = 0; g < k; ++g) {
      // A quarter of the proportions are zero, to exercise the exclusion of empty groups.
      p[static_cast<std::size_t>(g)] = s.uniform(10 + g) < 0.25 ? 0.0 : s.uniform(100 + g);
    }
    if (std::accumulate(p.begin(), p.end(), 0.0) == 0.0) {
      p[0] = 1.0;
    }
    const double total = std::accumulate(p.begin(), p.end(), 0.0);
    const std::vector<index_t> counts = apportion(n, p, k);
    ASSERT_EQ(counts.size(), static_cast<std::size_t>(k));
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), index_t{0}), n) << "trial " << trial;
    for (int g = 0; g < k; ++g) {
      const double quota = static_cast<double>(n) * p[static_cast<std::size_t>(g)] / total;
      // Each count is the floor or the ceiling of its quota; 1e-6 absorbs the rounding of a
      // quota near 1e9 (ulp ~1e-7).
      EXPECT_LT(std::abs(static_cast<double>(counts[static_cast<std::size_t>(g)]) - quota),
                1.0 + 1e-6)
          << "trial " << trial << " group " << g;
      if (p[static_cast<std::size_t>(g)] == 0.0) {
        EXPECT_EQ(counts[static_cast<std::size_t>(g)], 0);
      }
    }
  }
}

TEST(SyntheticBandit, ApportionRejectsBadInput) {
  EXPECT_THROW(apportion(-1, {}, 2), ConfigError);
  EXPECT_THROW(apportion(10, {}, 0), ConfigError);
  EXPECT_THROW(apportion(10, {1.0}, 2), ConfigError);
  EXPECT_THROW(apportion(10, {-1.0, 2.0}, 2), ConfigError);
  EXPECT_THROW(apportion(10, {0.0, 0.0}, 2), ConfigError);
}

TEST(SyntheticBandit, PresetsMatchThePaperSettings) {
  struct Expected {
    const char* name;
    PairRule pairs;
    std::vector<index_t> train_offsets;
  };
  const std::vector<Expected> presets{
      {"even-imbalanced", PairRule::Even, {0, 60, 300}},
      {"uneven-balanced", PairRule::Uneven, {0, 150, 300}},
      {"uneven-imbalanced", PairRule::Uneven, {0, 60, 300}},
  };
  for (const Expected& e : presets) {
    SCOPED_TRACE(e.name);
    const BanditSpec spec = bandit_preset(e.name);
    EXPECT_NO_THROW(spec.validate());
    EXPECT_EQ(spec.preset, e.name);
    EXPECT_EQ(spec.state_dim, 2);
    EXPECT_EQ(spec.num_actions, 8);
    EXPECT_EQ(spec.num_groups, 2);
    EXPECT_EQ(spec.feature_dim(), 4);
    EXPECT_EQ(spec.feature_type, FeatureType::Swapped);
    EXPECT_EQ(spec.train.pairs, e.pairs);
    EXPECT_EQ(spec.val.pairs, e.pairs);
    EXPECT_EQ(spec.test.pairs, PairRule::Even);
    for (auto kind : {SplitKind::Train, SplitKind::Val, SplitKind::Test}) {
      EXPECT_EQ(spec.split(kind).labels, LabelRule::Deterministic);
    }
    EXPECT_EQ(split_offsets(spec, SplitKind::Train), e.train_offsets);
    EXPECT_EQ(split_offsets(spec, SplitKind::Val), (std::vector<index_t>{0, 500, 1000}));
    EXPECT_EQ(split_offsets(spec, SplitKind::Test), (std::vector<index_t>{0, 500, 1000}));
  }
  expect_config_error(
      [] { bandit_preset("nope"); },
      {"--preset", "'nope'", "even-imbalanced, uneven-balanced, uneven-imbalanced"});
  EXPECT_NO_THROW(BanditSpec{}.validate());
}

TEST(SyntheticBandit, FeatureMapHandValues) {
  // s = (1/3, 1/4): cos, sin = (1/2, sqrt(3)/2) and (sqrt(1/2), sqrt(1/2)); a = 4 of 8: u = 1.5.
  // 1e-14: pi * s is rounded (relative 1e-16) before cos/sin, values are O(1).
  const double state[2] = {1.0 / 3.0, 0.25};
  const double h = std::sqrt(3.0) / 2.0;
  const double r = std::sqrt(0.5);
  const std::vector<double> base{1.5 * 0.5, h / 1.5, 1.5 * r, r / 1.5};
  const std::vector<double> swapped{h / 1.5, 1.5 * 0.5, r / 1.5, 1.5 * r};
  const std::vector<double> flipped{1.5 * h, 0.5 / 1.5, 1.5 * r, r / 1.5};
  struct Case {
    FeatureType type;
    int group;
    const std::vector<double>* expected;
  };
  const std::vector<Case> cases{
      {FeatureType::Same, 0, &base},    {FeatureType::Same, 1, &base},
      {FeatureType::Swapped, 0, &base}, {FeatureType::Swapped, 1, &swapped},
      {FeatureType::Swapped, 2, &base}, {FeatureType::Swapped, 3, &swapped},
      {FeatureType::Flipped, 0, &base}, {FeatureType::Flipped, 1, &flipped},
      {FeatureType::Flipped, 4, &base}, {FeatureType::Flipped, 5, &flipped},
  };
  for (const Case& c : cases) {
    double phi[4];
    feature_map(c.type, state, 2, 4, 8, c.group, phi);
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(phi[i], (*c.expected)[static_cast<std::size_t>(i)], 1e-14)
          << feature_type_name(c.type) << " group " << c.group << " entry " << i;
    }
  }
  // u(0) = 1 exactly, so at s = 0 the even feature is exactly (1, 0).
  const double zero = 0.0;
  double phi[2];
  feature_map(FeatureType::Swapped, &zero, 1, 0, 8, 0, phi);
  EXPECT_EQ(phi[0], 1.0);
  EXPECT_EQ(phi[1], 0.0);
}

TEST(SyntheticBandit, RewardParams) {
  EXPECT_EQ(reward_params(2, 2), (std::vector<double>{1, 2, 2, 1}));
  EXPECT_EQ(reward_params(2, 4), (std::vector<double>{1, 3, 1, 3, 3, 1, 3, 1}));
  EXPECT_EQ(reward_params(2, 8),
            (std::vector<double>{1, 3, 1, 3, 1, 3, 1, 3, 3, 1, 3, 1, 3, 1, 3, 1}));
  EXPECT_EQ(reward_params(3, 4), (std::vector<double>{1, 3, 1, 3, 3, 1, 3, 1, 1, 3, 1, 3}));
  EXPECT_EQ(reward_params(1, 2), (std::vector<double>{1, 2}));
}

TEST(SyntheticBandit, SwappedGroupsShareOneRewardFunction) {
  // Section 5.2: with swapped features r_0 = r_1 = sum_j [u c_j + 3 s_j / u] (D = 4); 1e-12
  // covers the different summation order.
  BanditSpec spec;
  for (int m = 0; m < 50; ++m) {
    const rng::KeyedStream s(rng::hash(7, static_cast<std::uint64_t>(m)));
    const double state[2] = {s.uniform(0), s.uniform(1)};
    for (int a = 0; a < spec.num_actions; ++a) {
      const double u = 1.0 + a / 8.0;
      double closed = 0.0;
      for (double x : state) {
        closed += u * std::cos(kPi * x) + 3.0 * std::sin(kPi * x) / u;
      }
      EXPECT_NEAR(true_reward(spec, state, a, 0), closed, 1e-12);
      EXPECT_NEAR(true_reward(spec, state, a, 1), closed, 1e-12);
    }
  }
}

TEST(SyntheticBandit, RowsFollowTheDocumentedDrawProtocol) {
  // Every field of every row equals an independent rebuild from the keyed draws, for each pair
  // and label rule (exact: same operations in the same order).
  for (auto pairs : {PairRule::Even, PairRule::Uneven}) {
    for (auto labels : {LabelRule::Deterministic, LabelRule::BradleyTerry, LabelRule::Mixed}) {
      BanditSpec spec = large_spec(pairs, labels, 400);
      spec.num_groups = 3;
      spec.state_dim = 3;
      spec.num_actions = 5;
      spec.feature_type = FeatureType::Flipped;
      spec.train.proportions = {0.2, 0.3, 0.5};
      spec.train.deterministic_ratio = {0.0, 0.5, 1.0};
      const GeneratedRows rows = generate_rows(spec, SplitKind::Train, 0, 400);
      const std::size_t dim = 6;
      for (index_t r = 0; r < 400; ++r) {
        const auto i = static_cast<std::size_t>(r);
        const ReferenceSample ref = reference_sample(spec, SplitKind::Train, r);
        const int w = ref.second_preferred ? ref.a2 : ref.a1;
        const int l = ref.second_preferred ? ref.a1 : ref.a2;
        ASSERT_EQ(rows.group[i], ref.group);
        ASSERT_EQ(rows.action_chosen[i], w) << "row " << r;
        ASSERT_EQ(rows.action_rejected[i], l) << "row " << r;
        ASSERT_EQ(slice(rows.states, r, r + 1, 3), ref.state);
        EXPECT_EQ(rows.reward_chosen[i], true_reward(spec, ref.state.data(), w, ref.group));
        EXPECT_EQ(rows.reward_rejected[i], true_reward(spec, ref.state.data(), l, ref.group));
        double phi_w[6];
        double phi_l[6];
        feature_map(spec.feature_type, ref.state.data(), 3, w, 5, ref.group, phi_w);
        feature_map(spec.feature_type, ref.state.data(), 3, l, 5, ref.group, phi_l);
        for (std::size_t c = 0; c < dim; ++c) {
          EXPECT_EQ(rows.chosen[i * dim + c], static_cast<float>(phi_w[c]));
          EXPECT_EQ(rows.rejected[i * dim + c], static_cast<float>(phi_l[c]));
        }
      }
    }
  }
}

TEST(SyntheticBandit, EvenPairsAreDistinctAndUniform) {
  const BanditSpec spec = large_spec(PairRule::Even, LabelRule::Deterministic);
  const index_t n = spec.train.size;
  const GeneratedRows rows = generate_rows(spec, SplitKind::Train, 0, n);
  const int num_actions = spec.num_actions;
  std::vector<index_t> first(8, 0), second(8, 0), unordered(64, 0);
  for (index_t r = 0; r < n; ++r) {
    const auto i = static_cast<std::size_t>(r);
    const int w = rows.action_chosen[i];
    const int l = rows.action_rejected[i];
    ASSERT_NE(w, l);
    ASSERT_TRUE(w >= 0 && w < num_actions && l >= 0 && l < num_actions);
    ++unordered[static_cast<std::size_t>(std::min(w, l) * 8 + std::max(w, l))];
    const ReferenceSample ref = reference_sample(spec, SplitKind::Train, r);
    ++first[static_cast<std::size_t>(ref.a1)];
    ++second[static_cast<std::size_t>(ref.a2)];
  }
  // a1 and a2 are each uniform over 8 actions; the unordered pair uniform over the 28 pairs.
  EXPECT_LT(chi_square(first, n / 8.0), kChiSquare7);
  EXPECT_LT(chi_square(second, n / 8.0), kChiSquare7);
  std::vector<index_t> pairs;
  for (int a = 0; a < 8; ++a) {
    for (int b = a + 1; b < 8; ++b) {
      pairs.push_back(unordered[static_cast<std::size_t>(a * 8 + b)]);
    }
  }
  EXPECT_LT(chi_square(pairs, n / 28.0), kChiSquare27);
}

TEST(SyntheticBandit, UnevenPairsCompareNeighboursOrOpposites) {
  for (int num_actions : {2, 7, 8}) {
    BanditSpec spec = large_spec(PairRule::Uneven, LabelRule::Deterministic, 4000);
    spec.num_actions = num_actions;
    spec.num_groups = 4;
    const GeneratedRows rows = generate_rows(spec, SplitKind::Train, 0, 4000);
    std::vector<index_t> ends(2, 0);
    for (std::size_t i = 0; i < rows.group.size(); ++i) {
      const int w = rows.action_chosen[i];
      const int l = rows.action_rejected[i];
      if (rows.group[i] % 2 == 0) {
        ASSERT_EQ(std::abs(w - l), 1) << "A " << num_actions << " row " << i;
      } else {
        const int diff = ((w - l) % num_actions + num_actions) % num_actions;
        ASSERT_TRUE(diff == num_actions / 2 || diff == num_actions - num_actions / 2)
            << "A " << num_actions << " row " << i;
      }
      const ReferenceSample ref = reference_sample(spec, SplitKind::Train, static_cast<index_t>(i));
      if (rows.group[i] % 2 == 0 && ref.a1 == 0) {
        EXPECT_EQ(ref.a2, 1); // reflected at the lower end
        ++ends[0];
      }
      if (rows.group[i] % 2 == 0 && ref.a1 == num_actions - 1) {
        EXPECT_EQ(ref.a2, num_actions - 2); // reflected at the upper end
        ++ends[1];
      }
    }
    EXPECT_GT(ends[0], 0);
    EXPECT_GT(ends[1], 0);
  }
}

TEST(SyntheticBandit, DeterministicLabelsPreferTheHigherReward) {
  for (auto type : {FeatureType::Same, FeatureType::Swapped, FeatureType::Flipped}) {
    BanditSpec spec = large_spec(PairRule::Even, LabelRule::Deterministic, 5000);
    spec.feature_type = type;
    const GeneratedRows rows = generate_rows(spec, SplitKind::Train, 0, 5000);
    for (std::size_t i = 0; i < rows.group.size(); ++i) {
      ASSERT_GE(rows.reward_chosen[i], rows.reward_rejected[i]);
      const double* state = rows.states.data() + 2 * i;
      EXPECT_EQ(rows.reward_chosen[i],
                true_reward(spec, state, rows.action_chosen[i], rows.group[i]));
      EXPECT_EQ(rows.reward_rejected[i],
                true_reward(spec, state, rows.action_rejected[i], rows.group[i]));
      if (rows.reward_chosen[i] == rows.reward_rejected[i]) {
        // A tie goes to a2 (not expected with continuous states, but pinned if it happens).
        EXPECT_EQ(rows.action_chosen[i],
                  reference_sample(spec, SplitKind::Train, static_cast<index_t>(i)).a2);
      }
    }
  }
}

TEST(SyntheticBandit, BradleyTerryFrequencyMatchesTheModel) {
  for (auto type : {FeatureType::Swapped, FeatureType::Flipped}) {
    BanditSpec spec = large_spec(PairRule::Even, LabelRule::BradleyTerry);
    spec.feature_type = type;
    const index_t n = spec.train.size;
    const GeneratedRows rows = generate_rows(spec, SplitKind::Train, 0, n);
    // (1) "a2 preferred" against sigma(r2 - r1); (2) "the higher reward wins" against
    // sigma(|r2 - r1|), from the public outputs only. (1) alone cannot see a sign error: r2 - r1
    // is symmetric for even pairs, so its mean sigmoid is ~1/2 either way.
    double second_hits = 0.0, second_p = 0.0, second_var = 0.0;
    double higher_hits = 0.0, higher_p = 0.0, higher_var = 0.0;
    for (index_t r = 0; r < n; ++r) {
      const auto i = static_cast<std::size_t>(r);
      const ReferenceSample ref = reference_sample(spec, SplitKind::Train, r);
      const double r1 = true_reward(spec, ref.state.data(), ref.a1, ref.group);
      const double r2 = true_reward(spec, ref.state.data(), ref.a2, ref.group);
      const double p = stable_sigmoid(r2 - r1);
      second_hits += rows.action_chosen[i] == ref.a2 ? 1.0 : 0.0;
      second_p += p;
      second_var += p * (1.0 - p);
      const double q = stable_sigmoid(std::abs(rows.reward_chosen[i] - rows.reward_rejected[i]));
      higher_hits += rows.reward_chosen[i] > rows.reward_rejected[i] ? 1.0 : 0.0;
      higher_p += q;
      higher_var += q * (1.0 - q);
    }
    // Each count is a sum of independent Bernoulli(p_i): its standard deviation is
    // sqrt(sum p_i (1 - p_i)); 4 of them bound a false failure by ~6e-5.
    EXPECT_NEAR(second_hits, second_p, 4.0 * std::sqrt(second_var)) << feature_type_name(type);
    EXPECT_NEAR(higher_hits, higher_p, 4.0 * std::sqrt(higher_var)) << feature_type_name(type);
    EXPECT_LT(higher_hits, static_cast<double>(n)); // noisy labels sometimes prefer the worse
  }
}

TEST(SyntheticBandit, MixedLabelsInterpolateBetweenTheRules) {
  BanditSpec det = large_spec(PairRule::Even, LabelRule::Deterministic, 3000);
  BanditSpec bt = large_spec(PairRule::Even, LabelRule::BradleyTerry, 3000);
  BanditSpec mixed = large_spec(PairRule::Even, LabelRule::Mixed, 3000);
  const GeneratedRows det_rows = generate_rows(det, SplitKind::Train, 0, 3000);
  const GeneratedRows bt_rows = generate_rows(bt, SplitKind::Train, 0, 3000);

  expect_same_rows(generate_rows(mixed, SplitKind::Train, 0, 3000), det_rows); // rho = 1
  mixed.train.deterministic_ratio = {1.0};
  expect_same_rows(generate_rows(mixed, SplitKind::Train, 0, 3000), det_rows);
  // rho = 0 >= eps only when eps == 0 exactly (probability 2^-53 per row).
  mixed.train.deterministic_ratio = {0.0};
  expect_same_rows(generate_rows(mixed, SplitKind::Train, 0, 3000), bt_rows);
  // Per group: group 0 deterministic, group 1 Bradley-Terry.
  mixed.train.deterministic_ratio = {1.0, 0.0};
  const GeneratedRows both = generate_rows(mixed, SplitKind::Train, 0, 3000);
  for (std::size_t i = 0; i < both.group.size(); ++i) {
    const GeneratedRows& want = both.group[i] == 0 ? det_rows : bt_rows;
    ASSERT_EQ(both.action_chosen[i], want.action_chosen[i]) << "row " << i;
  }
  EXPECT_NE(det_rows.action_chosen, bt_rows.action_chosen);
}

TEST(SyntheticBandit, RowRangesAreSlicesOfTheFullSplit) {
  BanditSpec spec = bandit_preset("uneven-imbalanced");
  spec.train.labels = LabelRule::Mixed;
  spec.train.deterministic_ratio = {0.3, 0.7};
  for (auto kind : {SplitKind::Train, SplitKind::Test}) {
    const index_t n = spec.split(kind).size;
    const GeneratedRows full = generate_rows(spec, kind, 0, n);
    ASSERT_EQ(full.group.size(), static_cast<std::size_t>(n));
    // Group boundaries are 60 (train) and 500 (test); ranges cross them and start inside groups.
    const std::vector<std::pair<index_t, index_t>> ranges{
        {0, 0}, {0, 1}, {0, 59}, {59, 61}, {60, 61}, {37, 211}, {123, 124}, {n - 1, n}, {n, n}};
    for (const auto& [b, e] : ranges) {
      SCOPED_TRACE(std::string(split_kind_name(kind)) + " [" + std::to_string(b) + ", " +
                   std::to_string(e) + ")");
      const GeneratedRows part = generate_rows(spec, kind, b, e);
      EXPECT_EQ(part.offsets, full.offsets);
      EXPECT_EQ(part.row_begin, b);
      EXPECT_EQ(part.row_end, e);
      EXPECT_EQ(part.chosen, slice(full.chosen, b, e, 4));
      EXPECT_EQ(part.rejected, slice(full.rejected, b, e, 4));
      EXPECT_EQ(part.states, slice(full.states, b, e, 2));
      EXPECT_EQ(part.action_chosen, slice(full.action_chosen, b, e, 1));
      EXPECT_EQ(part.action_rejected, slice(full.action_rejected, b, e, 1));
      EXPECT_EQ(part.reward_chosen, slice(full.reward_chosen, b, e, 1));
      EXPECT_EQ(part.reward_rejected, slice(full.reward_rejected, b, e, 1));
      EXPECT_EQ(part.group, slice(full.group, b, e, 1));
    }
    // Rows are sorted by group as the offsets say.
    for (std::size_t g = 0; g + 1 < full.offsets.size(); ++g) {
      for (index_t r = full.offsets[g]; r < full.offsets[g + 1]; ++r) {
        ASSERT_EQ(full.group[static_cast<std::size_t>(r)], static_cast<int>(g));
      }
    }
  }
}

TEST(SyntheticBandit, SeedAndSplitChangeTheData) {
  BanditSpec spec;
  const GeneratedRows a = generate_rows(spec, SplitKind::Train, 0, 300);
  spec.seed = 2022;
  const GeneratedRows b = generate_rows(spec, SplitKind::Train, 0, 300);
  EXPECT_NE(a.states, b.states);
  EXPECT_NE(a.action_chosen, b.action_chosen);
  // The split is part of the key: val rows are not train rows.
  spec.seed = 2021;
  const GeneratedRows v = generate_rows(spec, SplitKind::Val, 0, 300);
  EXPECT_NE(a.states, v.states);
  // Same spec, same data.
  expect_same_rows(generate_rows(spec, SplitKind::Train, 0, 300), a);
}

TEST(SyntheticBandit, ValidateNamesTheOffendingOption) {
  struct Case {
    std::function<void(BanditSpec&)> edit;
    std::vector<std::string> parts;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Case> cases{
      {[](BanditSpec& s) { s.state_dim = 0; }, {"--state-dim", "'0'"}},
      {[](BanditSpec& s) { s.num_actions = 1; }, {"--actions", "'1'"}},
      {[](BanditSpec& s) { s.num_groups = 0; }, {"--groups", "'0'"}},
      {[](BanditSpec& s) { s.train.size = 0; }, {"--train-size", "'0'"}},
      {[](BanditSpec& s) { s.val.size = -1; }, {"--val-size", "'-1'"}},
      {[](BanditSpec& s) { s.test.size = kMaxSplitSize + 1; }, {"--test-size"}},
      {[](BanditSpec& s) {
         s.train.proportions = {0.2, 0.3, 0.5};
       },
       {"--proportions", "got 3"}},
      {[](BanditSpec& s) {
         s.val.proportions = {-0.1, 1.0};
       },
       {"--val-proportions", "'-0.1'"}},
      {[nan](BanditSpec& s) {
         s.val.proportions = {nan, 1.0};
       },
       {"--val-proportions", "nan"}},
      {[](BanditSpec& s) {
         s.test.proportions = {0.0, 0.0};
       },
       {"--test-proportions"}},
      {[](BanditSpec& s) {
         s.train.deterministic_ratio = {1.0, 1.0, 1.0};
       },
       {"--deterministic-ratio", "got 3"}},
      {[](BanditSpec& s) { s.val.deterministic_ratio = {1.5}; },
       {"--val-deterministic-ratio", "'1.5'"}},
      {[nan](BanditSpec& s) {
         s.test.deterministic_ratio = {0.5, nan};
       },
       {"--test-deterministic-ratio", "nan"}},
      {[](BanditSpec& s) {
         s.train.proportions = {0.0, 1.0};
       },
       {"--proportions", "group 0"}},
      {[](BanditSpec& s) {
         s.train.size = 3;
         s.train.proportions = {0.1, 0.9};
       },
       {"--proportions", "group 0 gets 0"}},
      {[](BanditSpec& s) {
         s.num_groups = 3;
         s.train.size = 2;
         s.train.proportions.clear();
       },
       {"--proportions", "group 2 gets 0"}},
  };
  for (std::size_t c = 0; c < cases.size(); ++c) {
    SCOPED_TRACE("case " + std::to_string(c));
    BanditSpec spec;
    cases[c].edit(spec);
    expect_config_error([&] { spec.validate(); }, cases[c].parts);
  }
  // A validation group without pairs is refused (the reader requires every group in val).
  BanditSpec no_val_group;
  no_val_group.val.size = 1;
  expect_config_error([&] { no_val_group.validate(); }, {"--val-size", "group 1 gets 0"});
  // Accepted edge cases: empty val/test, a test group without samples, one group, A = 2.
  BanditSpec ok;
  ok.val.size = 0;
  ok.test.size = 1;
  EXPECT_NO_THROW(ok.validate());
  ok.num_groups = 1;
  ok.num_actions = 2;
  ok.train.proportions.clear();
  EXPECT_NO_THROW(ok.validate());
}

TEST(SyntheticBandit, RowRangesOutsideTheSplitAreRejected) {
  const BanditSpec spec;
  expect_config_error([&] { generate_rows(spec, SplitKind::Train, -1, 3); }, {"generate_rows"});
  expect_config_error([&] { generate_rows(spec, SplitKind::Train, 5, 4); }, {"[5, 4)"});
  expect_config_error([&] { generate_rows(spec, SplitKind::Train, 0, 301); }, {"[0, 300]"});
  expect_config_error([&] { environment_rows(spec, 0, 1001); }, {"environment_rows"});
  BanditSpec bad;
  bad.num_actions = 1;
  expect_config_error([&] { generate_rows(bad, SplitKind::Train, 0, 1); }, {"--actions"});
}

TEST(SyntheticBandit, EnvironmentUsesTheTestStates) {
  BanditSpec spec = bandit_preset("even-imbalanced");
  spec.feature_type = FeatureType::Flipped;
  spec.test.size = 250;
  const int num_groups = spec.num_groups;
  const int num_actions = spec.num_actions;
  const int dim = spec.feature_dim();
  const GeneratedRows test = generate_rows(spec, SplitKind::Test, 0, 250);
  for (const auto& [b, e] : std::vector<std::pair<index_t, index_t>>{{0, 250}, {100, 180}}) {
    const EnvironmentRows env = environment_rows(spec, b, e);
    const index_t local = e - b;
    EXPECT_EQ(env.num_states, 250);
    EXPECT_EQ(env.state_begin, b);
    EXPECT_EQ(env.state_end, e);
    EXPECT_EQ(env.states, slice(test.states, b, e, 2));
    ASSERT_EQ(env.action_features.size(),
              static_cast<std::size_t>(num_groups * local * num_actions * dim));
    for (int g = 0; g < num_groups; ++g) {
      for (index_t m = 0; m < local; ++m) {
        for (int a = 0; a < num_actions; ++a) {
          double phi[4];
          feature_map(spec.feature_type, env.states.data() + 2 * m, 2, a, num_actions, g, phi);
          const std::size_t row = static_cast<std::size_t>((g * local + m) * num_actions + a);
          for (int c = 0; c < dim; ++c) {
            ASSERT_EQ(env.action_features[row * static_cast<std::size_t>(dim) +
                                          static_cast<std::size_t>(c)],
                      phi[c]);
          }
        }
      }
    }
  }
  spec.test.size = 0;
  const EnvironmentRows empty = environment_rows(spec, 0, 0);
  EXPECT_EQ(empty.num_states, 0);
  EXPECT_TRUE(empty.states.empty());
  EXPECT_TRUE(empty.action_features.empty());
}

TEST(SyntheticBandit, FeatureNormBound) {
  // ||phi|| <= max(u, 1/u) sqrt(d) = 1.875 sqrt(d) for A = 8 (section 5.1); 1e-12 for rounding.
  for (auto type : {FeatureType::Same, FeatureType::Swapped, FeatureType::Flipped}) {
    for (std::uint64_t m = 0; m < 500; ++m) {
      const rng::KeyedStream s(rng::hash(11, m));
      const double state[3] = {s.uniform(0), s.uniform(1), s.uniform(2)};
      for (int g = 0; g < 4; ++g) {
        for (int a = 0; a < 8; ++a) {
          double phi[6];
          feature_map(type, state, 3, a, 8, g, phi);
          double norm2 = 0.0;
          for (double v : phi) {
            norm2 += v * v;
          }
          EXPECT_LE(std::sqrt(norm2), 1.875 * std::sqrt(3.0) + 1e-12);
        }
      }
    }
  }
  // The bound is attained: a = 7, s = 0 gives (u, 0) per coordinate pair.
  const double zeros[3] = {0.0, 0.0, 0.0};
  double phi[6];
  feature_map(FeatureType::Same, zeros, 3, 7, 8, 0, phi);
  double norm2 = 0.0;
  for (double v : phi) {
    norm2 += v * v;
  }
  EXPECT_NEAR(std::sqrt(norm2), 1.875 * std::sqrt(3.0), 1e-12);
}

} // namespace
} // namespace grpo::io
