// MinimaxSolver: the GRPO step for a log-linear policy (ALGORITHM.md §2-§4). One object holds
// theta (device), log alpha, the AdaGrad accumulator and the averaged iterates; step() performs
// one update of the configured method. Every rank holds identical state: group loss sums and
// gradients are combined with Allreduce, alpha is updated redundantly in the log domain.
//
// A step is made by MinimaxSolver::step_runs for any number of runs at once (an ensemble; its
// training loop is solver::train_ensemble, solver/trainer.hpp): the full-batch passes of runs
// that share a split and a loss are one pass over its features, and every run's values travel in
// one Allreduce. step() is that function for a single run: one code path.
#pragma once

#include "core/communicator.hpp"
#include "core/solver_state.hpp"
#include "policies/log_linear_policy.hpp"
#include "policies/preference_batch.hpp"
#include "solver/batch_sampler.hpp"
#include "solver/dense.hpp"
#include "solver/fused_kernel.hpp"
#include "solver/group_weights.hpp"
#include "solver/lr_schedule.hpp"
#include "solver/solver_config.hpp"

#include <exception>
#include <functional>
#include <memory>
#include <vector>

namespace grpo::solver {

/// What one update did (the "cur_*" quantities of ALGORITHM.md §6.1).
struct StepReport {
  index_t iteration = 0;          ///< 0-based index of the update just made
  std::vector<double> batch_loss; ///< the group-loss estimate that drove alpha (NaN: absent)
  double grad_norm = 0.0;         ///< ||unweighted batch-mean gradient (+ 2 l2 theta)||
  double step_theta = 0.0;        ///< effective eta_theta of this step
  double step_alpha = 0.0;        ///< effective eta_alpha of this step
  double live_grad = 0.0;         ///< closed form: residual of the solve (0 in gradient mode)
  int empty_groups = 0;           ///< groups with no sample in this step's batch
  bool singular = false;          ///< closed form fell back to the pseudo-inverse
};

/// What a checkpoint stores (core/solver_state.hpp).
using SolverState = grpo::SolverState;

/// What one run's step in MinimaxSolver::step_runs came to.
struct StepOutcome {
  StepReport report;
  /// Set when the run's step failed (a NumericalError: non-finite losses, gradient or theta);
  /// the run is then left as it was at the failure and takes no further step.
  std::exception_ptr error;
};

/// Work arrays of step_runs, kept between steps: the shared passes (one per split and loss) and
/// the buffer of the one Allreduce.
struct StepScratch {
  struct Pass {
    const policies::PreferenceSplit* split = nullptr;
    LossType loss = LossType::Dpo;
    std::unique_ptr<FusedLossGradient> fused;
    HostView2<double> thetas_host; ///< [runs][d] staging of the runs' parameters
    Kokkos::View<double**, Kokkos::LayoutRight, MemSpace> thetas;
    std::vector<double> params;
    std::vector<int> members; ///< indices of this step's runs in the pass
  };
  std::vector<Pass> passes;
  std::vector<double> payload;
  std::vector<std::pair<std::size_t, std::size_t>> scaled; ///< log-scaled segments (start, length)
  std::vector<std::size_t> offsets;
  std::vector<int> state;
};

class MinimaxSolver {
public:
  /// `train` is this rank's share of the training split; `theta0` has feature_dim entries.
  MinimaxSolver(SolverConfig config, Communicator comm, const policies::PreferenceSplit& train,
                std::vector<double> theta0);

  /// theta_0 ~ U[0, param_limit]^dim from the counter-based stream of config.seed (§2.4).
  static std::vector<double> initial_theta(const SolverConfig& config, int dim);

  /// One step of this run: step_runs for an ensemble of one. Throws the step's NumericalError.
  StepReport step();

  /// One step of each of `count` runs (distinct solvers on the same communicator), in lockstep:
  /// for each run, exactly the step that step() would make alone, bit for bit. Runs sharing a
  /// training split (the same object) and a loss whose step is a full-batch pass share one pass
  /// over its features; every run's values go in one Allreduce (a second one for runs with
  /// exp_adaptive). A run whose step fails gets its error in out[i]; the others go on.
  static void step_runs(MinimaxSolver* const* runs, int count, StepScratch& scratch,
                        StepOutcome* out);

  SolverState state() const;
  /// Continues from `state` (a checkpoint of a run with the same configuration and data): the
  /// following steps are bit-for-bit those of the uninterrupted run. Throws DataError on a
  /// state whose sizes do not match.
  void restore(const SolverState& state);

  const SolverConfig& config() const { return m_config; }
  const Communicator& comm() const { return m_comm; }
  const policies::LogLinearPolicy& policy() const { return m_policy; }
  int num_groups() const { return m_num_groups; }
  int dim() const { return m_dim; }
  index_t iterations_done() const { return m_iteration; }

  const std::vector<double>& theta() const { return m_theta; }
  const std::vector<double>& log_alpha() const { return m_weights.log_alpha(); }
  std::vector<double> alpha() const { return m_weights.alpha(); }
  /// Mixing weights w_g = (1 - chi)/K + chi alpha_g (ERM: N_g / N).
  std::vector<double> weights() const { return m_weights.weights(); }
  const GroupWeights& group_weights() const { return m_weights; }
  const std::vector<double>& theta_avg() const { return m_theta_avg; }
  const std::vector<double>& alpha_avg() const { return m_weights.alpha_avg(); }
  double adagrad_sum() const { return m_adagrad; }
  index_t empty_group_steps() const { return m_empty_group_steps; }
  index_t singular_solves() const { return m_singular_solves; }
  const std::vector<index_t>& group_sizes() const { return m_group_sizes; }
  /// The learning-rate schedule; the training loop feeds it each record (LrSchedule::observe).
  LrSchedule& schedule() { return m_schedule; }
  const LrSchedule& schedule() const { return m_schedule; }

private:
  /// What this rank contributes to a step for one group: its loss sum (its gradient sum is
  /// reached through a Combine).
  struct Contribution {
    int group;
    double loss_sum;
    bool whole; ///< no other rank holds rows of this group
  };
  /// Weighted sums of the contributions' gradient sums (FusedLossGradient::combine's contract:
  /// `rows` rows of coefficients and flags in, rows x d sums out): on the device for the fused
  /// pass, on the host for the sufficient statistics.
  using Combine =
      std::function<void(const std::vector<double>& coef_use, int rows, std::vector<double>& out)>;
  /// The step's pass is a full-batch pass over the features (shared in an ensemble).
  bool full_pass() const;
  /// The local part of a gradient step before its reduction: the contributions (from the
  /// shared pass's `losses`, the run's own pass, or the statistics) and the payload of the
  /// Allreduce in m_payload. Returns whether the payload must be reduced.
  bool begin_gradient_step(const double* shared_losses, const Combine& shared_combine);
  /// The rest of the step, once m_payload holds the reduced values.
  void complete_gradient_step(StepReport& report);
  /// After the update: the iteration count, the averages, the counters.
  void end_step(const StepReport& report);
  void statistics_contributions(std::vector<Contribution>& out);
  void prepare_payload(const Combine& combine);
  void closed_form_step(StepReport& report);
  void compute_sufficient_statistics();
  void set_theta(const std::vector<double>& theta);
  void update_averages();
  void check_finite(const std::vector<double>& values, const char* what, bool per_group) const;

  SolverConfig m_config;
  Communicator m_comm;
  const policies::PreferenceSplit& m_train;
  policies::LogLinearPolicy m_policy;
  int m_num_groups = 0;
  int m_dim = 0;
  index_t m_total = 0;
  index_t m_batch = 0;
  bool m_full_batch = true;
  std::vector<index_t> m_group_sizes;
  GroupWeights m_weights; ///< alpha, the frozen weights of ERM / IS, C_g / sqrt(N_g)
  LrSchedule m_schedule;
  BatchSampler m_sampler;
  DrawLocator m_locator;
  FusedLossGradient m_fused;
  bool m_use_statistics = false;   ///< full-batch IPO: steps from the sufficient statistics
  std::vector<bool> m_piece_whole; ///< per local piece: its group lives on this rank only
  std::vector<int> m_split_groups; ///< groups spread over several ranks (global list)

  std::vector<double> m_theta;
  HostView1<double> m_theta_host; ///< staging buffer for the device copy
  std::vector<double> m_theta_avg;
  double m_adagrad = 0.0;
  index_t m_iteration = 0;
  index_t m_empty_group_steps = 0;
  index_t m_singular_solves = 0;

  // Closed-form sufficient statistics per group: S_g (d x d), b_g (d), q_g, with targets
  // t_i = 1/(2 beta) + ref_i: L_g = (theta^T S_g theta - 2 b_g^T theta + q_g) / N_g.
  std::vector<dense::Matrix> m_gram;
  std::vector<std::vector<double>> m_moment;
  std::vector<double> m_target_sq;

  // Scratch reused every step.
  std::vector<index_t> m_counts;
  std::vector<double> m_payload;
  std::vector<double> m_statistics_grad; ///< K x d, statistics path
  std::vector<double> m_coef_use;        ///< combine's coefficients and flags
  std::vector<double> m_combined;        ///< combine's rows x d sums
  StepScratch m_step_scratch;            ///< step()'s ensemble of one

  // The state of a step between begin_gradient_step and complete_gradient_step.
  std::vector<Contribution> m_local;
  Combine m_combine;
  bool m_reduce = false;
  std::vector<bool> m_active;
  std::vector<double> m_scale;
  std::vector<double> m_exponent;
  bool m_single_robust = false;
  double m_eta_alpha = 0.0;
  double m_lr_factor = 1.0;
  std::size_t m_scaled_offset = 0; ///< single_robust: where m and B start in the payload
};

} // namespace grpo::solver
