// MinimaxSolver (solver/minimax_solver.hpp): the log-linear policy's set-up, state and restart,
// and its gradient step (the fused pass over full or drawn batches, the group weights, the
// Adagrad-normalised or constant step, averaging and projection). The closed-form IPO step
// and the sufficient statistics it and the full-batch IPO gradient step use are in
// minimax_statistics.cpp.
#include "solver/minimax_solver.hpp"

#include "core/error.hpp"
#include "core/kokkos_compat.hpp"
#include "core/rng.hpp"
#include "solver/array_sum.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace grpo::solver {

namespace {

/// FusedLossGradient::combine's contract and arithmetic over gradient sums held on the host
/// (`gradients`: one row of d values per contribution).
void combine_on_host(const std::vector<double>& gradients, int d,
                     const std::vector<double>& coef_use, int rows, std::vector<double>& out) {
  const std::size_t parts = coef_use.size() / (2 * static_cast<std::size_t>(rows));
  out.assign(static_cast<std::size_t>(rows) * d, 0.0);
  for (int r = 0; r < rows; ++r) {
    const double* coef = coef_use.data() + static_cast<std::size_t>(r) * 2 * parts;
    double* sum = out.data() + static_cast<std::size_t>(r) * d;
    for (std::size_t c = 0; c < parts; ++c) {
      if (coef[parts + c] != 0.0) {
        const double* g = gradients.data() + c * d;
        for (int j = 0; j < d; ++j) {
          sum[j] += coef[c] * g[j];
        }
      }
    }
  }
}

} // namespace

std::vector<double> MinimaxSolver::initial_theta(const SolverConfig& config, int dim) {
  std::vector<double> theta(dim);
  for (int j = 0; j < dim; ++j) {
    theta[j] = config.param_limit * rng::to_unit(rng::hash(config.seed, rng::kStreamThetaInit,
                                                           static_cast<std::uint64_t>(j)));
  }
  return theta;
}

MinimaxSolver::MinimaxSolver(SolverConfig config, Communicator comm,
                             const policies::PreferenceSplit& train, std::vector<double> theta0)
    : m_config(std::move(config))
    , m_comm(std::move(comm))
    , m_train(train)
    , m_policy(train.feature_dim)
    , m_num_groups(train.num_groups())
    , m_dim(train.feature_dim)
    , m_total(train.total_rows()) {
  for (int g = 0; g < m_num_groups; ++g) {
    m_group_sizes.push_back(train.group_size(g));
  }
  m_config.validate(m_group_sizes);
  m_schedule =
      LrSchedule(m_config.schedule, m_config.ada_coef > 0 ? m_config.ada_coef : m_config.step_theta,
                 m_config.iterations);
  if (static_cast<int>(theta0.size()) != m_dim) {
    throw ConfigFieldError("theta_init", std::to_string(theta0.size()) +
                                             " values given, the policy has " +
                                             std::to_string(m_dim) + " parameters");
  }
  for (std::size_t j = 0; j < theta0.size(); ++j) {
    if (!std::isfinite(theta0[j])) {
      throw ConfigFieldError("theta_init", "entry " + std::to_string(j) + " is " +
                                               format_double(theta0[j]) +
                                               " (expected finite values)");
    }
  }
  m_batch = m_config.effective_batch(m_total);
  m_full_batch = m_config.sampling == Sampling::CodeBatch && m_batch == m_total;
  if (!m_full_batch) {
    const bool weighted = m_config.sampling == Sampling::CodeBatch &&
                          m_config.batch_mode == BatchMode::GroupWeighted &&
                          m_config.weight_rule() != WeightRule::ImportanceSampling;
    m_sampler = BatchSampler(m_config.seed, train.offsets, weighted, m_batch);
    m_locator = DrawLocator(train);
  }

  // The log-linear policy always adds C_g / sqrt(N_g), 0 without --adj (the official code's
  // rdpo_adj '0'), and mixes importance-sampling weights with chi as robust ones (§2.2 step 6).
  GroupWeightsConfig weights;
  weights.rule = m_config.weight_rule();
  weights.chi = m_config.chi;
  weights.is_weights = m_config.is_weights;
  weights.adj = expand_per_group(m_config.adj, m_num_groups, "adj");
  weights.chi_mixes_fixed = true;
  m_weights = GroupWeights(weights, m_group_sizes);
  m_theta_avg.assign(m_dim, 0.0);

  m_theta_host = HostView1<double>("grpo::solver::theta_host", m_dim);
  set_theta(theta0);

  // Which local pieces hold a whole group (then no other rank has rows of it), and which groups
  // no rank holds whole (split across ranks): one reduction, whatever partition was used.
  std::vector<double> whole(m_num_groups, 0.0);
  for (const auto& piece : train.pieces) {
    const bool is_whole = piece.size() == train.group_size(piece.group);
    m_piece_whole.push_back(is_whole);
    whole[piece.group] = is_whole ? 1.0 : 0.0;
  }
  m_comm.allreduce_sum(whole);
  for (int g = 0; g < m_num_groups; ++g) {
    if (whole[g] == 0.0 && m_group_sizes[g] > 0) {
      m_split_groups.push_back(g);
    }
  }
  // Full-batch IPO needs no pass over the data after the first: every step (gradient or closed
  // form) comes from the per-group sufficient statistics in O(K d^2).
  m_use_statistics = m_config.loss() == LossType::Ipo && m_full_batch;
  if (m_use_statistics) {
    compute_sufficient_statistics();
  }
}

void MinimaxSolver::set_theta(const std::vector<double>& theta) {
  m_theta = theta;
  for (int j = 0; j < m_dim; ++j) {
    m_theta_host(j) = theta[j];
  }
  Kokkos::deep_copy(m_policy.params(), m_theta_host);
}

void MinimaxSolver::update_averages() {
  const double inv = 1.0 / static_cast<double>(m_iteration);
  for (int j = 0; j < m_dim; ++j) {
    m_theta_avg[j] += (m_theta[j] - m_theta_avg[j]) * inv;
  }
  m_weights.accumulate_average(m_iteration);
}

void MinimaxSolver::check_finite(const std::vector<double>& values, const char* what,
                                 bool per_group) const {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw NumericalError(std::string("non-finite ") + what + " at iteration " +
                           std::to_string(m_iteration) + (per_group ? ", group " : ", entry ") +
                           std::to_string(i) + ": " + format_double(values[i]) + " (step-theta " +
                           format_double(m_config.step_theta) + ", step-alpha " +
                           format_double(m_config.step_alpha) + "); try smaller step sizes");
    }
  }
}

SolverState MinimaxSolver::state() const {
  SolverState s;
  s.iteration = m_iteration;
  s.theta = m_theta;
  s.theta_avg = m_theta_avg;
  s.log_alpha = m_weights.log_alpha();
  s.alpha_avg = m_weights.alpha_avg();
  s.adagrad = m_adagrad;
  s.empty_group_steps = m_empty_group_steps;
  s.singular_solves = m_singular_solves;
  s.schedule = m_schedule.export_state();
  return s;
}

void MinimaxSolver::restore(const SolverState& s) {
  if (s.policy != "loglinear") {
    throw DataError("checkpoint: written by a run of the '" + s.policy +
                    "' policy; this run's policy is log-linear");
  }
  const auto d = static_cast<std::size_t>(m_dim);
  const auto k = static_cast<std::size_t>(m_num_groups);
  if (s.theta.size() != d || s.theta_avg.size() != d || s.log_alpha.size() != k ||
      s.alpha_avg.size() != k) {
    throw DataError("checkpoint: state has " + std::to_string(s.theta.size()) + " parameters and " +
                    std::to_string(s.log_alpha.size()) + " groups; this run has " +
                    std::to_string(d) + " and " + std::to_string(k));
  }
  if (s.iteration < 0 || s.iteration > m_config.iterations) {
    throw DataError("checkpoint: iteration " + std::to_string(s.iteration) +
                    " is outside this run's 0.." + std::to_string(m_config.iterations));
  }
  m_schedule.import_state(s.schedule);
  m_iteration = s.iteration;
  set_theta(s.theta);
  m_theta_avg = s.theta_avg;
  m_weights.restore(s.log_alpha, s.alpha_avg);
  m_adagrad = s.adagrad;
  m_empty_group_steps = s.empty_group_steps;
  m_singular_solves = s.singular_solves;
}

bool MinimaxSolver::full_pass() const {
  return !m_config.closed_form && !m_use_statistics && m_full_batch;
}

StepReport MinimaxSolver::step() {
  MinimaxSolver* self = this;
  StepOutcome outcome;
  step_runs(&self, 1, m_step_scratch, &outcome);
  if (outcome.error) {
    std::rethrow_exception(outcome.error);
  }
  return outcome.report;
}

void MinimaxSolver::end_step(const StepReport& report) {
  ++m_iteration;
  update_averages();
  if (report.empty_groups > 0) {
    ++m_empty_group_steps;
  }
  if (report.singular) {
    ++m_singular_solves;
  }
}

void MinimaxSolver::step_runs(MinimaxSolver* const* runs, int count, StepScratch& scratch,
                              StepOutcome* out) {
  core::ProfilingRegion region("grpo::solver::step");
  // Per run: 0 not yet stepped, 1 its payload waits for the reduction, 2 nothing to reduce,
  // 3 closed form (done), -1 failed.
  std::vector<int>& state = scratch.state;
  state.assign(static_cast<std::size_t>(count), 0);
  const auto fail = [&](int i) {
    out[i].error = std::current_exception();
    state[i] = -1;
  };
  for (auto& pass : scratch.passes) {
    pass.members.clear();
  }
  // Closed-form runs are local; full-batch runs join the pass of their split and loss.
  for (int i = 0; i < count; ++i) {
    MinimaxSolver& s = *runs[i];
    out[i] = StepOutcome{};
    out[i].report.iteration = s.m_iteration;
    if (s.m_config.closed_form) {
      try {
        s.closed_form_step(out[i].report);
        state[i] = 3;
      } catch (const NumericalError&) {
        fail(i);
      }
      continue;
    }
    if (s.full_pass()) {
      const LossType loss = s.m_config.loss();
      auto it = std::find_if(scratch.passes.begin(), scratch.passes.end(), [&](const auto& p) {
        return p.split == &s.m_train && p.loss == loss;
      });
      if (it == scratch.passes.end()) {
        scratch.passes.emplace_back();
        it = scratch.passes.end() - 1;
        it->split = &s.m_train;
        it->loss = loss;
        it->fused = std::make_unique<FusedLossGradient>();
      }
      it->members.push_back(i);
    }
  }
  // Each shared pass: one read of the features for all its runs, then their local parts.
  for (auto& pass : scratch.passes) {
    const int n = static_cast<int>(pass.members.size());
    if (n == 0) {
      continue;
    }
    const int d = pass.split->feature_dim;
    FusedLossGradient::Thetas thetas;
    if (n == 1) {
      const auto params = runs[pass.members[0]]->m_policy.params();
      thetas = FusedLossGradient::Thetas(params.data(), 1, params.extent(0));
    } else {
      if (pass.thetas.extent(0) != static_cast<std::size_t>(n) ||
          pass.thetas.extent(1) != static_cast<std::size_t>(d)) {
        pass.thetas = Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>(
            Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::solver::ensemble::thetas"), n,
            d);
        pass.thetas_host = Kokkos::create_mirror_view(pass.thetas);
      }
      for (int k = 0; k < n; ++k) {
        const auto& theta = runs[pass.members[k]]->m_theta;
        for (int j = 0; j < d; ++j) {
          pass.thetas_host(k, j) = theta[j];
        }
      }
      Kokkos::deep_copy(pass.thetas, pass.thetas_host);
      thetas = pass.thetas;
    }
    pass.params.resize(static_cast<std::size_t>(n));
    for (int k = 0; k < n; ++k) {
      pass.params[k] =
          FusedLossGradient::loss_parameter(pass.loss, runs[pass.members[k]]->m_config.beta);
    }
    FusedLossGradient& fused = *pass.fused;
    const auto& losses = fused.step_full_runs(thetas, pass.params, *pass.split, pass.loss);
    const std::size_t pieces = pass.split->pieces.size();
    for (int k = 0; k < n; ++k) {
      const int i = pass.members[k];
      try {
        state[i] =
            runs[i]->begin_gradient_step(losses.data() + k * pieces,
                                         [&fused, k](const std::vector<double>& coef_use, int rows,
                                                     std::vector<double>& combined) {
                                           fused.combine(coef_use, rows, combined, k);
                                         })
                ? 1
                : 2;
      } catch (const NumericalError&) {
        fail(i);
      }
    }
  }
  // Runs with passes of their own (drawn batches) or none (sufficient statistics).
  for (int i = 0; i < count; ++i) {
    if (state[i] == 0) {
      try {
        state[i] = runs[i]->begin_gradient_step(nullptr, {}) ? 1 : 2;
      } catch (const NumericalError&) {
        fail(i);
      }
    }
  }
  // One Allreduce for every run's payload.
  auto& payload = scratch.payload;
  payload.clear();
  scratch.scaled.clear();
  scratch.offsets.assign(static_cast<std::size_t>(count), 0);
  const Communicator* comm = nullptr;
  for (int i = 0; i < count; ++i) {
    if (state[i] == 1) {
      const MinimaxSolver& s = *runs[i];
      scratch.offsets[i] = payload.size();
      if (s.m_single_robust) {
        scratch.scaled.emplace_back(payload.size() + s.m_scaled_offset,
                                    static_cast<std::size_t>(s.m_dim));
      }
      payload.insert(payload.end(), s.m_payload.begin(), s.m_payload.end());
      comm = &s.m_comm;
    }
  }
  if (comm != nullptr) {
    if (scratch.scaled.empty()) {
      comm->allreduce_sum(payload.data(), payload.size());
    } else {
      comm->allreduce_sum_logscaled(payload.data(), payload.size(), scratch.scaled);
    }
    for (int i = 0; i < count; ++i) {
      if (state[i] == 1) {
        auto& own = runs[i]->m_payload;
        std::copy(payload.begin() + static_cast<std::ptrdiff_t>(scratch.offsets[i]),
                  payload.begin() + static_cast<std::ptrdiff_t>(scratch.offsets[i] + own.size()),
                  own.begin());
      }
    }
  }
  for (int i = 0; i < count; ++i) {
    if (state[i] == 1 || state[i] == 2) {
      try {
        runs[i]->complete_gradient_step(out[i].report);
      } catch (const NumericalError&) {
        fail(i);
      }
    }
    if (state[i] > 0) {
      runs[i]->end_step(out[i].report);
    }
  }
}

bool MinimaxSolver::begin_gradient_step(const double* shared_losses,
                                        const Combine& shared_combine) {
  m_local.clear();
  if (m_use_statistics) {
    // Every rank holds the global statistics: the whole step is local, no communication.
    m_counts = m_group_sizes;
    statistics_contributions(m_local);
    m_combine = [this](const std::vector<double>& coef_use, int rows, std::vector<double>& out) {
      combine_on_host(m_statistics_grad, m_dim, coef_use, rows, out);
    };
    m_reduce = false;
    prepare_payload(m_combine);
    return false;
  }
  const double* losses = shared_losses;
  if (shared_losses != nullptr) {
    m_counts = m_group_sizes;
    m_combine = shared_combine;
  } else {
    // The step's draw (identical on every rank), drawn, sorted and located on the device; only
    // the K group counts and the pieces' positions come back.
    const LossType loss = m_config.loss();
    m_sampler.fill(m_iteration, m_locator.rows(m_batch));
    m_locator.locate(m_batch);
    m_counts = m_locator.group_counts();
    losses = m_fused
                 .step_batch(m_policy, m_train, loss, m_config.beta, m_locator.local(),
                             m_locator.piece_offsets())
                 .data();
    m_combine = [this](const std::vector<double>& coef_use, int rows, std::vector<double>& out) {
      m_fused.combine(coef_use, rows, out);
    };
  }
  for (std::size_t p = 0; p < m_train.pieces.size(); ++p) {
    m_local.push_back(Contribution{m_train.pieces[p].group, losses[p], m_piece_whole[p]});
  }
  // The pieces' gradient sums stay on the device: only the K loss sums came back, and the
  // weighted sums of the step (a few rows of d values) are formed there.
  m_reduce = true;
  prepare_payload(m_combine);
  return true;
}

void MinimaxSolver::prepare_payload(const Combine& combine) {
  const std::vector<Contribution>& local = m_local;
  const int k_groups = m_num_groups;
  const int d = m_dim;
  const auto rule = m_config.weight_rule();
  const bool paper = m_config.sampling == Sampling::PaperSingle;
  const auto batch = static_cast<double>(m_batch);

  // Per group: does it take part in this step, the scale s_g of its gradient and loss sums
  // (code_batch: 1/n_g, a group mean; paper_single: N/(N_g |B|), the unbiased estimate).
  m_active.assign(k_groups, false);
  m_scale.assign(k_groups, 0.0);
  for (int g = 0; g < k_groups; ++g) {
    m_active[g] = m_counts[g] > 0;
    if (m_active[g]) {
      m_scale[g] =
          paper ? static_cast<double>(m_total) / (static_cast<double>(m_group_sizes[g]) * batch)
                : 1.0 / static_cast<double>(m_counts[g]);
    }
  }
  const std::vector<bool>& active = m_active;
  const std::vector<double>& scale = m_scale;
  // Fixed weights (ERM, IS) give each group's gradient coefficient before any communication;
  // robust weights depend on the new alpha, which depends on every group's loss.
  const auto fixed_w = weights();
  auto fixed_coefficient = [&](int g) {
    if (!active[g]) {
      return 0.0;
    }
    if (rule == WeightRule::Erm) {
      return 1.0 / batch;
    }
    if (paper || m_config.is_normalization == IsNormalization::Group) {
      return fixed_w[g] * scale[g];
    }
    return fixed_w[g] / batch;
  };
  const bool robust = rule == WeightRule::Robust;
  const bool two_phase = robust && m_config.exp_adaptive > 0; // eta_alpha needs the new H first
  // The schedule scales eta_theta by lr_factor(t) and eta_alpha by alpha_factor() (exactly 1
  // without a schedule).
  m_eta_alpha = m_config.step_alpha * m_schedule.alpha_factor();
  m_lr_factor = m_schedule.lr_factor(m_iteration);
  const double eta_alpha = m_eta_alpha;

  // The payload of the step's one Allreduce:
  //   [0, K)            loss sums S_g
  //   [K, K+d)          unweighted gradient sum U
  //   [K+d, K+2d)       fixed weights: sum_g c_g G_g;  robust: A = sum_{whole g} s_g G_g
  //   robust only:      m, then B = sum_{whole g} e^(e_g - m) s_g G_g (log-scaled, d values),
  //                     then s_g G_g of every group split across ranks (d values each),
  // where e_g = log alpha_g + eta chi (L_g + C_g/sqrt(N_g)) is computed by the group's owner.
  const std::size_t off_u = k_groups;
  const std::size_t off_a = off_u + d;
  const std::size_t off_m = off_a + d;
  const std::size_t off_split = off_m + 1 + d;
  const bool single_robust = robust && !two_phase;
  m_single_robust = single_robust;
  m_scaled_offset = off_m;
  const std::size_t size =
      single_robust ? off_split + m_split_groups.size() * d : (two_phase ? off_a : off_m);
  m_payload.assign(size, 0.0);
  double* payload = m_payload.data();
  double local_max = -std::numeric_limits<double>::infinity();
  m_exponent.assign(local.size(), 0.0);
  std::vector<double>& exponent = m_exponent;
  // The payload's gradient parts are weighted sums of the contributions' gradient sums G_c,
  // formed by `combine` (where the G_c live) from one row of coefficients each:
  //   row 0: U (every contribution, weight 1); row 1: sum_g c_g G_g (fixed weights) or A;
  //   robust only: row 2: B, rows 3 + q: the q-th split group's s_g G_g.
  const std::size_t parts = local.size();
  const int rows =
      single_robust ? 3 + static_cast<int>(m_split_groups.size()) : (two_phase ? 1 : 2);
  m_coef_use.assign(static_cast<std::size_t>(rows) * 2 * parts, 0.0);
  const auto use = [&](int row, std::size_t c, double coefficient) {
    m_coef_use[static_cast<std::size_t>(row) * 2 * parts + c] = coefficient;
    m_coef_use[static_cast<std::size_t>(row) * 2 * parts + parts + c] = 1.0;
  };
  for (std::size_t c = 0; c < parts; ++c) {
    const auto& part = local[c];
    const int g = part.group;
    payload[g] += part.loss_sum;
    use(0, c, 1.0);
    if (!robust) {
      use(1, c, fixed_coefficient(g));
    } else if (single_robust && part.whole && active[g]) {
      use(1, c, scale[g]);
      exponent[c] = m_weights.exponent(g, scale[g] * part.loss_sum, eta_alpha);
      local_max = std::max(local_max, exponent[c]);
    } else if (single_robust && active[g]) {
      const auto q = std::lower_bound(m_split_groups.begin(), m_split_groups.end(), g) -
                     m_split_groups.begin();
      use(3 + static_cast<int>(q), c, scale[g]);
    }
  }
  if (single_robust) {
    payload[off_m] = local_max;
    for (std::size_t c = 0; c < parts; ++c) {
      const int g = local[c].group;
      if (local[c].whole && active[g]) {
        use(2, c, std::exp(exponent[c] - local_max) * scale[g]);
      }
    }
  }
  combine(m_coef_use, rows, m_combined);
  const auto row_to = [&](int row, std::size_t offset) {
    std::copy(m_combined.begin() + static_cast<std::ptrdiff_t>(row) * d,
              m_combined.begin() + static_cast<std::ptrdiff_t>(row + 1) * d, payload + offset);
  };
  row_to(0, off_u);
  if (rows > 1) {
    row_to(1, off_a);
  }
  if (single_robust) {
    row_to(2, off_m + 1);
    for (std::size_t q = 0; q < m_split_groups.size(); ++q) {
      row_to(3 + static_cast<int>(q), off_split + q * d);
    }
  }
}

void MinimaxSolver::complete_gradient_step(StepReport& report) {
  const int k_groups = m_num_groups;
  const int d = m_dim;
  const auto rule = m_config.weight_rule();
  const bool paper = m_config.sampling == Sampling::PaperSingle;
  const auto batch = static_cast<double>(m_batch);
  const double chi = m_config.chi;
  const bool robust = rule == WeightRule::Robust;
  const bool single_robust = m_single_robust;
  const std::vector<bool>& active = m_active;
  const std::vector<double>& scale = m_scale;
  const std::size_t off_u = k_groups;
  const std::size_t off_a = off_u + d;
  const std::size_t off_m = off_a + d;
  const std::size_t off_split = off_m + 1 + d;
  const double* payload = m_payload.data();
  const double eta_alpha = m_eta_alpha;
  const double lr_factor = m_lr_factor;
  // Group losses (now global), the unweighted gradient and the AdaGrad accumulator (§2.2, 4).
  std::vector<double> loss_sum(payload, payload + k_groups);
  check_finite(loss_sum, "group loss", true);
  std::vector<double> unweighted(d);
  for (int j = 0; j < d; ++j) {
    unweighted[j] = payload[off_u + j] / batch + 2.0 * m_config.l2 * m_theta[j];
  }
  check_finite(unweighted, "gradient", false);
  report.grad_norm = dense::norm2(unweighted);
  m_adagrad += report.grad_norm * report.grad_norm;
  const double root_h = std::sqrt(m_adagrad);
  report.step_alpha = eta_alpha;
  report.step_theta = m_config.step_theta * lr_factor;
  if (root_h > 0) {
    if (m_config.exp_adaptive > 0) {
      report.step_alpha = eta_alpha * m_config.exp_adaptive / root_h;
    }
    if (m_config.ada_coef > 0) {
      report.step_theta = m_config.ada_coef / root_h * lr_factor;
    }
  }
  report.batch_loss.assign(k_groups, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> estimate(k_groups, 0.0);
  for (int g = 0; g < k_groups; ++g) {
    if (active[g]) {
      report.batch_loss[g] = scale[g] * loss_sum[g];
      estimate[g] = report.batch_loss[g];
    } else if (paper) {
      report.batch_loss[g] = 0.0; // a group not drawn: part of Algorithm 1, not a fault
    } else {
      ++report.empty_groups;
    }
  }

  // Mirror ascent on alpha, then the theta direction.
  std::vector<double> direction(d, 0.0);
  if (!robust) {
    std::copy(payload + off_a, payload + off_a + d, direction.begin());
  } else if (single_robust) {
    const double log_norm = m_weights.update(estimate, active, report.step_alpha);
    const double uniform = (1.0 - chi) / k_groups;
    const double lift = payload[off_m] == -std::numeric_limits<double>::infinity()
                            ? 0.0
                            : chi * std::exp(payload[off_m] - log_norm);
    for (int j = 0; j < d; ++j) {
      direction[j] = uniform * payload[off_a + j] + lift * payload[off_m + 1 + j];
    }
    const auto w = weights();
    for (std::size_t q = 0; q < m_split_groups.size(); ++q) {
      const double wg = w[m_split_groups[q]];
      for (int j = 0; j < d; ++j) {
        direction[j] += wg * payload[off_split + q * d + j];
      }
    }
  } else {
    // exp_adaptive: eta_alpha depends on this step's H, so alpha moves between two reductions.
    m_weights.update(estimate, active, report.step_alpha);
    const auto w = weights();
    const std::size_t parts = m_local.size();
    m_coef_use.assign(2 * parts, 1.0);
    for (std::size_t c = 0; c < parts; ++c) {
      const int g = m_local[c].group;
      m_coef_use[c] = w[g] * scale[g];
    }
    m_combine(m_coef_use, 1, direction);
    if (m_reduce) {
      m_comm.allreduce_sum(direction);
    }
  }

  // Theta step (L2 added once), optional projection on the L2 ball (§2.2 8-10, §2.4).
  std::vector<double> theta = m_theta;
  for (int j = 0; j < d; ++j) {
    theta[j] -= report.step_theta * (direction[j] + 2.0 * m_config.l2 * m_theta[j]);
  }
  if (m_config.projection_radius > 0) {
    const double norm = dense::norm2(theta);
    if (norm > m_config.projection_radius) {
      for (double& x : theta) {
        x *= m_config.projection_radius / norm;
      }
    }
  }
  check_finite(theta, "parameter theta", false);
  set_theta(theta);
}

} // namespace grpo::solver
