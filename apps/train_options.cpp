// The table of `grpo train`'s options (apps/train_options.hpp) and what is generated from it:
// the --help and INI description, the refusal of another policy's options, the setups of both
// policies and their configuration text. Longer than about 600 lines for a reason: it is the one
// table of every option (about 60 rows, most of them formatted over several lines), which is the
// point of having it; split by --help group it would be three files of one list.
#include "apps/train_options.hpp"

#include "core/error.hpp"
#include "io/train_presets.hpp"

#include <cstdint>
#include <sstream>
#include <type_traits>
#include <utility>

namespace grpo::app {

namespace {

using LinearSetup = LogLinearTraining::Setup;
using MlpSetup = MlpTraining::Setup;

/// A value's parser (ConfigError naming the option) and its text in the configuration.
template <class T>
struct Codec {
  std::function<T(const char* name, const std::string& text)> parse;
  std::function<std::string(const T& value)> show;
};

Codec<double> number() {
  return {[](const char* name, const std::string& text) { return parse_double(name, text); },
          [](const double& v) { return format_double(v); }};
}

Codec<std::int64_t> integer() {
  return {[](const char* name, const std::string& text) { return parse_int(name, text); },
          [](const std::int64_t& v) { return std::to_string(v); }};
}

Codec<std::uint64_t> non_negative_integer() {
  return {[](const char* name, const std::string& text) { return parse_uint(name, text); },
          [](const std::uint64_t& v) { return std::to_string(v); }};
}

Codec<bool> boolean() {
  return {[](const char* name, const std::string& text) { return parse_bool(name, text); },
          [](const bool& v) { return std::string(v ? "true" : "false"); }};
}

Codec<std::string> verbatim() {
  return {[](const char* /*name*/, const std::string& text) { return text; },
          [](const std::string& v) { return v; }};
}

Codec<std::vector<double>> values() {
  return {[](const char* name, const std::string& text) { return parse_list(name, text); },
          [](const std::vector<double>& v) { return join_values(v); }};
}

/// A named value: parse(text) (solver::parse_method, ...) and its name (solver::method_name).
template <class Parse, class Name>
auto named(Parse parse, Name name) {
  using T = decltype(parse(std::string()));
  return Codec<T>{[parse](const char* option, const std::string& text) {
                    return parse_named(option, text, parse);
                  },
                  [name](const T& v) { return std::string(name(v)); }};
}

std::string hidden_text(const std::vector<int>& hidden) {
  if (hidden.empty()) {
    return "none";
  }
  std::string s;
  for (std::size_t i = 0; i < hidden.size(); ++i) {
    s += (i != 0U ? "," : "") + std::to_string(hidden[i]);
  }
  return s;
}

template <class Setup, class T, class Access>
void bind_field(OptionBinding<Setup>& b, const std::string& name, const Codec<T>& codec,
                Access access) {
  b.set = [name, codec, access](const std::string& text, Setup& s, const SummarySource&) {
    access(s) = codec.parse(name.c_str(), text);
  };
  b.value = [codec, access](const Setup& s) { return codec.show(access(s)); };
}

/// An option of the policies `Policies` whose value is the field `access(setup)`.
template <unsigned Policies, class T, class Access>
TrainOption field(const char* name, HelpGroup group, const char* help, const Codec<T>& codec,
                  Access access) {
  TrainOption o;
  o.name = name;
  o.group = group;
  o.policies = Policies;
  o.help = help;
  if constexpr ((Policies & kLogLinearPolicy) != 0U) {
    bind_field(o.loglinear, o.name, codec, access);
  }
  if constexpr ((Policies & kMlpPolicy) != 0U) {
    bind_field(o.mlp, o.name, codec, access);
  }
  return o;
}

/// An option without a field: read before the table, or by Boost itself.
TrainOption plain(const char* name, const char* help, const char* shown_default) {
  TrainOption o;
  o.name = name;
  o.help = help;
  o.shown_default = shown_default;
  return o;
}

TrainOption flag(TrainOption o) {
  o.flag = true;
  return o;
}

/// check(setup) for both bindings of `o` (the generic lambda sees either setup).
template <class Check>
void check_both(TrainOption& o, Check check) {
  if (o.accepts(kLogLinearPolicy)) {
    o.loglinear.check = check;
  }
  if (o.accepts(kMlpPolicy)) {
    o.mlp.check = check;
  }
}

/// The line of a schedule option is written when `when(schedule)`; the option is an error
/// unless `when` holds for the chosen schedule ("option --lr-min-factor: only with
/// --lr-schedule cosine"); both only when `needs` names the schedule.
template <class When>
TrainOption schedule_option(TrainOption o, When when, const char* needs) {
  const auto written = [when](const auto& s) { return when(s.config.schedule); };
  o.loglinear.written = written;
  o.mlp.written = written;
  if (needs != nullptr) {
    const std::string name = o.name;
    const std::string message =
        "option --" + name + ": only with --lr-schedule " + std::string(needs);
    check_both(o, [name, when, message](const ParsedOptions& p, const auto& s) {
      if (given(p, name.c_str()) && !when(s.config.schedule)) {
        throw ConfigError(message);
      }
    });
  }
  return o;
}

template <class Setup>
void check_trace_every(const ParsedOptions& /*p*/, const Setup& s) {
  if (s.run.trace_every < 1) {
    throw ConfigError("option --trace-every: invalid value " + std::to_string(s.run.trace_every) +
                      " (expected an integer >= 1)");
  }
}

std::vector<TrainOption> make_table() {
  constexpr unsigned kBoth = kBothPolicies;
  constexpr unsigned kLinear = kLogLinearPolicy;
  constexpr unsigned kMlp = kMlpPolicy;
  constexpr HelpGroup kTrain = HelpGroup::Train;
  constexpr HelpGroup kSchedule = HelpGroup::Schedule;
  constexpr HelpGroup kNeural = HelpGroup::Mlp;
  std::vector<TrainOption> t;

  auto help = plain("help", "show this help", "");
  help.short_name = 'h';
  help.takes_value = false;
  t.push_back(help);
  t.push_back(plain("config", "INI file with any of these options (command line wins)", ""));
  // Read by required_paths before the table; written first.
  auto dataset = plain("dataset", "input dataset (HDF5, docs/formats.md)", "required");
  auto out = plain("out", "output trace (HDF5)", "required");
  dataset.loglinear.value = [](const LinearSetup& s) { return s.run.paths.dataset; };
  dataset.mlp.value = [](const MlpSetup& s) { return s.run.paths.dataset; };
  out.loglinear.value = [](const LinearSetup& s) { return s.run.paths.out; };
  out.mlp.value = [](const MlpSetup& s) { return s.run.paths.out; };
  t.push_back(dataset);
  t.push_back(out);
  // Read by mlp_policy_selected before the table; only MLP configurations say it.
  auto policy = plain("policy", "loglinear | mlp (the MLP options below)", "loglinear");
  policy.mlp.value = [](const MlpSetup& /*s*/) { return std::string("mlp"); };
  t.push_back(policy);
  t.push_back(field<kBoth>(
      "method", kTrain, "dpo | ipo | is-dpo | is-ipo | gr-dpo | gr-ipo",
      named(solver::parse_method, solver::method_name),
      [](auto& s) -> auto& { return s.config.method; }));
  // After --method, before the other options: a preset replaces the whole configuration.
  auto preset = plain("preset",
                      "hyperparameters of the paper: paper (setting from the dataset), "
                      "paper-even-imbalanced, paper-uneven-balanced, paper-uneven-imbalanced",
                      "");
  preset.policies = kLinear;
  preset.comment = true;
  preset.loglinear.set = [](const std::string& name, LinearSetup& s, const SummarySource& summary) {
    s.preset = name;
    std::string setting;
    if (name == "paper") {
      const auto& attributes = summary(s.run.paths.dataset).attributes;
      const auto it = attributes.find("preset");
      setting = it == attributes.end() ? "" : it->second;
    }
    const auto chosen = io::train_preset(name, s.config.method, setting, s.run.paths.dataset);
    s.config = chosen.config;
    s.run.trace_every = chosen.trace_every;
  };
  preset.loglinear.value = [](const LinearSetup& s) { return s.preset; };
  preset.loglinear.written = [](const LinearSetup& s) { return !s.preset.empty(); };
  t.push_back(preset);
  t.push_back(field<kBoth>(
      "seed", kTrain, "seed of theta_0 and of mini-batch draws", non_negative_integer(),
      [](auto& s) -> auto& { return s.config.seed; }));
  auto iterations = field<kBoth>(
      "iterations", kTrain, "number of steps T", integer(),
      [](auto& s) -> auto& { return s.config.iterations; });
  // --policy mlp: NeuralConfig::validate says the same, once the dataset is inspected.
  iterations.loglinear.check = [](const ParsedOptions& /*p*/, const LinearSetup& s) {
    if (s.config.iterations < 1) {
      throw ConfigError("option --iterations: invalid value " +
                        std::to_string(s.config.iterations) + " (expected an integer >= 1)");
    }
  };
  t.push_back(iterations);
  t.push_back(field<kBoth>(
      "beta", kTrain, "DPO temperature / IPO target 1/(2 beta), > 0", number(),
      [](auto& s) -> auto& { return s.config.beta; }));
  auto step_theta = field<kLinear>(
      "step-theta", kTrain, "eta_theta, >= 0", number(),
      [](auto& s) -> auto& { return s.config.step_theta; });
  // Accepted and ignored by --policy mlp (its rate is --lr), as before this table.
  step_theta.policies = kBoth;
  t.push_back(step_theta);
  t.push_back(field<kBoth>(
      "step-alpha", kTrain, "eta_alpha, >= 0", number(),
      [](auto& s) -> auto& { return s.config.step_alpha; }));
  t.push_back(field<kBoth>(
      "chi", kTrain, "worst-case weight in [0,1]: w_g = (1-chi)/K + chi alpha_g", number(),
      [](auto& s) -> auto& { return s.config.chi; }));
  t.push_back(field<kLinear>(
      "l2", kTrain, "L2 penalty lambda_2 ||theta||^2 (added once)", number(),
      [](auto& s) -> auto& { return s.config.l2; }));
  auto adj_values = values();
  adj_values.show = [](const std::vector<double>& v) { return v.empty() ? "0" : join_values(v); };
  t.push_back(field<kLinear>(
      "adj", kTrain, "generalisation adjustment C (one value or K, comma-separated)", adj_values,
      [](auto& s) -> auto& { return s.config.adj; }));
  auto ada_coef = field<kLinear>(
      "ada-coef", kTrain, "> 0: AdaGrad-type eta_theta = ada_coef / sqrt(H)", number(),
      [](auto& s) -> auto& { return s.config.ada_coef; });
  ada_coef.shown_default = "{} = off";
  t.push_back(ada_coef);
  auto exp_adaptive = field<kLinear>(
      "exp-adaptive", kTrain, "> 0: eta_alpha * exp_adaptive / sqrt(H)", number(),
      [](auto& s) -> auto& { return s.config.exp_adaptive; });
  exp_adaptive.shown_default = "{} = off";
  t.push_back(exp_adaptive);
  t.push_back(field<kLinear>(
      "sampling", kTrain, "code_batch | paper_single",
      named(solver::parse_sampling, solver::sampling_name),
      [](auto& s) -> auto& { return s.config.sampling; }));
  auto batch_size = field<kBoth>(
      "batch-size", kTrain, "pairs per step; 0 = full batch (code_batch), 1 (paper_single)",
      integer(), [](auto& s) -> auto& { return s.config.batch_size; });
  // --policy mlp: NeuralConfig::validate ("0 = all training pairs").
  batch_size.loglinear.check = [](const ParsedOptions& /*p*/, const LinearSetup& s) {
    if (s.config.batch_size < 0) {
      throw ConfigError("option --batch-size: invalid value " +
                        std::to_string(s.config.batch_size) +
                        " (expected an integer >= 0, 0 = full batch)");
    }
  };
  t.push_back(batch_size);
  t.push_back(field<kLinear>(
      "batch-mode", kTrain, "mini-batch draw: uniform | group-weighted",
      named(solver::parse_batch_mode, solver::batch_mode_name),
      [](auto& s) -> auto& { return s.config.batch_mode; }));
  t.push_back(field<kLinear>(
      "projection-radius", kTrain, "project theta on the L2 ball of this radius; 0 = off", number(),
      [](auto& s) -> auto& { return s.config.projection_radius; }));
  t.push_back(flag(field<kLinear>(
      "closed-form", kTrain, "IPO family: exact theta best response", boolean(),
      [](auto& s) -> auto& { return s.config.closed_form; })));
  t.push_back(field<kLinear>(
      "closed-form-weights", kTrain, "closed form v_g: paper (w_g/N_g) | code (w_g)",
      named(solver::parse_closed_form_weights, solver::closed_form_weights_name),
      [](auto& s) -> auto& { return s.config.closed_form_weights; }));
  t.push_back(field<kLinear>(
      "alpha-loss-norm", kTrain, "closed-form alpha signal: mean | code_double",
      named(solver::parse_alpha_loss_norm, solver::alpha_loss_norm_name),
      [](auto& s) -> auto& { return s.config.alpha_loss_norm; }));
  t.push_back(field<kLinear>(
      "ridge", kTrain, "ridge lambda of the closed-form solve", number(),
      [](auto& s) -> auto& { return s.config.ridge; }));
  auto is_weights = field<kBoth>(
      "is-weights", kTrain, "importance weights (K values)", values(),
      [](auto& s) -> auto& { return s.config.is_weights; });
  is_weights.shown_default = "proportional to 1/N_g";
  is_weights.loglinear.written = [](const LinearSetup& s) { return !s.config.is_weights.empty(); };
  is_weights.mlp.written = [](const MlpSetup& s) { return !s.config.is_weights.empty(); };
  t.push_back(is_weights);
  t.push_back(field<kLinear>(
      "is-normalization", kTrain, "IS gradient divisor: batch (|B|) | group (n_g)",
      named(solver::parse_is_normalization, solver::is_normalization_name),
      [](auto& s) -> auto& { return s.config.is_normalization; }));
  t.push_back(field<kLinear>(
      "param-limit", kTrain, "theta_0 ~ U[0, param-limit]", number(),
      [](auto& s) -> auto& { return s.config.param_limit; }));
  auto theta_init = field<kLinear>(
      "theta-init", kTrain,
      "initial theta: comma-separated values, or a trace .h5 (its theta_final)", verbatim(),
      [](auto& s) -> auto& { return s.theta_init; });
  theta_init.shown_default = "";
  theta_init.loglinear.written = [](const LinearSetup& s) { return !s.theta_init.empty(); };
  t.push_back(theta_init);
  auto trace_every = field<kBoth>(
      "trace-every", kTrain, "record metrics every N steps (and after the last)", integer(),
      [](auto& s) -> auto& { return s.run.trace_every; });
  trace_every.loglinear.check = check_trace_every<LinearSetup>;
  trace_every.mlp.check = check_trace_every<MlpSetup>;
  t.push_back(trace_every);
  auto checkpoint_every = field<kBoth>(
      "checkpoint-every", kTrain, "write a checkpoint every N steps; 0 = never", integer(),
      [](auto& s) -> auto& { return s.run.checkpoint.every; });
  check_both(checkpoint_every, [](const ParsedOptions& /*p*/, const auto& s) {
    if (s.run.checkpoint.every < 0) {
      throw ConfigError("option --checkpoint-every: invalid value " +
                        std::to_string(s.run.checkpoint.every) + " (expected an integer >= 0)");
    }
  });
  t.push_back(checkpoint_every);
  auto checkpoint = field<kBoth>(
      "checkpoint", kTrain, "checkpoint file", verbatim(),
      [](auto& s) -> auto& { return s.run.checkpoint.path; });
  checkpoint.shown_default = "<out>.ckpt";
  const auto checkpoint_path = [](const ParsedOptions& /*p*/, auto& s) {
    if (s.run.checkpoint.path.empty()) {
      s.run.checkpoint.path = s.run.paths.out + ".ckpt";
    }
  };
  checkpoint.loglinear.derive = checkpoint_path;
  checkpoint.mlp.derive = checkpoint_path;
  check_both(checkpoint, [](const ParsedOptions& /*p*/, const auto& s) {
    const auto& path = s.run.checkpoint.path;
    if (path == s.run.paths.out || path == s.run.paths.dataset) {
      throw ConfigError("option --checkpoint: '" + path +
                        "' is the dataset or the trace; choose another file");
    }
  });
  t.push_back(checkpoint);
  t.push_back(flag(field<kBoth>(
      "resume", kTrain,
      "continue from the checkpoint (same options): the trace and "
      "results equal an uninterrupted run; without a checkpoint, start "
      "from the beginning",
      boolean(), [](auto& s) -> auto& { return s.run.checkpoint.resume; })));
  t.push_back(flag(field<kLinear>(
      "gap", kTrain, "certified duality gap at every record: a Newton solve in d dimensions",
      boolean(), [](auto& s) -> auto& { return s.gap; })));
  t.push_back(flag(field<kLinear>(
      "check-sync", kTrain, "at every record, verify theta is bit-identical on all ranks",
      boolean(), [](auto& s) -> auto& { return s.check_sync; })));
  auto quiet = flag(field<kBoth>(
      "quiet", kTrain, "no configuration or progress output", boolean(),
      [](auto& s) -> auto& { return s.run.quiet; }));
  quiet.short_name = 'q';
  quiet.shown_default = "";
  t.push_back(quiet);

  // The learning-rate schedule (both policies): no lines for the constant rate, so that runs
  // without a schedule keep the configuration text of earlier versions.
  using solver::LrScheduleConfig;
  using solver::LrScheduleType;
  const auto active = [](const LrScheduleConfig& c) { return c.active(); };
  const auto cosine = [](const LrScheduleConfig& c) { return c.type == LrScheduleType::Cosine; };
  const auto plateau = [](const LrScheduleConfig& c) { return c.type == LrScheduleType::Plateau; };
  t.push_back(
      schedule_option(field<kBoth>(
                          "lr-schedule", kSchedule,
                          "constant | cosine | plateau: of eta_theta (loglinear) or --lr (mlp)",
                          named(solver::parse_lr_schedule, solver::lr_schedule_name),
                          [](auto& s) -> auto& { return s.config.schedule.type; }),
                      active, nullptr));
  t.push_back(schedule_option(
      field<kBoth>(
          "lr-warmup", kSchedule, "linear warm-up of the rate over this many steps, any schedule",
          integer(), [](auto& s) -> auto& { return s.config.schedule.warmup; }),
      active, nullptr));
  t.push_back(schedule_option(field<kBoth>(
                                  "lr-min-factor", kSchedule,
                                  "cosine: final rate as a fraction of the base rate", number(),
                                  [](auto& s) -> auto& { return s.config.schedule.min_factor; }),
                              cosine, "cosine"));
  t.push_back(
      schedule_option(field<kBoth>(
                          "plateau-metric", kSchedule,
                          "plateau: worst_val_loss | average_val_loss, observed at every record "
                          "(--trace-every)",
                          named(solver::parse_plateau_metric, solver::plateau_metric_name),
                          [](auto& s) -> auto& { return s.config.schedule.metric; }),
                      plateau, "plateau"));
  t.push_back(schedule_option(field<kBoth>(
                                  "plateau-factor", kSchedule,
                                  "plateau: rate multiplier of a drop, in (0, 1)", number(),
                                  [](auto& s) -> auto& { return s.config.schedule.factor; }),
                              plateau, "plateau"));
  t.push_back(schedule_option(field<kBoth>(
                                  "plateau-patience", kSchedule,
                                  "plateau: records without improvement before a drop", integer(),
                                  [](auto& s) -> auto& { return s.config.schedule.patience; }),
                              plateau, "plateau"));
  t.push_back(
      schedule_option(field<kBoth>(
                          "plateau-threshold", kSchedule, "plateau: relative improvement threshold",
                          number(), [](auto& s) -> auto& { return s.config.schedule.threshold; }),
                      plateau, "plateau"));
  t.push_back(schedule_option(field<kBoth>(
                                  "plateau-cooldown", kSchedule,
                                  "plateau: records after a drop that are not counted", integer(),
                                  [](auto& s) -> auto& { return s.config.schedule.cooldown; }),
                              plateau, "plateau"));
  auto stop_lr = schedule_option(field<kBoth>(
                                     "plateau-stop-lr", kSchedule,
                                     "plateau: stop the run once the rate is below this", number(),
                                     [](auto& s) -> auto& { return s.config.schedule.stop_lr; }),
                                 plateau, "plateau");
  stop_lr.shown_default = "1.001e-8"; // format_double writes 1.001e-08 (a unit test compares)
  t.push_back(stop_lr);
  t.push_back(schedule_option(field<kBoth>(
                                  "plateau-alpha-factor", kSchedule,
                                  "plateau: eta_alpha multiplier at every drop", number(),
                                  [](auto& s) -> auto& { return s.config.schedule.alpha_factor; }),
                              plateau, "plateau"));

  // --policy mlp only (ALGORITHM.md §8).
  t.push_back(field<kMlp>(
      "hidden", kNeural, "hidden layer widths, comma-separated; none = log-linear",
      Codec<std::vector<int>>{[](const char* name, const std::string& text) {
                                return parse_named(name, text, policies::parse_hidden);
                              },
                              hidden_text},
      [](auto& s) -> auto& { return s.config.network.hidden; }));
  t.push_back(field<kMlp>(
      "activation", kNeural, "relu | tanh | gelu (tanh approximation)",
      named(policies::parse_activation, policies::activation_name),
      [](auto& s) -> auto& { return s.config.network.activation; }));
  // A new optimiser starts from its own defaults and keeps the learning rate.
  auto optimizer = field<kMlp>(
      "optimizer", kNeural, "sgd | adam | adamw | rmsprop",
      named(solver::parse_optimizer, solver::optimizer_name),
      [](auto& s) -> auto& { return s.config.optimizer.type; });
  optimizer.mlp.set = [](const std::string& text, MlpSetup& s, const SummarySource&) {
    const auto type = parse_named("optimizer", text, solver::parse_optimizer);
    const double lr = s.config.optimizer.lr;
    s.config.optimizer = solver::OptimizerConfig::defaults(type);
    s.config.optimizer.lr = lr;
  };
  t.push_back(optimizer);
  t.push_back(field<kMlp>(
      "lr", kNeural, "learning rate", number(),
      [](auto& s) -> auto& { return s.config.optimizer.lr; }));
  auto weight_decay = field<kMlp>(
      "weight-decay", kNeural, "L2 (sgd, adam, rmsprop) or decoupled (adamw)", number(),
      [](auto& s) -> auto& { return s.config.optimizer.weight_decay; });
  weight_decay.shown_default = "{} adamw, else 0";
  t.push_back(weight_decay);
  t.push_back(field<kMlp>(
      "momentum", kNeural, "SGD momentum", number(),
      [](auto& s) -> auto& { return s.config.optimizer.momentum; }));
  t.push_back(field<kMlp>(
      "clip-norm", kNeural, "clip the gradient norm to this value; 0 = off", number(),
      [](auto& s) -> auto& { return s.config.clip_norm; }));
  t.push_back(field<kMlp>(
      "micro-batches", kNeural, "parts of each step's batch; alpha is updated per part", integer(),
      [](auto& s) -> auto& { return s.config.micro_batches; }));
  t.push_back(field<kMlp>(
      "alpha-update", kNeural, "step (group means, §2.2) | micro-batch (N/N_g-weighted sums, §8.3)",
      named(solver::parse_alpha_update, solver::alpha_update_name),
      [](auto& s) -> auto& { return s.config.alpha_update; }));
  auto reference = field<kMlp>(
      "reference", kNeural, "uniform | initial | sft: the frozen reference policy",
      named(solver::parse_reference, solver::reference_name),
      [](auto& s) -> auto& { return s.config.reference; });
  reference.shown_default = "sft with --sft-steps, else initial";
  reference.mlp.derive = [](const ParsedOptions& p, MlpSetup& s) {
    if (!given(p, "reference")) {
      s.config.reference =
          s.config.sft_steps > 0 ? solver::ReferenceKind::Sft : solver::ReferenceKind::Initial;
    }
  };
  t.push_back(reference);
  t.push_back(field<kMlp>(
      "sft-steps", kNeural, "SFT steps before preference training (needs option data)", integer(),
      [](auto& s) -> auto& { return s.config.sft_steps; }));
  t.push_back(field<kMlp>(
      "sft-batch", kNeural, "prompts per SFT step; 0 = all", integer(),
      [](auto& s) -> auto& { return s.config.sft_batch; }));
  auto sft_optimizer = field<kMlp>(
      "sft-optimizer", kNeural, "optimizer of the SFT stage",
      named(solver::parse_optimizer, solver::optimizer_name),
      [](auto& s) -> auto& { return s.config.sft_optimizer.type; });
  sft_optimizer.mlp.set = [](const std::string& text, MlpSetup& s, const SummarySource&) {
    const auto type = parse_named("sft-optimizer", text, solver::parse_optimizer);
    const double lr = s.config.sft_optimizer.lr;
    s.config.sft_optimizer = solver::OptimizerConfig::defaults(type);
    s.config.sft_optimizer.lr = lr;
  };
  t.push_back(sft_optimizer);
  t.push_back(field<kMlp>(
      "sft-lr", kNeural, "SFT learning rate", number(),
      [](auto& s) -> auto& { return s.config.sft_optimizer.lr; }));
  t.push_back(field<kMlp>(
      "sft-warmup", kNeural, "linear SFT learning-rate warm-up, in steps", integer(),
      [](auto& s) -> auto& { return s.config.sft_warmup; }));
  return t;
}

const char* group_caption(HelpGroup group) {
  switch (group) {
  case HelpGroup::Train:
    return "grpo train options";
  case HelpGroup::Schedule:
    return "learning-rate schedule (both policies; docs/methods.md)";
  case HelpGroup::Mlp:
    return "options of --policy mlp (ALGORITHM.md §8; docs/cli.md)";
  }
  return "?";
}

template <class Setup>
constexpr unsigned policy_of() {
  return std::is_same_v<Setup, LinearSetup> ? kLogLinearPolicy : kMlpPolicy;
}

} // namespace

const std::vector<TrainOption>& train_option_table() {
  static const std::vector<TrainOption> table = make_table();
  return table;
}

const TrainOption& train_option(const std::string& name) {
  for (const auto& o : train_option_table()) {
    if (o.name == name) {
      return o;
    }
  }
  throw InternalError("grpo train has no option --" + name);
}

const std::vector<std::string>& configuration_lines(unsigned policy) {
  static const std::vector<std::string> schedule = {
      "lr-schedule",     "lr-warmup",           "lr-min-factor",     "plateau-metric",
      "plateau-factor",  "plateau-patience",    "plateau-threshold", "plateau-cooldown",
      "plateau-stop-lr", "plateau-alpha-factor"};
  const auto with_schedule = [&](std::vector<std::string> lines) {
    lines.insert(lines.end(), schedule.begin(), schedule.end());
    return lines;
  };
  static const std::vector<std::string> loglinear = with_schedule({"dataset",
                                                                   "out",
                                                                   "preset",
                                                                   "method",
                                                                   "seed",
                                                                   "iterations",
                                                                   "beta",
                                                                   "step-theta",
                                                                   "step-alpha",
                                                                   "chi",
                                                                   "l2",
                                                                   "adj",
                                                                   "ada-coef",
                                                                   "exp-adaptive",
                                                                   "sampling",
                                                                   "batch-size",
                                                                   "batch-mode",
                                                                   "projection-radius",
                                                                   "closed-form",
                                                                   "closed-form-weights",
                                                                   "alpha-loss-norm",
                                                                   "ridge",
                                                                   "is-weights",
                                                                   "is-normalization",
                                                                   "param-limit",
                                                                   "theta-init",
                                                                   "trace-every",
                                                                   "gap"});
  static const std::vector<std::string> mlp =
      with_schedule({"dataset",   "out",        "policy",        "hidden",        "activation",
                     "method",    "seed",       "iterations",    "beta",          "step-alpha",
                     "chi",       "is-weights", "batch-size",    "micro-batches", "alpha-update",
                     "optimizer", "lr",         "weight-decay",  "momentum",      "clip-norm",
                     "sft-steps", "sft-batch",  "sft-optimizer", "sft-lr",        "sft-warmup",
                     "reference", "trace-every"});
  return policy == kMlpPolicy ? mlp : loglinear;
}

std::string help_default(const TrainOption& option) {
  std::string shown = option.shown_default;
  const auto slot = shown.find("{}");
  if (slot == std::string::npos) {
    return shown;
  }
  std::string value;
  if (option.loglinear.value) {
    value = option.loglinear.value(LinearSetup{});
  } else if (option.mlp.value) {
    value = option.mlp.value(MlpSetup{});
  } else {
    throw InternalError("option --" + option.name + " shows a default but has no value");
  }
  return shown.replace(slot, 2, value);
}

std::string help_text(const TrainOption& option) {
  const std::string shown = help_default(option);
  return shown.empty() ? option.help : option.help + " [" + shown + "]";
}

po::options_description train_options() {
  po::options_description groups[] = {po::options_description(group_caption(HelpGroup::Train)),
                                      po::options_description(group_caption(HelpGroup::Schedule)),
                                      po::options_description(group_caption(HelpGroup::Mlp))};
  for (const auto& o : train_option_table()) {
    const std::string name =
        o.short_name != 0 ? o.name + "," + std::string(1, o.short_name) : o.name;
    auto& group = groups[static_cast<int>(o.group)];
    if (!o.takes_value) {
      group.add_options()(name.c_str(), help_text(o).c_str());
    } else if (o.flag) {
      group.add_options()(name.c_str(), text()->implicit_value("true"), help_text(o).c_str());
    } else {
      group.add_options()(name.c_str(), text(), help_text(o).c_str());
    }
  }
  groups[0].add(groups[1]);
  groups[0].add(groups[2]);
  return groups[0];
}

void refuse_other_policy_options(const ParsedOptions& parsed, unsigned policy) {
  for (const auto& o : train_option_table()) {
    if (!o.accepts(policy) && given(parsed, o.name.c_str())) {
      throw ConfigError(
          "option --" + o.name + ": " +
          (policy == kMlpPolicy ? "not available with --policy mlp" : "only with --policy mlp"));
    }
  }
}

template <class Setup>
void read_train_options(const ParsedOptions& parsed, Setup& setup, const SummarySource& summary) {
  constexpr unsigned policy = policy_of<Setup>();
  const auto& table = train_option_table();
  for (const auto& o : table) {
    const auto& b = o.binding<Setup>();
    if (o.accepts(policy) && b.set && given(parsed, o.name.c_str())) {
      b.set(get_string(parsed, o.name.c_str()), setup, summary);
    }
  }
  for (const auto& o : table) {
    if (o.binding<Setup>().derive) {
      o.binding<Setup>().derive(parsed, setup);
    }
  }
  for (const auto& o : table) {
    if (o.binding<Setup>().check) {
      o.binding<Setup>().check(parsed, setup);
    }
  }
}

template <class Setup>
std::string render_train_options(const Setup& setup) {
  std::ostringstream o;
  for (const auto& name : configuration_lines(policy_of<Setup>())) {
    const TrainOption& option = train_option(name);
    const auto& b = option.binding<Setup>();
    if (b.written && !b.written(setup)) {
      continue;
    }
    if (option.comment) {
      o << "# " << name << " = " << b.value(setup) << " (already applied below)\n";
    } else {
      o << name << " = " << b.value(setup) << "\n";
    }
  }
  return o.str();
}

template void read_train_options(const ParsedOptions&, LinearSetup&, const SummarySource&);
template void read_train_options(const ParsedOptions&, MlpSetup&, const SummarySource&);
template std::string render_train_options(const LinearSetup&);
template std::string render_train_options(const MlpSetup&);

} // namespace grpo::app
