// NeuralSolver: group robust preference optimisation of an MLP policy (ALGORITHM.md §2.2 and
// §8): an optional SFT stage, a frozen reference policy, then steps that update the group weights
// alpha by exponentiated gradient ascent and the network by a first-order optimiser (SGD, Adam,
// AdamW, RMSprop) with gradient-norm clipping. Every rank holds its groups' pairs; per-group loss
// sums (K values) and the gradient (P values) are combined with one Allreduce each, so every rank
// holds identical alpha and parameters.
//
// One optimiser step draws `batch_size` training pairs (or takes all of them: full batch) in
// `micro_batches` equal parts. Pairs come from a shuffled pass over the training set per epoch
// (a permutation keyed by (seed, epoch)): the same pairs whatever the rank count. Per part b:
//  - margins h_i = f(x, y_w) - f(x, y_l) - ref_i, per-pair losses l_i (DPO or IPO);
//  - the group-loss estimate of the alpha update, by `alpha_update`:
//      step:        L_g = mean of l_i over the part's pairs of group g (§2.2; groups absent from
//                   the part keep their alpha), alpha updated once per part;
//      micro-batch: L_g = (N / N_g) sum of l_i over the part's pairs of group g (§8.3, the
//                   official LLM code's divide_by_totalcount; absent groups get 0);
//    log alpha_g += eta_alpha chi L_g, normalised in the log domain (gr-* methods only; the
//    log-linear solver's rule);
//  - the part's objective with the UPDATED weights, divided by the number of parts:
//      dpo/ipo: mean of l_i; is-*: sum_g v_g L_g (v fixed, proportional to 1/N_g);
//      gr-* step: sum_g w_g L_g with w_g = (1 - chi)/K + chi alpha_g;
//      gr-* micro-batch: sum_g w_g L_g with L_g the importance-weighted sums above.
// After the parts: the gradient is summed over ranks, clipped to `clip_norm` and the optimiser
// steps.
#pragma once

#include "core/communicator.hpp"
#include "core/solver_state.hpp"
#include "policies/mlp_policy.hpp"
#include "policies/preference_batch.hpp"
#include "solver/batch_sampler.hpp"
#include "solver/group_weights.hpp"
#include "solver/losses.hpp"
#include "solver/lr_schedule.hpp"
#include "solver/optimizer.hpp"
#include "solver/solver_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::solver {

/// How often and from what the group weights are updated (see the file comment).
enum class AlphaUpdate { Step, MicroBatch };
AlphaUpdate parse_alpha_update(const std::string& name);
const char* alpha_update_name(AlphaUpdate update);

/// The frozen reference policy: uniform over the options (log-ratio 0, plus the dataset's
/// ref_logratio), the initial network, or the network after the SFT stage.
enum class ReferenceKind { Uniform, Initial, Sft };
ReferenceKind parse_reference(const std::string& name);
const char* reference_name(ReferenceKind kind);

/// The defaults here are those of `grpo train --policy mlp` (the command sets nothing else);
/// method, beta and the loss options share the log-linear solver's defaults (SolverConfig).
struct NeuralConfig {
  Method method = shared_defaults::method;
  double beta = shared_defaults::beta;             ///< DPO temperature / IPO target 1/(2 beta)
  double step_alpha = shared_defaults::step_alpha; ///< eta_alpha
  double chi = shared_defaults::chi;               ///< w_g = (1 - chi)/K + chi alpha_g
  AlphaUpdate alpha_update = AlphaUpdate::Step;
  std::vector<double> is_weights; ///< is-* weights (empty: proportional to 1/N_g)
  /// input_dim is the dataset's feature dimension; one hidden layer of 64 tanh units.
  policies::MlpConfig network = default_network();
  OptimizerConfig optimizer = OptimizerConfig::defaults(OptimizerType::AdamW);
  double clip_norm = 10.0; ///< > 0: clip the gradient norm to this value (0: no clipping)
  index_t batch_size = 0;  ///< pairs per optimiser step; 0 = all training pairs
  index_t micro_batches = 1;
  std::int64_t iterations = shared_defaults::iterations; ///< optimiser steps
  std::uint64_t seed = shared_defaults::seed;            ///< network initialisation and pair order
  // SFT stage: maximum likelihood of the preferred option over each prompt's options.
  std::int64_t sft_steps = 0;
  index_t sft_batch = 16; ///< prompts per SFT step; 0 = all
  OptimizerConfig sft_optimizer = sft_default_optimizer();
  double sft_clip_norm = 10.0;
  std::int64_t sft_warmup = 0; ///< linear learning-rate warm-up over this many SFT steps
  ReferenceKind reference = ReferenceKind::Initial;
  /// Schedule of the optimiser's lr and, on plateau drops, of eta_alpha.
  LrScheduleConfig schedule;

  static OptimizerConfig sft_default_optimizer();
  static policies::MlpConfig default_network();
  LossType loss() const;
  WeightRule weight_rule() const;
  /// ConfigFieldError naming the field for a value out of range or an unsupported combination.
  /// `group_sizes` are the training N_g; `has_options`: the training split has every option.
  void validate(const std::vector<index_t>& group_sizes, bool has_options) const;
};

/// Pairwise metrics of a split (§8.6), per group and over groups.
struct PairMetrics {
  std::vector<double> loss;               ///< mean loss L_g
  std::vector<double> reward_accuracy;    ///< fraction with h = margin - ref > 0
  std::vector<double> logprob_accuracy;   ///< fraction with log pi(y_w) > log pi(y_l)
  std::vector<double> reference_accuracy; ///< fraction with ref margin > 0
  std::vector<double> reward_margin;      ///< mean beta h
  std::vector<double> nll;                ///< mean -log pi(y_w | x) over the options (if known)
  double worst_loss = 0.0;                ///< max over groups
  double average_loss = 0.0;
  double worst_reward_accuracy = 0.0; ///< min over groups
  double average_reward_accuracy = 0.0;
  double worst_logprob_accuracy = 0.0;
  double average_logprob_accuracy = 0.0;
};

/// What one optimiser step did.
struct NeuralStepReport {
  std::int64_t iteration = 0;     ///< 0-based index of the step just made
  std::vector<double> batch_loss; ///< the last part's group-loss estimate (NaN: absent)
  double loss = 0.0;              ///< the step's objective (sum over parts)
  double grad_norm = 0.0;         ///< before clipping
  int empty_groups = 0;           ///< groups absent from the last part
};

class NeuralSolver {
public:
  /// `train` must hold pair features (and options for the SFT stage).
  NeuralSolver(NeuralConfig config, Communicator comm, const policies::PreferenceSplit& train);

  /// Runs the SFT stage (config.sft_steps steps); returns the final batch NLL. Then freezes
  /// the reference policy as configured. Call once, before the first step().
  double prepare();

  NeuralStepReport step();

  /// What a checkpoint stores (after prepare()): the parameters, the frozen reference network,
  /// the optimiser's moments and step count, the learning rate, log alpha and the step count.
  SolverState state() const;
  /// Continues from `state` (a checkpoint of a run with the same configuration and data) instead
  /// of prepare(): the SFT stage is not run again, and the following steps are bit for bit those
  /// of the uninterrupted run. DataError on a state of another shape.
  void restore(const SolverState& state);

  /// Metrics of the current policy on `split` (collective).
  PairMetrics evaluate(const policies::PreferenceSplit& split);

  const NeuralConfig& config() const { return m_config; }
  const Communicator& comm() const { return m_comm; }
  const policies::MlpPolicy& policy() const { return m_policy; }
  int num_groups() const { return m_num_groups; }
  std::int64_t iterations_done() const { return m_iteration; }
  std::vector<double> alpha() const { return m_weights.alpha(); }
  /// Weights of the theta objective: w_g (gr-*), v_g (is-*) or N_g / N (erm).
  std::vector<double> weights() const { return m_weights.weights(); }
  const std::vector<double>& log_alpha() const { return m_weights.log_alpha(); }
  const GroupWeights& group_weights() const { return m_weights; }
  std::vector<double> params() const { return m_policy.params_host(); }
  double param_norm() const;
  double lr() const { return m_optimizer.lr(); }
  /// eta_alpha of the next step: config().step_alpha times the schedule's alpha factor.
  double step_alpha() const { return m_config.step_alpha * m_schedule.alpha_factor(); }
  /// The learning-rate schedule; the training loop feeds it each record (LrSchedule::observe).
  LrSchedule& schedule() { return m_schedule; }
  const LrSchedule& schedule() const { return m_schedule; }
  double sft_seconds() const { return m_sft_seconds; }

private:
  /// Margins minus the reference of `split`'s local rows (cached per split).
  View1<double> reference_margins(const policies::PreferenceSplit& split);
  /// Draws the part [first_slot, first_slot + size) of the pass `stream` over the training set
  /// on the device: this rank's rows (sorted) and the per-group counts (all ranks) are then in
  /// m_locator. True, and nothing drawn, when the part is a whole epoch in order (every local
  /// row once: the range of local rows).
  bool draw(std::int64_t first_slot, index_t size, std::uint64_t stream);
  double sft_step(std::int64_t t);
  void check_finite(double value, const char* what) const;

  NeuralConfig m_config;
  Communicator m_comm;
  const policies::PreferenceSplit& m_train;
  policies::MlpPolicy m_policy;
  policies::MlpPolicy m_reference;
  bool m_reference_is_network = false;
  policies::MlpWorkspace m_ws;
  Optimizer m_optimizer;
  LrSchedule m_schedule;
  int m_num_groups = 0;
  index_t m_total = 0;
  std::vector<index_t> m_group_sizes;
  std::vector<int> m_row_group;           ///< group of each local training row
  std::vector<index_t> m_global_of_local; ///< global row of each local training row
  GroupWeights m_weights;                 ///< alpha (gr-*), v_g (is-*) or N_g / N (erm)
  std::int64_t m_iteration = 0;
  double m_sft_seconds = 0.0;
  bool m_prepared = false;

  // The passes over the training set (the same permutations on every rank) and the rank's
  // rows of the current part, on the device.
  EpochPermutations m_passes;
  DrawLocator m_locator;
  std::vector<index_t> m_option_offsets; ///< host copy of the training split's option_offsets

  // Cached reference margins per split (keyed by the split's name).
  std::vector<std::pair<std::string, View1<double>>> m_ref_cache;

  // Scratch.
  View1<double> m_margins;
  View1<double> m_coeff;       ///< per pair: the loss slope, then its coefficient
  View1<int> m_row_group_dev;  ///< group of each local training row
  View1<double> m_group_coeff; ///< K coefficients of the current part
  View1<double> m_grad;
  std::vector<double> m_grad_host;
};

} // namespace grpo::solver
