// First-order optimisers over a flat parameter View (the neural experiment, ALGORITHM.md §8.2
// and §8.3): SGD (with optional momentum), Adam, AdamW and RMSprop with PyTorch's update
// formulas and defaults, plus PyTorch's gradient-norm clipping. Every kernel is elementwise or a
// fixed-order sum, so a step gives the same bits whatever the thread count; with the gradient
// summed over ranks first (one Allreduce of P doubles), every rank takes the same step.
//
// Updates at step t = 1, 2, ... (g the gradient, lambda the weight decay, theta the parameters):
// - SGD:     g += lambda theta; b = g (t = 1) or b = mu b + g; theta -= lr b (b = g when mu = 0)
// - Adam:    g += lambda theta (L2 in the gradient);
//            m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;
//            theta -= (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// - AdamW:   theta *= 1 - lr lambda (decoupled), then the Adam update without the L2 term
// - RMSprop: g += lambda theta; v = alpha v + (1 - alpha) g^2; theta -= lr g / (sqrt(v) + eps)
//            (alpha is `beta2` in OptimizerConfig; PyTorch's default 0.99)
// The Adam step is written exactly as torch.optim.Adam's single-tensor path computes it
// (step_size = lr / bias_correction1, denom = sqrt(v) / sqrt(bias_correction2) + eps).
#pragma once

#include "core/views.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::solver {

enum class OptimizerType { Sgd, Adam, AdamW, RmsProp };

/// "sgd", "adam", "adamw" or "rmsprop" (ConfigError otherwise).
OptimizerType parse_optimizer(const std::string& name);
const char* optimizer_name(OptimizerType type);

struct OptimizerConfig {
  OptimizerType type = OptimizerType::AdamW;
  double lr = 1e-3;
  double momentum = 0.0;     ///< SGD only (dampening 0, no Nesterov)
  double beta1 = 0.9;        ///< Adam, AdamW
  double beta2 = 0.999;      ///< Adam, AdamW; RMSprop's smoothing constant alpha
  double eps = 1e-8;         ///< Adam, AdamW, RMSprop
  double weight_decay = 0.0; ///< L2 in the gradient (SGD, Adam, RMSprop), decoupled (AdamW)

  /// PyTorch's defaults for `type`: lr 1e-3 (1e-2 for RMSprop), betas (0.9, 0.999), eps 1e-8,
  /// weight decay 0.01 for AdamW and 0 otherwise, RMSprop alpha 0.99, SGD momentum 0.
  static OptimizerConfig defaults(OptimizerType type);
  /// Throws ConfigError naming the bad value (lr >= 0, 0 <= betas < 1, eps > 0, ...).
  void validate() const;
};

class Optimizer {
public:
  Optimizer() = default;
  Optimizer(const OptimizerConfig& config, index_t num_params);

  const OptimizerConfig& config() const { return m_config; }
  index_t num_params() const { return m_num_params; }
  /// Steps taken so far (t of the bias corrections).
  std::int64_t steps() const { return m_steps; }
  double lr() const { return m_config.lr; }
  /// Changes the learning rate (schedules: warm-up, plateau decay) without touching the state.
  void set_lr(double lr);

  /// One update of `params` from `grad` (both P entries, device); `grad` is not modified.
  void step(const ExecSpace& space, const View1<double>& params, const View1<const double>& grad);

  /// Euclidean norm of `grad`, summed in a fixed order (blocks of 1024 entries, then the blocks
  /// in order), so the same bits for any thread count.
  double grad_norm(const ExecSpace& space, const View1<const double>& grad);
  /// torch.nn.utils.clip_grad_norm_: with n = ||grad||, grad *= max_norm / (n + 1e-6) when that
  /// factor is below 1. Returns n, the norm before clipping.
  double clip_grad_norm(const ExecSpace& space, const View1<double>& grad, double max_norm);

  /// The state for a checkpoint: {type, P, steps, buffers...} with the buffers m then v (Adam,
  /// AdamW), the momentum buffer (SGD with momentum) or v (RMSprop).
  std::vector<double> export_state() const;
  /// Restores export_state()'s output; DataError when it belongs to another optimiser type or
  /// parameter count, or has the wrong length.
  void import_state(const std::vector<double>& state);
  /// Back to step 0 with zero buffers.
  void reset();

private:
  int num_buffers() const;

  OptimizerConfig m_config;
  index_t m_num_params = 0;
  std::int64_t m_steps = 0;
  View1<double> m_first;  ///< m (Adam, AdamW), momentum buffer (SGD), v (RMSprop)
  View1<double> m_second; ///< v (Adam, AdamW)
  View1<double> m_blocks; ///< per-block sums of squares of grad_norm
};

} // namespace grpo::solver
