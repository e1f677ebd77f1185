// SolverConfig: every knob of the minimax step (ALGORITHM.md §2-§4), with the six methods as
// configurations of one step. Validated against the training split before any work starts.
#pragma once

#include "core/views.hpp"
#include "solver/losses.hpp"
#include "solver/lr_schedule.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::solver {

/// The six methods of the paper (ALGORITHM.md §4).
enum class Method { Dpo, Ipo, IsDpo, IsIpo, GrDpo, GrIpo };

/// How group weights enter the theta step: ERM (plain mean, dpo/ipo), frozen
/// importance-sampling weights (is-*), or adaptive robust weights (gr-*).
enum class WeightRule { Erm, ImportanceSampling, Robust };

/// code_batch: the official code's batch step (§2.2-2.3); paper_single: Algorithm 1 with N/N_g
/// importance weights (§2.1), generalised to uniform mini-batches.
enum class Sampling { CodeBatch, PaperSingle };

/// Mini-batch draw rule of code_batch when batch_size < N (§2.3).
enum class BatchMode { Uniform, GroupWeighted };

/// Closed-form GR-IPO weights v_g (§3): paper = w_g / N_g (the §1.4 objective), code = w_g.
enum class ClosedFormWeights { Paper, Code };

/// Group losses entering the closed-form alpha update: mean, or the code's double division
/// by N_g (pitfall 3).
enum class AlphaLossNorm { Mean, CodeDouble };

/// Importance-sampling gradient normalisation: batch = divide by |B| (the code, pitfall 14),
/// group = divide by n_g (a weighted mean of group means).
enum class IsNormalization { Batch, Group };

/// The defaults that both policies' configurations (SolverConfig, NeuralConfig) share, held
/// once. beta is 1 for both (docs/cli.md: the CLI's value; NeuralConfig once held 0.1).
namespace shared_defaults {
inline constexpr Method method = Method::GrDpo;
inline constexpr double beta = 1.0;
inline constexpr double step_alpha = 0.01;
inline constexpr double chi = 1.0;
inline constexpr std::int64_t iterations = 1000;
inline constexpr std::uint64_t seed = 2021;
} // namespace shared_defaults

struct SolverConfig {
  Method method = shared_defaults::method;
  double beta = shared_defaults::beta;             ///< DPO temperature / IPO target 1/(2 beta)
  double step_theta = 0.1;                         ///< eta_theta
  double step_alpha = shared_defaults::step_alpha; ///< eta_alpha
  double chi =
      shared_defaults::chi;  ///< worst-case vs average trade-off, w_g = (1-chi)/K + chi alpha_g
  double l2 = 0.0;           ///< lambda_2: adds lambda_2 ||theta||^2 once to the objective
  std::vector<double> adj;   ///< C_g of the generalisation adjustment (empty: 0; one value: all)
  double ada_coef = 0.0;     ///< > 0: eta_theta,t = ada_coef / sqrt(H_t) (AdaGrad-type)
  double exp_adaptive = 0.0; ///< > 0: eta_alpha,t = eta_alpha * exp_adaptive / sqrt(H_t)
  Sampling sampling = Sampling::CodeBatch;
  index_t batch_size = 0; ///< 0: full batch (code_batch) or 1 (paper_single)
  BatchMode batch_mode = BatchMode::Uniform;
  double projection_radius = 0.0; ///< > 0: project theta on the L2 ball of this radius
  bool closed_form = false;       ///< IPO family: exact best response in theta (§3)
  ClosedFormWeights closed_form_weights = ClosedFormWeights::Paper;
  AlphaLossNorm alpha_loss_norm = AlphaLossNorm::Mean;
  double ridge = 0.0;             ///< lambda of the closed-form solve
  std::vector<double> is_weights; ///< IS weights (empty: proportional to 1/N_g)
  IsNormalization is_normalization = IsNormalization::Batch;
  std::int64_t iterations = shared_defaults::iterations;
  std::uint64_t seed = shared_defaults::seed;
  double param_limit = 1.0; ///< theta_0 ~ U[0, param_limit]^P unless given explicitly
  /// Schedule of eta_theta (of ada_coef with AdaGrad-type steps) and, on plateau drops, of
  /// eta_alpha.
  LrScheduleConfig schedule;

  LossType loss() const;
  WeightRule weight_rule() const;
  /// Effective number of samples drawn per step for a training set of N rows.
  index_t effective_batch(index_t n) const;
  /// Throws ConfigFieldError naming the field (`closed_form`, `schedule.warmup`) when a value is
  /// out of range or the combination is unsupported; `group_sizes` are the training N_g.
  void validate(const std::vector<index_t>& group_sizes) const;
};

/// The loss (DPO or IPO family) and the weighting of a method.
LossType loss_of(Method method);
WeightRule weight_rule_of(Method method);

/// The parsers throw ConfigError("invalid value '<name>' (accepted: ...)"); their caller knows
/// which field or option the name was given for and says so.
Method parse_method(const std::string& name);
const char* method_name(Method method);
Sampling parse_sampling(const std::string& name);
const char* sampling_name(Sampling sampling);
BatchMode parse_batch_mode(const std::string& name);
const char* batch_mode_name(BatchMode mode);
ClosedFormWeights parse_closed_form_weights(const std::string& name);
const char* closed_form_weights_name(ClosedFormWeights weights);
AlphaLossNorm parse_alpha_loss_norm(const std::string& name);
const char* alpha_loss_norm_name(AlphaLossNorm norm);
IsNormalization parse_is_normalization(const std::string& name);
const char* is_normalization_name(IsNormalization norm);

/// Expands `values` (the configuration's field `field`, e.g. adj) to one value per group
/// (ConfigFieldError naming `field` if its length is neither 0, 1 nor K).
std::vector<double> expand_per_group(const std::vector<double>& values, int num_groups,
                                     const std::string& field);

} // namespace grpo::solver
