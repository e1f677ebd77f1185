#include "core/trace_record.hpp"

namespace grpo {

std::vector<TraceRecord::Column> TraceRecord::columns() const {
  std::vector<Column> out;
  auto vec = [&](const char* name, const std::vector<double>& v) {
    out.push_back({name, v, true});
  };
  auto scalar = [&](const char* name, double v) { out.push_back({name, {v}, false}); };
  vec("alpha", alpha);
  vec("weights", weights);
  vec("train_loss", train_loss);
  scalar("worst_train_loss", worst_train_loss);
  if (!val_loss.empty()) {
    vec("val_loss", val_loss);
    scalar("worst_val_loss", worst_val_loss);
  }
  vec("batch_loss", batch_loss);
  scalar("objective", objective);
  if (!reward_error.empty()) {
    vec("reward_error", reward_error);
    vec("reward_error_abs", reward_error_abs);
    scalar("max_reward_error", max_reward_error);
    vec("kl", kl);
    scalar("max_kl", max_kl);
  }
  if (!theta.empty()) {
    vec("theta", theta);
  }
  scalar("grad_norm", grad_norm);
  scalar("param_norm", param_norm);
  scalar("step_theta", step_theta);
  scalar("step_alpha", step_alpha);
  scalar("live_grad", live_grad);
  scalar("empty_group_steps", empty_group_steps);
  if (has_gap) {
    scalar("gap_upper", gap_avg.upper);
    scalar("gap_lower", gap_avg.lower);
    scalar("gap", gap_avg.gap);
    scalar("gap_residual", gap_avg.residual);
    scalar("gap_upper_last", gap_last.upper);
    scalar("gap_lower_last", gap_last.lower);
    scalar("gap_last", gap_last.gap);
  }
  scalar("wall_seconds", wall_seconds);
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

} // namespace grpo
