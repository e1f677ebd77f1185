#include "solver/solver_config.hpp"

#include "core/error.hpp"

#include <cmath>
#include <utility>

namespace grpo::solver {

namespace {

template <class Enum, std::size_t N>
Enum parse_enum(const std::string& value, const std::pair<const char*, Enum> (&table)[N]) {
  std::string accepted;
  for (const auto& [name, e] : table) {
    if (value == name) {
      return e;
    }
    accepted += accepted.empty() ? name : std::string(", ") + name;
  }
  throw ConfigError("invalid value '" + value + "' (accepted: " + accepted + ")");
}

template <class Enum, std::size_t N>
const char* enum_name(Enum e, const std::pair<const char*, Enum> (&table)[N]) {
  for (const auto& [name, v] : table) {
    if (v == e) {
      return name;
    }
  }
  return "?";
}

constexpr std::pair<const char*, Method> kMethods[] = {
    {"dpo", Method::Dpo},      {"ipo", Method::Ipo},      {"is-dpo", Method::IsDpo},
    {"is-ipo", Method::IsIpo}, {"gr-dpo", Method::GrDpo}, {"gr-ipo", Method::GrIpo}};
constexpr std::pair<const char*, Sampling> kSamplings[] = {{"code_batch", Sampling::CodeBatch},
                                                           {"paper_single", Sampling::PaperSingle}};
constexpr std::pair<const char*, BatchMode> kBatchModes[] = {
    {"uniform", BatchMode::Uniform}, {"group-weighted", BatchMode::GroupWeighted}};
constexpr std::pair<const char*, ClosedFormWeights> kCfWeights[] = {
    {"paper", ClosedFormWeights::Paper}, {"code", ClosedFormWeights::Code}};
constexpr std::pair<const char*, AlphaLossNorm> kAlphaNorms[] = {
    {"mean", AlphaLossNorm::Mean}, {"code_double", AlphaLossNorm::CodeDouble}};
constexpr std::pair<const char*, IsNormalization> kIsNorms[] = {{"batch", IsNormalization::Batch},
                                                                {"group", IsNormalization::Group}};
constexpr std::pair<const char*, LossType> kLosses[] = {{"dpo", LossType::Dpo},
                                                        {"ipo", LossType::Ipo}};

void require(bool ok, const char* field, const std::string& value, const std::string& expected) {
  if (!ok) {
    throw ConfigFieldError(field, "invalid value " + value + " (expected " + expected + ")");
  }
}

bool finite(double x) { return std::isfinite(x); }

} // namespace

LossType parse_loss(const std::string& name) { return parse_enum(name, kLosses); }
const char* loss_name(LossType loss) { return enum_name(loss, kLosses); }
Method parse_method(const std::string& name) { return parse_enum(name, kMethods); }
const char* method_name(Method method) { return enum_name(method, kMethods); }
Sampling parse_sampling(const std::string& name) { return parse_enum(name, kSamplings); }
const char* sampling_name(Sampling sampling) { return enum_name(sampling, kSamplings); }
BatchMode parse_batch_mode(const std::string& name) { return parse_enum(name, kBatchModes); }
const char* batch_mode_name(BatchMode mode) { return enum_name(mode, kBatchModes); }
ClosedFormWeights parse_closed_form_weights(const std::string& name) {
  return parse_enum(name, kCfWeights);
}
const char* closed_form_weights_name(ClosedFormWeights weights) {
  return enum_name(weights, kCfWeights);
}
AlphaLossNorm parse_alpha_loss_norm(const std::string& name) {
  return parse_enum(name, kAlphaNorms);
}
const char* alpha_loss_norm_name(AlphaLossNorm norm) { return enum_name(norm, kAlphaNorms); }
IsNormalization parse_is_normalization(const std::string& name) {
  return parse_enum(name, kIsNorms);
}
const char* is_normalization_name(IsNormalization norm) { return enum_name(norm, kIsNorms); }

LossType loss_of(Method method) {
  switch (method) {
  case Method::Dpo:
  case Method::IsDpo:
  case Method::GrDpo:
    return LossType::Dpo;
  default:
    return LossType::Ipo;
  }
}

WeightRule weight_rule_of(Method method) {
  switch (method) {
  case Method::Dpo:
  case Method::Ipo:
    return WeightRule::Erm;
  case Method::IsDpo:
  case Method::IsIpo:
    return WeightRule::ImportanceSampling;
  default:
    return WeightRule::Robust;
  }
}

LossType SolverConfig::loss() const { return loss_of(method); }

WeightRule SolverConfig::weight_rule() const { return weight_rule_of(method); }

index_t SolverConfig::effective_batch(index_t n) const {
  if (sampling == Sampling::PaperSingle) {
    return batch_size > 0 ? batch_size : 1;
  }
  return (batch_size <= 0 || batch_size >= n) ? n : batch_size;
}

std::vector<double> expand_per_group(const std::vector<double>& values, int num_groups,
                                     const std::string& field) {
  if (values.empty()) {
    return std::vector<double>(num_groups, 0.0);
  }
  if (values.size() == 1) {
    return std::vector<double>(num_groups, values[0]);
  }
  if (static_cast<int>(values.size()) != num_groups) {
    throw ConfigFieldError(field, std::to_string(values.size()) +
                                      " values given, expected 1 or one per group (" +
                                      std::to_string(num_groups) + ")");
  }
  return values;
}

void SolverConfig::validate(const std::vector<index_t>& group_sizes) const {
  const int k = static_cast<int>(group_sizes.size());
  index_t n = 0;
  for (auto s : group_sizes) {
    n += s;
  }
  require(finite(beta) && beta > 0, "beta", format_double(beta), "a finite value > 0");
  require(finite(step_theta) && step_theta >= 0, "step_theta", format_double(step_theta),
          "a finite value >= 0");
  require(finite(step_alpha) && step_alpha >= 0, "step_alpha", format_double(step_alpha),
          "a finite value >= 0");
  require(finite(chi) && chi >= 0 && chi <= 1, "chi", format_double(chi), "a value in [0, 1]");
  require(finite(l2) && l2 >= 0, "l2", format_double(l2), "a finite value >= 0");
  require(finite(ada_coef) && ada_coef >= 0, "ada_coef", format_double(ada_coef),
          "a finite value >= 0 (0 = fixed step)");
  require(finite(exp_adaptive) && exp_adaptive >= 0, "exp_adaptive", format_double(exp_adaptive),
          "a finite value >= 0 (0 = fixed step)");
  require(finite(projection_radius) && projection_radius >= 0, "projection_radius",
          format_double(projection_radius), "a finite value >= 0 (0 = no projection)");
  require(finite(ridge) && ridge >= 0, "ridge", format_double(ridge), "a finite value >= 0");
  require(finite(param_limit) && param_limit >= 0, "param_limit", format_double(param_limit),
          "a finite value >= 0");
  require(iterations >= 1, "iterations", std::to_string(iterations), "an integer >= 1");
  require(batch_size >= 0, "batch_size", std::to_string(batch_size),
          "an integer >= 0 (0 = full batch)");
  require(batch_size <= n, "batch_size", std::to_string(batch_size),
          "at most the number of training pairs, " + std::to_string(n));
  for (double c : expand_per_group(adj, k, "adj")) {
    require(finite(c) && c >= 0, "adj", format_double(c), "finite values >= 0");
  }
  if (!is_weights.empty()) {
    const auto w = expand_per_group(is_weights, k, "is_weights");
    double sum = 0;
    for (double v : w) {
      require(finite(v) && v >= 0, "is_weights", format_double(v), "finite values >= 0");
      sum += v;
    }
    require(sum > 0, "is_weights", "summing to 0", "a positive sum");
  }
  if (closed_form) {
    if (loss() != LossType::Ipo) {
      throw ConfigFieldError("closed_form", "the closed form exists only for the IPO family "
                                            "(ipo, is-ipo, gr-ipo), not for method " +
                                                std::string(method_name(method)));
    }
    if (sampling != Sampling::CodeBatch || effective_batch(n) != n) {
      throw ConfigFieldError("closed_form",
                             "needs full batches ({sampling} code_batch and {batch_size} 0)");
    }
    if (projection_radius > 0) {
      throw ConfigFieldError("projection_radius", "projection is not defined for {closed_form} "
                                                  "(the solve is unconstrained)");
    }
    if (schedule.active()) {
      throw ConfigFieldError("schedule.type",
                             std::string("'") + lr_schedule_name(schedule.type) +
                                 "' (or {schedule.warmup}) is not available with {closed_form} "
                                 "(its theta step is an exact solve, without a learning rate)");
    }
  }
  try {
    schedule.validate(iterations);
  } catch (const ConfigFieldError& e) {
    throw e.within("schedule");
  }
  for (int g = 0; g < k; ++g) {
    if (group_sizes[g] <= 0) {
      throw DataError("training split: group " + std::to_string(g) +
                      " is empty (every group needs at least one training pair)");
    }
  }
}

} // namespace grpo::solver
