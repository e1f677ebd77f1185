// NeuralConfig (solver/neural_solver.hpp): the names of the alpha-update rules and reference
// kinds, the defaults of `grpo train --policy mlp`, and the validation of a configuration
// against the data (a ConfigFieldError names the field).
#include "core/error.hpp"
#include "solver/neural_solver.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace grpo::solver {

AlphaUpdate parse_alpha_update(const std::string& name) {
  if (name == "step") {
    return AlphaUpdate::Step;
  }
  if (name == "micro-batch") {
    return AlphaUpdate::MicroBatch;
  }
  throw ConfigError("invalid value '" + name + "' (expected step or micro-batch)");
}

const char* alpha_update_name(AlphaUpdate update) {
  return update == AlphaUpdate::Step ? "step" : "micro-batch";
}

ReferenceKind parse_reference(const std::string& name) {
  if (name == "uniform") {
    return ReferenceKind::Uniform;
  }
  if (name == "initial") {
    return ReferenceKind::Initial;
  }
  if (name == "sft") {
    return ReferenceKind::Sft;
  }
  throw ConfigError("invalid value '" + name + "' (expected uniform, initial or sft)");
}

const char* reference_name(ReferenceKind kind) {
  switch (kind) {
  case ReferenceKind::Uniform:
    return "uniform";
  case ReferenceKind::Initial:
    return "initial";
  case ReferenceKind::Sft:
    return "sft";
  }
  return "?";
}

OptimizerConfig NeuralConfig::sft_default_optimizer() {
  // The paper's SFT stage (ALGORITHM.md §8.2): RMSprop, lr 1e-4, clipping 10.
  OptimizerConfig c = OptimizerConfig::defaults(OptimizerType::RmsProp);
  c.lr = 1e-4;
  return c;
}

policies::MlpConfig NeuralConfig::default_network() {
  policies::MlpConfig network;
  network.hidden = {64};
  network.activation = policies::Activation::Tanh;
  return network;
}

LossType NeuralConfig::loss() const { return loss_of(method); }

WeightRule NeuralConfig::weight_rule() const { return weight_rule_of(method); }

void NeuralConfig::validate(const std::vector<index_t>& group_sizes, bool has_options) const {
  const auto positive = [](const char* field, double v) {
    if (!(v > 0.0) || !std::isfinite(v)) {
      throw ConfigFieldError(field, "invalid value " + format_double(v) +
                                        " (expected a finite number > 0)");
    }
  };
  const auto non_negative = [](const char* field, double v) {
    if (!(v >= 0.0) || !std::isfinite(v)) {
      throw ConfigFieldError(field, "invalid value " + format_double(v) +
                                        " (expected a finite number >= 0)");
    }
  };
  positive("beta", beta);
  non_negative("step_alpha", step_alpha);
  if (!(chi >= 0.0 && chi <= 1.0)) {
    throw ConfigFieldError("chi", "invalid value " + format_double(chi) +
                                      " (expected a number in [0, 1])");
  }
  non_negative("clip_norm", clip_norm);
  non_negative("sft_clip_norm", sft_clip_norm);
  network.validate();
  non_negative("optimizer.lr", optimizer.lr);
  non_negative("optimizer.weight_decay", optimizer.weight_decay);
  non_negative("optimizer.momentum", optimizer.momentum);
  non_negative("sft_optimizer.lr", sft_optimizer.lr);
  try {
    optimizer.validate();
  } catch (const ConfigError& e) {
    throw ConfigFieldError("optimizer", e.what());
  }
  try {
    sft_optimizer.validate();
  } catch (const ConfigError& e) {
    throw ConfigFieldError("sft_optimizer", e.what());
  }
  if (iterations < 1) {
    throw ConfigFieldError("iterations", "invalid value " + std::to_string(iterations) +
                                             " (expected an integer >= 1)");
  }
  if (batch_size < 0) {
    throw ConfigFieldError("batch_size", "invalid value " + std::to_string(batch_size) +
                                             " (expected an integer >= 0, 0 = all training pairs)");
  }
  if (micro_batches < 1) {
    throw ConfigFieldError("micro_batches", "invalid value " + std::to_string(micro_batches) +
                                                " (expected an integer >= 1)");
  }
  index_t total = 0;
  for (const index_t n : group_sizes) {
    total += n;
  }
  const index_t batch = batch_size == 0 ? total : batch_size;
  if (batch < micro_batches) {
    throw ConfigFieldError("micro_batches", std::to_string(micro_batches) +
                                                " parts of a batch of " + std::to_string(batch) +
                                                " pairs (expected at most one part per pair)");
  }
  if (batch % micro_batches != 0) {
    throw ConfigFieldError("micro_batches", std::to_string(micro_batches) +
                                                " does not divide the batch of " +
                                                std::to_string(batch) + " pairs");
  }
  for (std::size_t g = 0; g < group_sizes.size(); ++g) {
    if (group_sizes[g] == 0 && weight_rule() != WeightRule::Erm) {
      throw ConfigFieldError("method",
                             "group " + std::to_string(g) + " has no training pairs; " +
                                 method_name(method) +
                                 " needs every group (use dpo or ipo, or drop the group)");
    }
  }
  if (!is_weights.empty()) {
    if (weight_rule() != WeightRule::ImportanceSampling) {
      throw ConfigFieldError("is_weights", "only with is-dpo or is-ipo");
    }
    const auto expanded =
        expand_per_group(is_weights, static_cast<int>(group_sizes.size()), "is_weights");
    double sum = 0.0;
    for (const double w : expanded) {
      non_negative("is_weights", w);
      sum += w;
    }
    if (!(sum > 0.0)) {
      throw ConfigFieldError("is_weights", "the weights sum to 0");
    }
  }
  if (sft_steps < 0) {
    throw ConfigFieldError("sft_steps", "invalid value " + std::to_string(sft_steps) +
                                            " (expected an integer >= 0)");
  }
  if (sft_batch < 0) {
    throw ConfigFieldError("sft_batch", "invalid value " + std::to_string(sft_batch) +
                                            " (expected an integer >= 0, 0 = all prompts)");
  }
  if (sft_warmup < 0) {
    throw ConfigFieldError("sft_warmup", "invalid value " + std::to_string(sft_warmup) +
                                             " (expected an integer >= 0)");
  }
  if (sft_steps > 0 && !has_options) {
    throw ConfigFieldError("sft_steps",
                           "the SFT stage needs every option of each prompt, and the dataset has "
                           "none (schema 1.1 option datasets; see grpo convert)");
  }
  if (reference == ReferenceKind::Sft && sft_steps == 0) {
    throw ConfigFieldError("reference", "'sft' needs an SFT stage ({sft_steps} > 0)");
  }
  try {
    schedule.validate(iterations);
  } catch (const ConfigFieldError& e) {
    throw e.within("schedule");
  }
}

} // namespace grpo::solver
