#include "solver/lr_schedule.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cmath>

namespace grpo::solver {

namespace {
constexpr double kPi = 3.14159265358979323846;
} // namespace

LrScheduleType parse_lr_schedule(const std::string& name) {
  if (name == "constant") {
    return LrScheduleType::Constant;
  }
  if (name == "cosine") {
    return LrScheduleType::Cosine;
  }
  if (name == "plateau") {
    return LrScheduleType::Plateau;
  }
  throw ConfigError("invalid value '" + name + "' (expected constant, cosine or plateau)");
}

const char* lr_schedule_name(LrScheduleType type) {
  switch (type) {
  case LrScheduleType::Constant:
    return "constant";
  case LrScheduleType::Cosine:
    return "cosine";
  case LrScheduleType::Plateau:
    return "plateau";
  }
  return "?";
}

PlateauMetric parse_plateau_metric(const std::string& name) {
  if (name == "worst_val_loss") {
    return PlateauMetric::WorstValLoss;
  }
  if (name == "average_val_loss") {
    return PlateauMetric::AverageValLoss;
  }
  throw ConfigError("invalid value '" + name + "' (expected worst_val_loss or average_val_loss)");
}

const char* plateau_metric_name(PlateauMetric metric) {
  return metric == PlateauMetric::WorstValLoss ? "worst_val_loss" : "average_val_loss";
}

void LrScheduleConfig::validate(std::int64_t iterations) const {
  const auto bad = [](const char* field, const std::string& value, const char* expected) {
    return ConfigFieldError(field,
                            "invalid value " + value + " (expected " + std::string(expected) + ")");
  };
  if (warmup < 0 || warmup > iterations) {
    throw bad("warmup", std::to_string(warmup), "an integer in [0, iterations]");
  }
  if (!(min_factor >= 0.0 && min_factor <= 1.0)) {
    throw bad("min_factor", format_double(min_factor), "a value in [0, 1]");
  }
  if (!(factor > 0.0 && factor < 1.0)) {
    throw bad("factor", format_double(factor), "a value in (0, 1)");
  }
  if (patience < 0) {
    throw bad("patience", std::to_string(patience), "an integer >= 0");
  }
  if (!(threshold >= 0.0 && std::isfinite(threshold))) {
    throw bad("threshold", format_double(threshold), "a finite value >= 0");
  }
  if (cooldown < 0) {
    throw bad("cooldown", std::to_string(cooldown), "an integer >= 0");
  }
  if (!(stop_lr >= 0.0 && std::isfinite(stop_lr))) {
    throw bad("stop_lr", format_double(stop_lr), "a finite value >= 0");
  }
  if (!(alpha_factor > 0.0 && alpha_factor <= 1.0)) {
    throw bad("alpha_factor", format_double(alpha_factor), "a value in (0, 1]");
  }
}

LrSchedule::LrSchedule(LrScheduleConfig config, double base_lr, std::int64_t iterations)
    : m_config(config)
    , m_base(base_lr)
    , m_iterations(std::max<std::int64_t>(iterations, 1)) {}

double LrSchedule::lr_factor(std::int64_t t) const {
  if (!m_config.active()) {
    return 1.0;
  }
  const auto w = m_config.warmup;
  double f = 1.0;
  if (w > 0 && t < w) {
    f = std::min(1.0, static_cast<double>(t + 1) / static_cast<double>(w));
  }
  if (m_config.type == LrScheduleType::Cosine && t >= w) {
    const double span = static_cast<double>(std::max<std::int64_t>(m_iterations - w, 1));
    const double progress = std::min(1.0, static_cast<double>(t - w) / span);
    const double m = m_config.min_factor;
    f *= m + (1.0 - m) * 0.5 * (1.0 + std::cos(kPi * progress));
  }
  return f * m_scale;
}

bool LrSchedule::observe(const TraceRecord& r) {
  if (m_config.type != LrScheduleType::Plateau) {
    return false;
  }
  if (r.val_loss.empty()) {
    throw InternalError("the plateau schedule observed a record without validation losses", false);
  }
  if (m_config.metric == PlateauMetric::WorstValLoss) {
    return observe(r.worst_val_loss);
  }
  double sum = 0.0;
  for (const double l : r.val_loss) {
    sum += l;
  }
  return observe(sum / static_cast<double>(r.val_loss.size()));
}

bool LrSchedule::observe(double metric) {
  if (m_config.type != LrScheduleType::Plateau || m_stopped) {
    return false;
  }
  // PyTorch: mode max on the score -metric, threshold_mode rel (a NaN never improves).
  const bool finite = std::isfinite(metric);
  const double score = -metric;
  if (finite && (!m_has_best || score > m_best * (1.0 + m_config.threshold))) {
    m_best = score;
    m_has_best = true;
    m_bad = 0;
  } else {
    ++m_bad;
  }
  if (m_cooldown_left > 0) {
    --m_cooldown_left;
    m_bad = 0;
  }
  bool dropped = false;
  if (m_bad > m_config.patience) {
    const double old_lr = m_base * m_scale;
    const double new_lr = old_lr * m_config.factor;
    if (old_lr - new_lr > 1e-8) {
      m_scale *= m_config.factor;
      m_alpha_scale *= m_config.alpha_factor;
      ++m_drops;
      dropped = true;
    }
    m_cooldown_left = m_config.cooldown;
    m_bad = 0;
  }
  m_stopped = m_base * m_scale < m_config.stop_lr;
  return dropped;
}

std::vector<double> LrSchedule::export_state() const {
  if (m_config.type != LrScheduleType::Plateau) {
    return {};
  }
  return {m_scale,
          m_alpha_scale,
          m_has_best ? 1.0 : 0.0,
          m_has_best ? m_best : 0.0,
          static_cast<double>(m_bad),
          static_cast<double>(m_cooldown_left),
          static_cast<double>(m_drops),
          m_stopped ? 1.0 : 0.0};
}

void LrSchedule::import_state(const std::vector<double>& s) {
  const std::size_t expected = m_config.type == LrScheduleType::Plateau ? 8 : 0;
  if (s.size() != expected) {
    throw DataError("checkpoint: schedule_state has " + std::to_string(s.size()) +
                    " entries; this run's schedule (" + lr_schedule_name(m_config.type) + ") has " +
                    std::to_string(expected));
  }
  if (expected == 0) {
    return;
  }
  const auto count = [&](std::size_t i, const char* name) {
    const double v = s[i];
    if (!(v >= 0.0 && v <= 9.0e15 && v == std::floor(v))) {
      throw DataError(std::string("checkpoint: schedule_state entry ") + name + " is " +
                      format_double(v) + " (expected a whole number >= 0)");
    }
    return static_cast<std::int64_t>(v);
  };
  const auto flag = [&](std::size_t i, const char* name) {
    if (s[i] != 0.0 && s[i] != 1.0) {
      throw DataError(std::string("checkpoint: schedule_state entry ") + name + " is " +
                      format_double(s[i]) + " (expected 0 or 1)");
    }
    return s[i] == 1.0;
  };
  for (std::size_t i : {std::size_t(0), std::size_t(1)}) {
    if (!(s[i] > 0.0 && s[i] <= 1.0)) {
      throw DataError(std::string("checkpoint: schedule_state entry ") +
                      (i == 0 ? "scale" : "alpha scale") + " is " + format_double(s[i]) +
                      " (expected a value in (0, 1])");
    }
  }
  m_scale = s[0];
  m_alpha_scale = s[1];
  m_has_best = flag(2, "has best");
  m_best = s[3];
  m_bad = count(4, "bad records");
  m_cooldown_left = count(5, "cooldown");
  m_drops = count(6, "drops");
  m_stopped = flag(7, "stopped");
}

} // namespace grpo::solver
