// grpo train names the options that set the fields the solver's errors name.
#include "apps/option_names.hpp"
#include "apps/options.hpp"
#include "core/error.hpp"
#include "solver/lr_schedule.hpp"
#include "solver/neural_solver.hpp"
#include "solver/solver_config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using grpo::ConfigError;
using grpo::ConfigFieldError;
using grpo::app::option_message;
using grpo::app::option_of_field;

/// The message grpo train shows for the error that `f` throws ("" when none).
template <class F>
std::string shown(F&& f) {
  try {
    grpo::app::naming_options(f);
  } catch (const ConfigFieldError& e) {
    return "escaped as a field error: " + std::string(e.what());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(OptionNames, FieldsSpelledWithHyphens) {
  EXPECT_EQ(option_of_field("beta"), "beta");
  EXPECT_EQ(option_of_field("step_theta"), "step-theta");
  EXPECT_EQ(option_of_field("closed_form"), "closed-form");
  EXPECT_EQ(option_of_field("is_weights"), "is-weights");
  EXPECT_EQ(option_of_field("sft_optimizer"), "sft-optimizer");
  EXPECT_EQ(option_of_field("a.b_c"), "a-b-c");
}

TEST(OptionNames, RenamedFields) {
  EXPECT_EQ(option_of_field("schedule.type"), "lr-schedule");
  EXPECT_EQ(option_of_field("schedule.warmup"), "lr-warmup");
  EXPECT_EQ(option_of_field("schedule.min_factor"), "lr-min-factor");
  EXPECT_EQ(option_of_field("schedule.metric"), "plateau-metric");
  EXPECT_EQ(option_of_field("schedule.factor"), "plateau-factor");
  EXPECT_EQ(option_of_field("schedule.patience"), "plateau-patience");
  EXPECT_EQ(option_of_field("schedule.threshold"), "plateau-threshold");
  EXPECT_EQ(option_of_field("schedule.cooldown"), "plateau-cooldown");
  EXPECT_EQ(option_of_field("schedule.stop_lr"), "plateau-stop-lr");
  EXPECT_EQ(option_of_field("schedule.alpha_factor"), "plateau-alpha-factor");
  EXPECT_EQ(option_of_field("optimizer.lr"), "lr");
  EXPECT_EQ(option_of_field("optimizer.weight_decay"), "weight-decay");
  EXPECT_EQ(option_of_field("optimizer.momentum"), "momentum");
  EXPECT_EQ(option_of_field("sft_optimizer.lr"), "sft-lr");
  EXPECT_EQ(option_of_field("network.hidden"), "hidden");
  EXPECT_EQ(option_of_field("network.activation"), "activation");
  EXPECT_EQ(option_of_field("trace.every"), "trace-every");
}

TEST(OptionNames, OptionMessage) {
  const ConfigFieldError e("closed_form", "needs full batches ({sampling} code_batch and "
                                          "{batch_size} 0)");
  EXPECT_EQ(option_message(e), "option --closed-form: needs full batches (--sampling code_batch "
                               "and --batch-size 0)");
  EXPECT_EQ(shown([&] { throw e; }), option_message(e));
  EXPECT_EQ(shown([] { throw ConfigError("option --x: as it was"); }), "option --x: as it was");
  EXPECT_EQ(shown([] {}), "");
}

// The solver's validation, seen through grpo train: the messages of earlier versions, which
// tests/corpus/cases.toml and tests/e2e/test_cli_errors.py check word for word.
TEST(OptionNames, SolverConfigMessages) {
  const std::vector<grpo::index_t> sizes = {4, 4};
  grpo::solver::SolverConfig c;
  c.method = grpo::solver::Method::GrIpo;
  c.closed_form = true;
  c.batch_size = 2;
  EXPECT_EQ(shown([&] { c.validate(sizes); }),
            "option --closed-form: needs full batches (--sampling code_batch and --batch-size 0)");
  c.batch_size = 0;
  c.projection_radius = 1.0;
  EXPECT_EQ(shown([&] { c.validate(sizes); }),
            "option --projection-radius: projection is not defined for --closed-form (the solve "
            "is unconstrained)");
  c.projection_radius = 0.0;
  c.schedule.type = grpo::solver::LrScheduleType::Cosine;
  EXPECT_EQ(shown([&] { c.validate(sizes); }),
            "option --lr-schedule: 'cosine' (or --lr-warmup) is not available with --closed-form "
            "(its theta step is an exact solve, without a learning rate)");
  c = grpo::solver::SolverConfig{};
  c.step_theta = -1.0;
  EXPECT_EQ(shown([&] { c.validate(sizes); }),
            "option --step-theta: invalid value -1 (expected a finite value >= 0)");
  c = grpo::solver::SolverConfig{};
  c.adj = {1.0, 2.0, 3.0};
  EXPECT_EQ(shown([&] { c.validate(sizes); }),
            "option --adj: 3 values given, expected 1 or one per group (2)");
  c = grpo::solver::SolverConfig{};
  c.schedule.warmup = 2000;
  EXPECT_EQ(shown([&] { c.validate(sizes); }),
            "option --lr-warmup: invalid value 2000 (expected an integer in [0, iterations])");
}

TEST(OptionNames, NeuralConfigMessages) {
  const std::vector<grpo::index_t> sizes = {4, 4};
  grpo::solver::NeuralConfig c;
  c.network.input_dim = 3;
  c.optimizer.lr = -1.0;
  EXPECT_EQ(shown([&] { c.validate(sizes, true); }),
            "option --lr: invalid value -1 (expected a finite number >= 0)");
  c = grpo::solver::NeuralConfig{};
  c.network.input_dim = 3;
  c.reference = grpo::solver::ReferenceKind::Sft;
  EXPECT_EQ(shown([&] { c.validate(sizes, true); }),
            "option --reference: 'sft' needs an SFT stage (--sft-steps > 0)");
  c = grpo::solver::NeuralConfig{};
  c.network.input_dim = 3;
  c.schedule.type = grpo::solver::LrScheduleType::Plateau;
  c.schedule.factor = 2.0;
  EXPECT_EQ(shown([&] { c.validate(sizes, true); }),
            "option --plateau-factor: invalid value 2 (expected a value in (0, 1))");
}

TEST(OptionNames, ValueParsersNamedByTheCaller) {
  grpo::app::ParsedOptions p;
  p.values.insert({"method", boost::program_options::variable_value(std::string("bogus"), false)});
  EXPECT_EQ(shown([&] { grpo::app::get_parsed(p, "method", grpo::solver::parse_method); }),
            "option --method: invalid value 'bogus' (accepted: dpo, ipo, is-dpo, is-ipo, gr-dpo, "
            "gr-ipo)");
}

} // namespace
