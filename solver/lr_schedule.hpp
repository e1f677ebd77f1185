// LrSchedule: the learning-rate schedule of every policy (issue 14, item 3; ALGORITHM.md §8.3).
// The scheduled rate of step t (0-based) is base * factor(t), where base is the configured rate
// (the log-linear eta_theta or ada_coef, the MLP optimiser's lr) and
//
//   factor(t) = ramp(t) * shape(t) * scale,
//   ramp(t)   = min(1, (t + 1) / warmup)            (1 without warm-up; the SFT stage's rule),
//   shape(t)  = constant, plateau: 1;
//               cosine: m + (1 - m) (1 + cos(pi min(1, (t - W) / (T - W)))) / 2 for t >= W,
//               1 during the warm-up W (m = min_factor, T = iterations),
//   scale     = plateau: factor^drops; otherwise 1.
//
// Plateau is PyTorch's ReduceLROnPlateau as the official LLM code configures it: observed at
// every trace record with the score s = -(validation metric), mode max, relative threshold, so
// a record improves on the best when s > best (1 + threshold), i.e. when the loss is below
// (1 + threshold) times the lowest loss so far (a loss slightly above the best still counts).
// After more than `patience` records without improvement the rate drops by `factor` (a drop of
// less than 1e-8 in the rate is skipped, as in PyTorch), `cooldown` records follow in which bad
// records are not counted, and the alpha step is multiplied by `alpha_factor` (the official
// code halves eta_alpha whenever the lr has just dropped). The run stops early once the rate is
// below `stop_lr` (official: 1.001e-8). The state of the plateau rule is part of a checkpoint.
#pragma once

#include "core/trace_record.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::solver {

enum class LrScheduleType { Constant, Cosine, Plateau };
/// The parsers throw ConfigError("invalid value '<name>' (expected ...)"), naming no option.
LrScheduleType parse_lr_schedule(const std::string& name);
const char* lr_schedule_name(LrScheduleType type);

/// The validation metric of the plateau rule: the worst group's loss or the groups' average.
enum class PlateauMetric { WorstValLoss, AverageValLoss };
PlateauMetric parse_plateau_metric(const std::string& name);
const char* plateau_metric_name(PlateauMetric metric);

struct LrScheduleConfig {
  LrScheduleType type = LrScheduleType::Constant;
  std::int64_t warmup = 0; ///< linear warm-up steps (any type)
  double min_factor = 0.0; ///< cosine: the final rate as a fraction of the base rate
  PlateauMetric metric = PlateauMetric::WorstValLoss;
  double factor = 0.1;       ///< plateau: rate multiplier of a drop
  std::int64_t patience = 4; ///< plateau: records without improvement tolerated
  double threshold = 1e-3;   ///< plateau: relative improvement threshold
  std::int64_t cooldown = 0; ///< plateau: records after a drop in which bad ones do not count
  double stop_lr = 1.001e-8; ///< plateau: stop once the rate is below this
  double alpha_factor = 0.5; ///< plateau: eta_alpha multiplier at every drop

  /// False for the constant schedule without warm-up: every factor is exactly 1.
  bool active() const { return type != LrScheduleType::Constant || warmup > 0; }
  /// ConfigFieldError naming the field (warmup, factor, ...) for a value out of range;
  /// `iterations` is the run's step count.
  void validate(std::int64_t iterations) const;
};

class LrSchedule {
public:
  LrSchedule() = default;
  /// `base_lr` > 0 is the rate that factor 1 stands for (the plateau's stop test uses it).
  LrSchedule(LrScheduleConfig config, double base_lr, std::int64_t iterations);

  const LrScheduleConfig& config() const { return m_config; }
  /// The multiplier of the base rate at step t (exactly 1 when !config().active()).
  double lr_factor(std::int64_t t) const;
  /// The multiplier of eta_alpha: alpha_factor^drops (1 unless the plateau rule dropped).
  double alpha_factor() const { return m_alpha_scale; }
  /// Rate drops of the plateau rule so far.
  std::int64_t drops() const { return m_drops; }
  /// The plateau rule's rate fell below stop_lr: the loop ends after this record.
  bool stopped() const { return m_stopped; }

  /// Plateau: one observation of the validation metric of record `r` (its worst or average
  /// validation loss); returns true when the rate dropped. Other types: nothing, false.
  /// InternalError when the record has no validation losses.
  bool observe(const TraceRecord& r);
  /// The observation itself, with the metric's value.
  bool observe(double metric);

  /// The plateau rule's state for a checkpoint: {scale, alpha scale, best score, bad records,
  /// cooldown left, drops, stopped}; empty for the other types (they depend on t alone).
  std::vector<double> export_state() const;
  /// Restores export_state()'s output; DataError naming the entry when it does not fit this
  /// schedule.
  void import_state(const std::vector<double>& state);

private:
  LrScheduleConfig m_config;
  double m_base = 1.0;
  std::int64_t m_iterations = 1;
  double m_scale = 1.0;
  double m_alpha_scale = 1.0;
  double m_best = 0.0; ///< best score -metric so far (-inf before the first record)
  bool m_has_best = false;
  std::int64_t m_bad = 0;
  std::int64_t m_cooldown_left = 0;
  std::int64_t m_drops = 0;
  bool m_stopped = false;
};

} // namespace grpo::solver
