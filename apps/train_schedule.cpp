// The learning-rate schedule options of `grpo train`, shared by both policies: the option group,
// their parsing into solver::LrScheduleConfig, the lines of the resolved configuration, and the
// check that a plateau schedule has a validation split to observe.
#include "apps/train_common.hpp"

#include <sstream>

namespace grpo::app {

void add_schedule_options(po::options_description& options) {
  po::options_description o("learning-rate schedule (both policies; docs/methods.md)");
  // clang-format off
  o.add_options()
    ("lr-schedule", text(), "constant | cosine | plateau: of eta_theta (loglinear) or --lr (mlp) "
                            "[constant]")
    ("lr-warmup", text(), "linear warm-up of the rate over this many steps, any schedule [0]")
    ("lr-min-factor", text(), "cosine: final rate as a fraction of the base rate [0]")
    ("plateau-metric", text(), "plateau: worst_val_loss | average_val_loss, observed at every "
                               "record (--trace-every) [worst_val_loss]")
    ("plateau-factor", text(), "plateau: rate multiplier of a drop, in (0, 1) [0.1]")
    ("plateau-patience", text(), "plateau: records without improvement before a drop [4]")
    ("plateau-threshold", text(), "plateau: relative improvement threshold [0.001]")
    ("plateau-cooldown", text(), "plateau: records after a drop that are not counted [0]")
    ("plateau-stop-lr", text(), "plateau: stop the run once the rate is below this [1.001e-8]")
    ("plateau-alpha-factor", text(), "plateau: eta_alpha multiplier at every drop [0.5]");
  // clang-format on
  options.add(o);
}

solver::LrScheduleConfig schedule_options(const ParsedOptions& p) {
  solver::LrScheduleConfig c;
  if (given(p, "lr-schedule")) {
    c.type = get_parsed(p, "lr-schedule", solver::parse_lr_schedule);
  }
  set_if_given(p, "lr-warmup", c.warmup, get_int);
  set_if_given(p, "lr-min-factor", c.min_factor, get_double);
  if (given(p, "plateau-metric")) {
    c.metric = get_parsed(p, "plateau-metric", solver::parse_plateau_metric);
  }
  set_if_given(p, "plateau-factor", c.factor, get_double);
  set_if_given(p, "plateau-patience", c.patience, get_int);
  set_if_given(p, "plateau-threshold", c.threshold, get_double);
  set_if_given(p, "plateau-cooldown", c.cooldown, get_int);
  set_if_given(p, "plateau-stop-lr", c.stop_lr, get_double);
  set_if_given(p, "plateau-alpha-factor", c.alpha_factor, get_double);
  const bool cosine = c.type == solver::LrScheduleType::Cosine;
  const bool plateau = c.type == solver::LrScheduleType::Plateau;
  if (given(p, "lr-min-factor") && !cosine) {
    throw ConfigError("option --lr-min-factor: only with --lr-schedule cosine");
  }
  for (const char* name :
       {"plateau-metric", "plateau-factor", "plateau-patience", "plateau-threshold",
        "plateau-cooldown", "plateau-stop-lr", "plateau-alpha-factor"}) {
    if (given(p, name) && !plateau) {
      throw ConfigError(std::string("option --") + name + ": only with --lr-schedule plateau");
    }
  }
  return c;
}

std::string render_schedule(const solver::LrScheduleConfig& c) {
  if (!c.active()) {
    return ""; // the constant rate of every run before schedules existed: no lines
  }
  std::ostringstream o;
  o << "lr-schedule = " << solver::lr_schedule_name(c.type) << "\n"
    << "lr-warmup = " << c.warmup << "\n";
  if (c.type == solver::LrScheduleType::Cosine) {
    o << "lr-min-factor = " << format_double(c.min_factor) << "\n";
  }
  if (c.type == solver::LrScheduleType::Plateau) {
    o << "plateau-metric = " << solver::plateau_metric_name(c.metric) << "\n"
      << "plateau-factor = " << format_double(c.factor) << "\n"
      << "plateau-patience = " << c.patience << "\n"
      << "plateau-threshold = " << format_double(c.threshold) << "\n"
      << "plateau-cooldown = " << c.cooldown << "\n"
      << "plateau-stop-lr = " << format_double(c.stop_lr) << "\n"
      << "plateau-alpha-factor = " << format_double(c.alpha_factor) << "\n";
  }
  return o.str();
}

void check_schedule_data(const solver::LrScheduleConfig& c, const io::DatasetSummary& data) {
  if (c.type != solver::LrScheduleType::Plateau) {
    return;
  }
  const auto* val = data.split("val");
  if (val == nullptr || val->offsets.empty() || val->offsets.back() == 0) {
    throw ConfigError("option --lr-schedule: 'plateau' observes the validation loss, and '" +
                      data.path + "' has no validation split");
  }
}

std::map<std::string, std::int64_t> schedule_attributes(const solver::LrSchedule& schedule,
                                                        index_t steps_done) {
  if (!schedule.config().active()) {
    return {};
  }
  return {{"steps_done", steps_done},
          {"lr_drops", schedule.drops()},
          {"stopped_early", schedule.stopped() ? 1 : 0}};
}

} // namespace grpo::app
