// LrSchedule: warm-up and cosine factors against hand-derived values, the plateau rule against a
// hand-run of PyTorch's ReduceLROnPlateau (mode max on -loss, relative threshold, patience,
// cooldown, the 1e-8 minimum drop), the alpha tie, early stopping, the checkpoint state round
// trip and its checks, and the options' validation.
#include "core/error.hpp"
#include "solver/lr_schedule.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using namespace grpo::solver;

constexpr double kPi = 3.14159265358979323846;

LrScheduleConfig plateau(std::int64_t patience, double factor, double threshold) {
  LrScheduleConfig c;
  c.type = LrScheduleType::Plateau;
  c.patience = patience;
  c.factor = factor;
  c.threshold = threshold;
  c.stop_lr = 0.0;
  return c;
}

std::string message_of(const LrScheduleConfig& c, std::int64_t iterations) {
  try {
    c.validate(iterations);
  } catch (const grpo::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(LrSchedule, ConstantIsExactlyOneEverywhere) {
  LrSchedule s(LrScheduleConfig{}, 0.1, 100);
  for (std::int64_t t : {0, 1, 50, 99, 1000}) {
    EXPECT_EQ(s.lr_factor(t), 1.0);
  }
  EXPECT_EQ(s.alpha_factor(), 1.0);
  EXPECT_FALSE(s.observe(3.0));
  EXPECT_FALSE(s.stopped());
  EXPECT_TRUE(s.export_state().empty());
  EXPECT_FALSE(LrScheduleConfig{}.active());
}

TEST(LrSchedule, WarmupRampsLinearlyThenHolds) {
  LrScheduleConfig c;
  c.warmup = 4;
  ASSERT_TRUE(c.active());
  const LrSchedule s(c, 1.0, 10);
  const std::vector<double> expected{0.25, 0.5, 0.75, 1.0, 1.0, 1.0};
  for (std::size_t t = 0; t < expected.size(); ++t) {
    EXPECT_EQ(s.lr_factor(static_cast<std::int64_t>(t)), expected[t]) << "t = " << t;
  }
}

TEST(LrSchedule, CosineFollowsHandDerivedValues) {
  LrScheduleConfig c;
  c.type = LrScheduleType::Cosine;
  c.min_factor = 0.1;
  const LrSchedule s(c, 2.0, 5); // no warm-up: progress t / 5
  EXPECT_EQ(s.lr_factor(0), 1.0);
  for (int t = 1; t < 5; ++t) {
    const double shape = 0.1 + 0.9 * 0.5 * (1.0 + std::cos(kPi * t / 5.0));
    EXPECT_NEAR(s.lr_factor(t), shape, 1e-15) << "t = " << t;
  }
  EXPECT_NEAR(s.lr_factor(5), 0.1, 1e-15);   // progress is capped at 1
  EXPECT_NEAR(s.lr_factor(500), 0.1, 1e-15); // and stays there

  c.warmup = 2; // warm-up over steps 0 and 1, then the cosine over the remaining 4 steps
  const LrSchedule w(c, 2.0, 6);
  EXPECT_EQ(w.lr_factor(0), 0.5);
  EXPECT_EQ(w.lr_factor(1), 1.0);
  EXPECT_EQ(w.lr_factor(2), 1.0);
  EXPECT_NEAR(w.lr_factor(4), 0.1 + 0.9 * 0.5, 1e-15); // half way: cos(pi / 2) = 0
  EXPECT_EQ(w.alpha_factor(), 1.0);
  EXPECT_TRUE(w.export_state().empty()); // depends on t alone
}

TEST(LrSchedule, PlateauMatchesReduceLROnPlateau) {
  // patience 2, factor 0.5, relative threshold 0.1; scores s = -loss, best starts at -inf.
  LrScheduleConfig c = plateau(2, 0.5, 0.1);
  c.alpha_factor = 0.25;
  LrSchedule s(c, 1.0, 100);
  EXPECT_FALSE(s.observe(1.0));  // first record: best = -1
  EXPECT_FALSE(s.observe(0.95)); // -0.95 > -1.1: best = -0.95
  EXPECT_FALSE(s.observe(1.04)); // -1.04 > -1.045: a slightly worse loss improves (PyTorch)
  EXPECT_FALSE(s.observe(2.0));  // -2 < -1.144: bad 1
  EXPECT_FALSE(s.observe(2.0));  // bad 2
  EXPECT_EQ(s.lr_factor(10), 1.0);
  EXPECT_TRUE(s.observe(2.0)); // bad 3 > patience: drop
  EXPECT_EQ(s.lr_factor(10), 0.5);
  EXPECT_EQ(s.alpha_factor(), 0.25);
  EXPECT_EQ(s.drops(), 1);
  EXPECT_FALSE(s.observe(2.0)); // counting starts again
  EXPECT_FALSE(s.observe(2.0));
  EXPECT_TRUE(s.observe(2.0));
  EXPECT_EQ(s.lr_factor(10), 0.25);
  EXPECT_EQ(s.alpha_factor(), 0.0625);
  EXPECT_FALSE(s.observe(0.5)); // a real improvement resets the count
  EXPECT_FALSE(s.observe(0.6));
  EXPECT_FALSE(s.observe(0.6));
  EXPECT_TRUE(s.observe(0.6));
  EXPECT_FALSE(s.stopped()); // stop_lr 0
}

TEST(LrSchedule, PlateauWithoutThresholdNeedsAStrictDecrease) {
  LrSchedule s(plateau(0, 0.1, 0.0), 1.0, 100);
  EXPECT_FALSE(s.observe(1.0));
  EXPECT_FALSE(s.observe(0.9));
  EXPECT_TRUE(s.observe(0.9)); // equal is not better; patience 0
  EXPECT_NEAR(s.lr_factor(0), 0.1, 1e-17);
  EXPECT_EQ(s.alpha_factor(), 0.5); // the official halving of eta_alpha
}

TEST(LrSchedule, NonFiniteMetricIsABadRecord) {
  LrSchedule s(plateau(1, 0.5, 0.0), 1.0, 100);
  EXPECT_FALSE(s.observe(std::numeric_limits<double>::infinity()));  // never the best: bad 1
  EXPECT_FALSE(s.observe(1.0));                                      // best, bad 0
  EXPECT_FALSE(s.observe(std::numeric_limits<double>::quiet_NaN())); // bad 1
  EXPECT_TRUE(s.observe(std::numeric_limits<double>::quiet_NaN()));  // bad 2: drop
}

TEST(LrSchedule, CooldownIgnoresBadRecordsAfterADrop) {
  LrScheduleConfig c = plateau(0, 0.5, 0.0);
  c.cooldown = 2;
  LrSchedule s(c, 1.0, 100);
  EXPECT_FALSE(s.observe(1.0));
  EXPECT_TRUE(s.observe(1.0));  // drop; cooldown 2
  EXPECT_FALSE(s.observe(1.0)); // cooldown 1
  EXPECT_FALSE(s.observe(1.0)); // cooldown 0
  EXPECT_TRUE(s.observe(1.0));
  EXPECT_EQ(s.drops(), 2);
}

TEST(LrSchedule, StopsOnceTheRateIsBelowStopLr) {
  LrScheduleConfig c = plateau(0, 0.1, 0.0);
  c.stop_lr = 1.001e-8; // the official code's limit
  LrSchedule s(c, 1e-6, 100);
  EXPECT_FALSE(s.observe(1.0));
  EXPECT_TRUE(s.observe(1.0)); // 1e-7
  EXPECT_FALSE(s.stopped());
  EXPECT_TRUE(s.observe(1.0)); // 1e-8 < 1.001e-8
  EXPECT_TRUE(s.stopped());
  EXPECT_FALSE(s.observe(1.0)); // a stopped schedule observes nothing more
  EXPECT_EQ(s.drops(), 2);
}

TEST(LrSchedule, DropsSmallerThan1e8AreSkippedAsInPyTorch) {
  LrSchedule s(plateau(0, 0.5, 0.0), 1e-8, 100); // 1e-8 -> 5e-9 moves by 5e-9 < 1e-8
  EXPECT_FALSE(s.observe(1.0));
  EXPECT_FALSE(s.observe(1.0));
  EXPECT_EQ(s.drops(), 0);
  EXPECT_EQ(s.lr_factor(0), 1.0);
}

TEST(LrSchedule, ObservesTheRecordsWorstOrAverageValidationLoss) {
  grpo::TraceRecord r;
  r.val_loss = {1.0, 3.0};
  r.worst_val_loss = 3.0;
  LrSchedule worst(plateau(0, 0.5, 0.0), 1.0, 10);
  EXPECT_FALSE(worst.observe(r)); // best 3
  EXPECT_FALSE(worst.observe(2.9));
  EXPECT_TRUE(worst.observe(r)); // 3 is worse than 2.9
  auto c = plateau(0, 0.5, 0.0);
  c.metric = PlateauMetric::AverageValLoss;
  LrSchedule average(c, 1.0, 10);
  EXPECT_FALSE(average.observe(r)); // best 2
  EXPECT_FALSE(average.observe(1.9));
  EXPECT_TRUE(average.observe(r));
  grpo::TraceRecord no_val;
  EXPECT_THROW(average.observe(no_val), grpo::InternalError);
  LrSchedule cosine(LrScheduleConfig{LrScheduleType::Cosine}, 1.0, 10);
  EXPECT_FALSE(cosine.observe(no_val)); // only the plateau rule reads records
}

TEST(LrSchedule, StateRoundTripContinuesTheSameSequence) {
  LrScheduleConfig c = plateau(1, 0.5, 0.01);
  c.cooldown = 1;
  const std::vector<double> metrics{1.0, 0.8, 0.9, 0.9, 0.9, 0.7, 0.75, 0.75, 0.75, 0.75, 0.75};
  LrSchedule whole(c, 0.1, 100);
  std::vector<double> factors;
  for (const double m : metrics) {
    whole.observe(m);
    factors.push_back(whole.lr_factor(0));
  }
  for (std::size_t cut = 0; cut <= metrics.size(); ++cut) {
    LrSchedule first(c, 0.1, 100);
    for (std::size_t i = 0; i < cut; ++i) {
      first.observe(metrics[i]);
    }
    LrSchedule second(c, 0.1, 100);
    second.import_state(first.export_state());
    for (std::size_t i = cut; i < metrics.size(); ++i) {
      second.observe(metrics[i]);
      EXPECT_EQ(second.lr_factor(0), factors[i]) << "cut " << cut << ", record " << i;
    }
    EXPECT_EQ(second.export_state(), whole.export_state());
  }
}

TEST(LrSchedule, ImportRejectsStatesThatDoNotFit) {
  LrSchedule s(plateau(1, 0.5, 0.0), 1.0, 10);
  const auto good = s.export_state();
  ASSERT_EQ(good.size(), 8U);
  EXPECT_THROW(s.import_state({}), grpo::DataError);
  auto bad = good;
  bad[0] = 2.0; // scale above 1
  EXPECT_THROW(s.import_state(bad), grpo::DataError);
  bad = good;
  bad[4] = 1.5; // a fractional count
  EXPECT_THROW(s.import_state(bad), grpo::DataError);
  bad = good;
  bad[7] = 0.5; // a flag
  EXPECT_THROW(s.import_state(bad), grpo::DataError);
  LrSchedule constant(LrScheduleConfig{}, 1.0, 10);
  EXPECT_THROW(constant.import_state(good), grpo::DataError); // a plateau state, no plateau
  EXPECT_NO_THROW(constant.import_state({}));
}

TEST(LrSchedule, ValidationNamesTheField) {
  // The configuration's field; grpo train names the option (tests/apps/test_option_names.cpp).
  const auto names = [](const std::string& message, const std::string& field) {
    return message.rfind(field + ": invalid value ", 0) == 0;
  };
  LrScheduleConfig c;
  EXPECT_EQ(message_of(c, 10), "");
  c.warmup = 11;
  EXPECT_TRUE(names(message_of(c, 10), "warmup"));
  EXPECT_NE(message_of(c, 10).find("invalid value 11"), std::string::npos);
  c = LrScheduleConfig{};
  c.min_factor = 1.5;
  EXPECT_TRUE(names(message_of(c, 10), "min_factor"));
  c = LrScheduleConfig{};
  c.factor = 1.0;
  EXPECT_TRUE(names(message_of(c, 10), "factor"));
  c = LrScheduleConfig{};
  c.patience = -1;
  EXPECT_TRUE(names(message_of(c, 10), "patience"));
  c = LrScheduleConfig{};
  c.threshold = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(names(message_of(c, 10), "threshold"));
  c = LrScheduleConfig{};
  c.alpha_factor = 0.0;
  EXPECT_TRUE(names(message_of(c, 10), "alpha_factor"));
  EXPECT_THROW(parse_lr_schedule("linear"), grpo::ConfigError);
  EXPECT_EQ(parse_lr_schedule("plateau"), LrScheduleType::Plateau);
  EXPECT_EQ(parse_plateau_metric(plateau_metric_name(PlateauMetric::AverageValLoss)),
            PlateauMetric::AverageValLoss);
}

} // namespace
