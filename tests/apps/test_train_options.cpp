// The option table of grpo train (apps/train_options.hpp): every option has help and a default
// that parses and renders back to itself, the defaults both policies share agree (beta 1), the
// refusal of another policy's options and the configuration text are generated from the table.
#include "apps/train_options.hpp"
#include "apps/train_policy.hpp"
#include "core/error.hpp"
#include "solver/lr_schedule.hpp"
#include "solver/neural_solver.hpp"
#include "solver/optimizer.hpp"
#include "solver/solver_config.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace {

using grpo::app::kBothPolicies;
using grpo::app::kLogLinearPolicy;
using grpo::app::kMlpPolicy;
using grpo::app::TrainOption;
using LinearSetup = grpo::app::LogLinearTraining::Setup;
using MlpSetup = grpo::app::MlpTraining::Setup;

const grpo::app::SummarySource kNoDataset =
    [](const std::string& path) -> const grpo::io::DatasetSummary& {
  throw grpo::InternalError("no dataset: " + path);
};

/// The options both of whose values are read but never written in the configuration.
const std::set<std::string> kNotWritten = {"checkpoint-every", "checkpoint", "resume", "check-sync",
                                           "quiet"};

TEST(TrainOptions, EveryOptionHasHelpAndOneName) {
  std::set<std::string> names;
  for (const auto& o : grpo::app::train_option_table()) {
    EXPECT_FALSE(o.help.empty()) << o.name;
    EXPECT_TRUE(names.insert(o.name).second) << "--" << o.name << " twice";
    EXPECT_NE(o.policies & kBothPolicies, 0U) << o.name;
    EXPECT_EQ(&grpo::app::train_option(o.name), &o);
  }
  EXPECT_THROW(grpo::app::train_option("no-such-option"), grpo::InternalError);
}

/// The value of each option in a default setup parses (as the command line gives it) and
/// renders back to itself; a default that --help generates shows that value.
template <class Setup>
void defaults_round_trip(unsigned policy) {
  for (const auto& o : grpo::app::train_option_table()) {
    const auto& b = o.binding<Setup>();
    if (!o.accepts(policy) || !b.set || !b.value || o.name == "preset") {
      continue; // --preset applies a preset: its default is none
    }
    const std::string value = b.value(Setup{});
    if (value.empty()) {
      continue; // absent by default: --theta-init, --is-weights, --checkpoint (<out>.ckpt)
    }
    Setup parsed;
    parsed.config.seed = 12345; // something else than the default, for seed itself
    b.set(value, parsed, kNoDataset);
    EXPECT_EQ(b.value(parsed), value) << "--" << o.name;
    if (o.shown_default.find("{}") != std::string::npos) {
      EXPECT_NE(grpo::app::help_default(o).find(value), std::string::npos) << "--" << o.name;
    }
  }
}

TEST(TrainOptions, DefaultsParseAndRenderBack) {
  defaults_round_trip<LinearSetup>(kLogLinearPolicy);
  defaults_round_trip<MlpSetup>(kMlpPolicy);
}

TEST(TrainOptions, DefaultsSharedByBothPoliciesAgree) {
  int shared = 0;
  for (const auto& o : grpo::app::train_option_table()) {
    if (o.loglinear.set && o.mlp.set && o.loglinear.value && o.mlp.value) {
      EXPECT_EQ(o.loglinear.value(LinearSetup{}), o.mlp.value(MlpSetup{})) << "--" << o.name;
      ++shared;
    }
  }
  EXPECT_GE(shared, 10);
  // The documented beta (docs/cli.md): 1 for both policies, one constant in the solver.
  namespace shared_defaults = grpo::solver::shared_defaults;
  EXPECT_EQ(shared_defaults::beta, 1.0);
  EXPECT_EQ(grpo::solver::SolverConfig{}.beta, shared_defaults::beta);
  EXPECT_EQ(grpo::solver::NeuralConfig{}.beta, shared_defaults::beta);
  EXPECT_EQ(grpo::app::help_text(grpo::app::train_option("beta")),
            "DPO temperature / IPO target 1/(2 beta), > 0 [1]");
}

TEST(TrainOptions, LiteralDefaultsInHelpMatchTheStructs) {
  const auto& stop = grpo::app::train_option("plateau-stop-lr");
  EXPECT_EQ(grpo::app::parse_double("plateau-stop-lr", grpo::app::help_default(stop)),
            grpo::solver::LrScheduleConfig{}.stop_lr);
  EXPECT_EQ(grpo::app::help_default(grpo::app::train_option("weight-decay")), "0.01 adamw, else 0");
  using grpo::solver::OptimizerConfig;
  using grpo::solver::OptimizerType;
  for (const auto type : {OptimizerType::Sgd, OptimizerType::Adam, OptimizerType::RmsProp}) {
    EXPECT_EQ(OptimizerConfig::defaults(type).weight_decay, 0.0);
  }
  EXPECT_EQ(grpo::app::help_default(grpo::app::train_option("ada-coef")), "0 = off");
  EXPECT_EQ(grpo::app::help_default(grpo::app::train_option("theta-init")), "");
}

/// The message of mlp_policy_selected for `args` ("" when it accepts them).
std::string refusal(const std::vector<std::string>& args) {
  const auto parsed = grpo::app::parse_options("train", grpo::app::train_options(), args);
  try {
    grpo::app::mlp_policy_selected(parsed);
  } catch (const grpo::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TrainOptions, RefusalOfAnotherPolicysOptionsComesFromTheTable) {
  int linear_only = 0;
  int mlp_only = 0;
  for (const auto& o : grpo::app::train_option_table()) {
    if (!o.takes_value || o.name == "policy" || o.name == "config") {
      continue; // --help; --policy itself; --config=1 would be read
    }
    const std::string option = "--" + o.name + "=1";
    const std::string mlp = refusal({"--policy", "mlp", option});
    const std::string linear = refusal({option});
    if (o.accepts(kMlpPolicy)) {
      EXPECT_EQ(mlp, "") << o.name;
    } else {
      EXPECT_EQ(mlp, "option --" + o.name + ": not available with --policy mlp");
      EXPECT_FALSE(o.mlp.set) << o.name;
      ++linear_only;
    }
    if (o.accepts(kLogLinearPolicy)) {
      EXPECT_EQ(linear, "") << o.name;
    } else {
      EXPECT_EQ(linear, "option --" + o.name + ": only with --policy mlp");
      EXPECT_FALSE(o.loglinear.set) << o.name;
      ++mlp_only;
    }
  }
  EXPECT_EQ(linear_only, 17); // the former kLogLinearOnly list
  EXPECT_EQ(mlp_only, 15);    // the former kMlpOnly list
  // --step-theta is accepted by --policy mlp and ignored, as before the table.
  EXPECT_TRUE(grpo::app::train_option("step-theta").accepts(kMlpPolicy));
  EXPECT_FALSE(grpo::app::train_option("step-theta").mlp.set);
}

template <class Setup>
void lines_cover_the_options(unsigned policy) {
  const auto& lines = grpo::app::configuration_lines(policy);
  const std::set<std::string> written(lines.begin(), lines.end());
  EXPECT_EQ(written.size(), lines.size());
  for (const auto& name : lines) {
    const TrainOption& o = grpo::app::train_option(name);
    EXPECT_TRUE(o.accepts(policy)) << name;
    EXPECT_TRUE(o.binding<Setup>().value) << name;
  }
  for (const auto& o : grpo::app::train_option_table()) {
    if (o.accepts(policy) && o.binding<Setup>().set && kNotWritten.count(o.name) == 0) {
      EXPECT_EQ(written.count(o.name), 1U) << "--" << o.name << " is read but not written";
    }
  }
}

TEST(TrainOptions, ConfigurationLinesAreTheOptionsRead) {
  lines_cover_the_options<LinearSetup>(kLogLinearPolicy);
  lines_cover_the_options<MlpSetup>(kMlpPolicy);
}

// Checkpoints and traces keep this text and resume compares it: it never changes.
TEST(TrainOptions, DefaultConfigurationText) {
  LinearSetup linear;
  linear.run.paths = {"d.h5", "t.h5"};
  EXPECT_EQ(grpo::app::render_train_options(linear),
            "dataset = d.h5\nout = t.h5\nmethod = gr-dpo\nseed = 2021\niterations = 1000\n"
            "beta = 1\nstep-theta = 0.1\nstep-alpha = 0.01\nchi = 1\nl2 = 0\nadj = 0\n"
            "ada-coef = 0\nexp-adaptive = 0\nsampling = code_batch\nbatch-size = 0\n"
            "batch-mode = uniform\nprojection-radius = 0\nclosed-form = false\n"
            "closed-form-weights = paper\nalpha-loss-norm = mean\nridge = 0\n"
            "is-normalization = batch\nparam-limit = 1\ntrace-every = 100\ngap = false\n");
  MlpSetup mlp;
  mlp.run.paths = {"d.h5", "t.h5"};
  EXPECT_EQ(grpo::app::render_train_options(mlp),
            "dataset = d.h5\nout = t.h5\npolicy = mlp\nhidden = 64\nactivation = tanh\n"
            "method = gr-dpo\nseed = 2021\niterations = 1000\nbeta = 1\nstep-alpha = 0.01\n"
            "chi = 1\nbatch-size = 0\nmicro-batches = 1\nalpha-update = step\n"
            "optimizer = adamw\nlr = 0.001\nweight-decay = 0.01\nmomentum = 0\nclip-norm = 10\n"
            "sft-steps = 0\nsft-batch = 16\nsft-optimizer = rmsprop\nsft-lr = 0.0001\n"
            "sft-warmup = 0\nreference = initial\ntrace-every = 100\n");
}

TEST(TrainOptions, ReadingFollowsTheTable) {
  const auto parsed = grpo::app::parse_options(
      "train", grpo::app::train_options(),
      {"--dataset", "d.h5", "--out", "t.h5", "--policy", "mlp", "--lr", "0.5", "--optimizer", "sgd",
       "--sft-steps", "3", "--lr-schedule", "cosine", "--lr-min-factor", "0.2"});
  MlpSetup s;
  s.run.paths = {"d.h5", "t.h5"};
  grpo::app::read_train_options(parsed, s, kNoDataset);
  EXPECT_EQ(s.config.optimizer.type, grpo::solver::OptimizerType::Sgd);
  EXPECT_EQ(s.config.optimizer.lr, 0.5); // --optimizer keeps --lr, whatever their order
  EXPECT_EQ(s.config.reference, grpo::solver::ReferenceKind::Sft); // derived from --sft-steps
  EXPECT_EQ(s.run.checkpoint.path, "t.h5.ckpt");
  EXPECT_EQ(s.config.schedule.min_factor, 0.2);

  const auto bad =
      grpo::app::parse_options("train", grpo::app::train_options(),
                               {"--dataset", "d.h5", "--out", "t.h5", "--plateau-factor", "0.5"});
  LinearSetup linear;
  linear.run.paths = {"d.h5", "t.h5"};
  try {
    grpo::app::read_train_options(bad, linear, kNoDataset);
    ADD_FAILURE() << "no error";
  } catch (const grpo::ConfigError& e) {
    EXPECT_STREQ(e.what(), "option --plateau-factor: only with --lr-schedule plateau");
  }
}

} // namespace
