// NeuralSolver (solver/neural_solver.hpp): the MLP's minimax step on the device (per-pair
// losses and group sums, the alpha update through GroupWeights, per-pair coefficients, the
// gradient), its SFT stage, evaluation, and checkpoint state. NeuralConfig's parsing and
// validation are in neural_config.cpp. About 640 lines: the step's kernels and the solver that
// owns their buffers stay together.
#include "solver/neural_solver.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"
#include "solver/array_sum.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

namespace grpo::solver {

namespace {

constexpr index_t kMaxChunkPairs = 4096;   ///< pairs of one pass of the MLP kernels
constexpr index_t kMaxChunkOptions = 8192; ///< option rows of one pass (SFT, NLL)

/// Host copy of a device View.
template <class T>
std::vector<T> to_host(const View1<T>& v, index_t n) {
  std::vector<T> out(static_cast<std::size_t>(n));
  if (n > 0) {
    Kokkos::View<T*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> h(out.data(), n);
    Kokkos::deep_copy(h, Kokkos::subview(v, std::make_pair(index_t(0), n)));
  }
  return out;
}

template <class T>
void to_device(const std::vector<T>& in, const View1<T>& v) {
  const auto n = static_cast<index_t>(in.size());
  if (n > 0) {
    Kokkos::View<const T*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> h(in.data(), n);
    Kokkos::deep_copy(Kokkos::subview(v, std::make_pair(index_t(0), n)), h);
  }
}

/// The training row of batch position k of a selection.
KOKKOS_INLINE_FUNCTION index_t selected_row(const policies::RowSelection& s, index_t k) {
  return s.indexed ? s.index(s.offset + k) : s.offset + k;
}

/// Per pair k of a part: h = margin(k) - reference(row), the loss l(h) summed per group (K
/// values) and the slope l'(h) kept in slope(k). Sequential on a host: the group sums add the
/// pairs in batch order.
template <class Loss>
struct PairLossSums : ArraySum {
  Loss m_loss;
  policies::RowSelection m_rows;
  View1<const double> m_margins;
  View1<const double> m_reference; ///< per local training row
  View1<const int> m_group;        ///< per local training row
  View1<double> m_slope;

  KOKKOS_INLINE_FUNCTION void operator()(const index_t k, value_type sums) const {
    const index_t row = selected_row(m_rows, k);
    double value = 0.0;
    double slope = 0.0;
    m_loss(m_margins(k) - m_reference(row), value, slope);
    m_slope(k) = slope;
    sums[m_group(row)] += math::rounded(value); // the host loop's sum, bit for bit
  }
};

/// coeff(k) = group_coeff(g_k) * coeff(k) / parts: the slope becomes d(objective / parts)/dh.
struct PairCoefficients {
  policies::RowSelection m_rows;
  View1<const int> m_group;
  View1<const double> m_group_coeff;
  View1<double> m_coeff;
  double m_parts;

  KOKKOS_INLINE_FUNCTION void operator()(const index_t k) const {
    m_coeff(k) = m_group_coeff(m_group(selected_row(m_rows, k))) * m_coeff(k) / m_parts;
  }
};

/// Consecutive row ranges [begin, end) of at most `max_options` option rows each (a row with
/// more options than that gets a range of its own; the workspace is sized for it).
std::vector<std::pair<index_t, index_t>> option_chunks(const std::vector<index_t>& offsets,
                                                       index_t max_options) {
  std::vector<std::pair<index_t, index_t>> out;
  const index_t rows = static_cast<index_t>(offsets.size()) - 1;
  index_t begin = 0;
  while (begin < rows) {
    index_t end = begin + 1;
    while (end < rows && offsets[end + 1] - offsets[begin] <= max_options) {
      ++end;
    }
    out.emplace_back(begin, end);
    begin = end;
  }
  return out;
}

/// ref(i) += split.ref_logratio(i) for i < n. A free function: nvcc rejects a KOKKOS_LAMBDA
/// inside a private member function (reference_margins).
void add_ref_logratio(const policies::PreferenceSplit& split, const View1<double>& ref, index_t n) {
  const auto data = split.ref_logratio;
  Kokkos::parallel_for(
      "grpo::neural::reference_margins", Kokkos::RangePolicy<ExecSpace>(0, n),
      KOKKOS_LAMBDA(const index_t i) { ref(i) += static_cast<double>(data(i)); });
}

} // namespace

NeuralSolver::NeuralSolver(NeuralConfig config, Communicator comm,
                           const policies::PreferenceSplit& train)
    : m_config(std::move(config))
    , m_comm(std::move(comm))
    , m_train(train) {
  if (!m_train.has_pair_features()) {
    throw InternalError("NeuralSolver: the training split was loaded without pair features", false);
  }
  m_num_groups = m_train.num_groups();
  m_total = m_train.total_rows();
  for (int g = 0; g < m_num_groups; ++g) {
    m_group_sizes.push_back(m_train.group_size(g));
  }
  m_config.network.input_dim = m_train.feature_dim;
  m_config.validate(m_group_sizes, m_train.has_options());

  const index_t local = m_train.local_rows();
  m_row_group.assign(static_cast<std::size_t>(local), -1);
  m_global_of_local.assign(static_cast<std::size_t>(local), -1);
  for (const auto& piece : m_train.pieces) {
    for (index_t k = 0; k < piece.size(); ++k) {
      m_row_group[static_cast<std::size_t>(piece.local_begin + k)] = piece.group;
      m_global_of_local[static_cast<std::size_t>(piece.local_begin + k)] = piece.global_begin + k;
    }
  }

  m_row_group_dev =
      View1<int>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::neural::row_group"),
                 std::max<index_t>(local, 1));
  to_device(m_row_group, m_row_group_dev);
  m_group_coeff = View1<double>("grpo::neural::group_coeff", m_num_groups);

  m_policy = policies::MlpPolicy(m_config.network, m_config.seed);
  m_optimizer = Optimizer(m_config.optimizer, m_policy.num_params());
  m_schedule = LrSchedule(m_config.schedule, m_config.optimizer.lr, m_config.iterations);

  // Work arrays: a part of the pass holds at most min(batch / parts, local rows) local pairs.
  const index_t batch = m_config.batch_size == 0 ? m_total : m_config.batch_size;
  const index_t part = std::max<index_t>(1, std::min(batch / m_config.micro_batches, local));
  index_t sft_part =
      m_config.sft_steps > 0 ? (m_config.sft_batch == 0 ? m_total : m_config.sft_batch) : 0;
  sft_part = std::min(sft_part, local);
  index_t max_options = 0;
  if (m_train.has_options() && local > 0) {
    m_option_offsets = to_host(m_train.option_offsets, local + 1);
    const auto& offsets = m_option_offsets;
    for (index_t i = 0; i < local; ++i) {
      max_options = std::max(max_options, offsets[i + 1] - offsets[i]);
    }
  }
  const auto ws_rows =
      std::max<index_t>({2, 2 * std::min(part, kMaxChunkPairs),
                         std::min(kMaxChunkOptions, sft_part * max_options), max_options});
  m_ws = policies::MlpWorkspace(m_config.network, ws_rows);
  // A part may hold a row twice when the batch exceeds the training set (two epochs in one part).
  const auto scratch = std::max<index_t>(
      {1, batch / m_config.micro_batches,
       m_config.sft_steps > 0 ? (m_config.sft_batch == 0 ? m_total : m_config.sft_batch) : 0});
  m_passes = EpochPermutations(m_config.seed, m_total);
  m_locator = DrawLocator(m_train);
  m_margins = View1<double>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::neural::margins"), scratch);
  m_coeff = View1<double>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::neural::coeff"),
                          scratch);
  m_grad = View1<double>("grpo::neural::grad", m_policy.num_params());
  m_grad_host.resize(static_cast<std::size_t>(m_policy.num_params()));

  // The official LLM code: no adjustment, importance-sampling weights v_g without chi (§8.3).
  GroupWeightsConfig weights;
  weights.rule = m_config.weight_rule();
  weights.chi = m_config.chi;
  weights.is_weights = m_config.is_weights;
  weights.chi_mixes_fixed = false;
  m_weights = GroupWeights(weights, m_group_sizes);
}

double NeuralSolver::param_norm() const {
  double s = 0.0;
  for (const double x : m_policy.params_host()) {
    s += x * x;
  }
  return std::sqrt(s);
}

void NeuralSolver::check_finite(double value, const char* what) const {
  if (!std::isfinite(value)) {
    throw NumericalError("non-finite " + std::string(what) + " (" + format_double(value) +
                         ") at step " + std::to_string(m_iteration) +
                         "; lower the learning rate or enable --clip-norm");
  }
}

bool NeuralSolver::draw(std::int64_t first_slot, index_t size, std::uint64_t stream) {
  if (size == m_total && first_slot % m_total == 0) {
    return true; // a whole epoch in one part: every row once, no permutation needed
  }
  m_passes.fill(stream, first_slot, size, m_locator.rows(size));
  m_locator.locate(size);
  return false;
}

View1<double> NeuralSolver::reference_margins(const policies::PreferenceSplit& split) {
  for (const auto& [name, view] : m_ref_cache) {
    if (name == split.name) {
      return view;
    }
  }
  const index_t n = split.local_rows();
  View1<double> ref(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::neural::ref_" + split.name),
      std::max<index_t>(n, 1));
  if (m_reference_is_network && n > 0) {
    m_reference.margins(ExecSpace(), m_ws, split, policies::RowSelection::range(0, n), ref);
  } else {
    Kokkos::deep_copy(ref, 0.0);
  }
  add_ref_logratio(split, ref, n);
  m_ref_cache.emplace_back(split.name, ref);
  return ref;
}

double NeuralSolver::sft_step(std::int64_t t) {
  const index_t batch = m_config.sft_batch == 0 ? m_total : m_config.sft_batch;
  const bool whole = draw(t * batch, batch, rng::kStreamSftOrder);
  const index_t n = whole ? m_train.local_rows() : m_locator.local_count();
  const auto selection = whole ? policies::RowSelection::range(0, n)
                               : policies::RowSelection::rows(m_locator.local(), n);
  // Contiguous chunks of the (sorted) local rows whose options fit the workspace: the SFT stage
  // brings its n drawn rows to the host for their option counts.
  std::vector<index_t> local(static_cast<std::size_t>(n));
  if (whole) {
    std::iota(local.begin(), local.end(), index_t(0));
  } else if (n > 0) {
    Kokkos::deep_copy(HostView1<index_t>(local.data(), local.size()),
                      Kokkos::subview(m_locator.local(), std::make_pair(index_t(0), n)));
  }
  const auto& offsets = m_option_offsets;
  std::vector<index_t> sizes(local.size() + 1, 0);
  for (std::size_t k = 0; k < local.size(); ++k) {
    sizes[k + 1] = sizes[k] + offsets[local[k] + 1] - offsets[local[k]];
  }
  Kokkos::deep_copy(m_grad, 0.0);
  Kokkos::deep_copy(m_coeff, -1.0 / static_cast<double>(batch));
  const auto options = policies::MlpPolicy::options_of(m_train);
  double nll = 0.0;
  for (const auto& [begin, end] : option_chunks(sizes, m_ws.max_rows())) {
    const auto chunk = selection.slice(begin, end - begin);
    const auto out = Kokkos::subview(m_margins, std::make_pair(begin, end));
    m_policy.option_log_probs(ExecSpace(), m_ws, options, m_train.chosen_option, chunk, out);
    m_policy.accumulate_log_prob_gradient(
        ExecSpace(), m_ws, Kokkos::subview(m_coeff, std::make_pair(begin, end)), m_grad);
  }
  for (const double lp : to_host(m_margins, n)) {
    nll -= lp;
  }
  std::vector<double> sums{nll};
  m_comm.allreduce_sum(sums);
  nll = sums[0] / static_cast<double>(batch);
  check_finite(nll, "SFT loss");

  Kokkos::deep_copy(Kokkos::View<double*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                        m_grad_host.data(), m_grad_host.size()),
                    m_grad);
  m_comm.allreduce_sum(m_grad_host);
  to_device(m_grad_host, m_grad);
  if (m_config.sft_clip_norm > 0) {
    check_finite(m_optimizer.clip_grad_norm(ExecSpace(), m_grad, m_config.sft_clip_norm),
                 "SFT gradient norm");
  }
  return nll;
}

double NeuralSolver::prepare() {
  if (m_prepared) {
    throw InternalError("NeuralSolver::prepare called twice", false);
  }
  m_prepared = true;
  const auto start = std::chrono::steady_clock::now();
  double nll = std::numeric_limits<double>::quiet_NaN();
  if (m_config.reference == ReferenceKind::Initial) {
    m_reference = m_policy;
    m_reference_is_network = true;
  }
  if (m_config.sft_steps > 0) {
    Optimizer sft(m_config.sft_optimizer, m_policy.num_params());
    std::swap(sft, m_optimizer); // sft_step clips with m_optimizer's helpers
    for (std::int64_t t = 0; t < m_config.sft_steps; ++t) {
      if (m_config.sft_warmup > 0) {
        const double ramp =
            std::min(1.0, static_cast<double>(t + 1) / static_cast<double>(m_config.sft_warmup));
        m_optimizer.set_lr(m_config.sft_optimizer.lr * ramp);
      }
      nll = sft_step(t);
      m_optimizer.step(ExecSpace(), m_policy.params(), m_grad);
    }
    std::swap(sft, m_optimizer);
  }
  if (m_config.reference == ReferenceKind::Sft) {
    m_reference = m_policy;
    m_reference_is_network = true;
  }
  m_sft_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return nll;
}

SolverState NeuralSolver::state() const {
  SolverState s;
  s.policy = "mlp";
  s.iteration = m_iteration;
  s.theta = m_policy.params_host();
  s.log_alpha = m_weights.log_alpha();
  s.alpha_avg = m_weights.alpha_avg();
  if (m_reference_is_network) {
    s.reference = m_reference.params_host();
  }
  s.optimizer = m_optimizer.export_state();
  s.lr = m_optimizer.lr();
  s.schedule = m_schedule.export_state();
  return s;
}

void NeuralSolver::restore(const SolverState& s) {
  const auto fail = [](const std::string& what) { throw DataError("checkpoint: " + what); };
  if (s.policy != "mlp") {
    fail("written by a run of the '" + s.policy + "' policy; this run's policy is mlp");
  }
  const auto p = static_cast<std::size_t>(m_policy.num_params());
  if (s.theta.size() != p) {
    fail("the network has " + std::to_string(s.theta.size()) + " parameters; this run's has " +
         std::to_string(p));
  }
  const bool network = m_config.reference != ReferenceKind::Uniform;
  if (network != !s.reference.empty() || (network && s.reference.size() != p)) {
    fail("the reference network has " + std::to_string(s.reference.size()) +
         " parameters; this run's reference (" + reference_name(m_config.reference) + ") has " +
         std::to_string(network ? p : 0));
  }
  if (s.iteration < 0 || s.iteration > m_config.iterations) {
    fail("iteration " + std::to_string(s.iteration) + " is outside this run's 0.." +
         std::to_string(m_config.iterations));
  }
  if (!std::isfinite(s.lr) || s.lr < 0) {
    fail("learning rate " + format_double(s.lr) + " (expected a finite value >= 0)");
  }
  m_schedule.import_state(s.schedule);
  m_weights.restore(s.log_alpha, s.alpha_avg);
  m_optimizer.import_state(s.optimizer);
  m_optimizer.set_lr(s.lr);
  m_policy.set_params(s.theta);
  if (network) {
    m_reference = m_policy;
    m_reference.set_params(s.reference);
  }
  m_reference_is_network = network;
  m_ref_cache.clear();
  m_iteration = s.iteration;
  m_prepared = true;
}

NeuralStepReport NeuralSolver::step() {
  if (!m_prepared) {
    prepare();
  }
  NeuralStepReport report;
  report.iteration = m_iteration;
  if (m_config.schedule.active()) {
    m_optimizer.set_lr(m_config.optimizer.lr * m_schedule.lr_factor(m_iteration));
  }
  const index_t batch = m_config.batch_size == 0 ? m_total : m_config.batch_size;
  const index_t parts = m_config.micro_batches;
  const index_t part_size = batch / parts;
  // Frozen reference: its training margins are computed once (cached) and stay on the device.
  const View1<const double> reference = reference_margins(m_train);
  const auto loss_type = m_config.loss();
  const auto rule = m_config.weight_rule();
  const int K = m_num_groups;
  const auto N = static_cast<double>(m_total);

  Kokkos::deep_copy(m_grad, 0.0);
  std::vector<double> sums;
  for (index_t part = 0; part < parts; ++part) {
    // The part's draw, on the device; a whole epoch in order is the range of local rows.
    const bool whole =
        draw(m_iteration * batch + part * part_size, part_size, rng::kStreamPairOrder);
    const std::vector<index_t>& counts = whole ? m_group_sizes : m_locator.group_counts();
    const index_t n = whole ? m_train.local_rows() : m_locator.local_count();
    const auto selection = whole ? policies::RowSelection::range(0, n)
                                 : policies::RowSelection::rows(m_locator.local(), n);
    if (n > 0) {
      m_policy.margins(ExecSpace(), m_ws, m_train, selection, m_margins);
    }
    // Per-pair losses and slopes on the device; only the K group sums come back.
    with_loss(loss_type, m_config.beta, [&](const auto& f) {
      using Loss = std::decay_t<decltype(f)>;
      array_reduce("grpo::neural::pair_losses",
                   PairLossSums<Loss>{{static_cast<unsigned>(K)},
                                      f,
                                      selection,
                                      m_margins,
                                      reference,
                                      m_row_group_dev,
                                      m_coeff},
                   n, sums);
      return 0;
    });
    m_comm.allreduce_sum(sums);

    // The group-loss estimate (and the alpha signal), then the weights of the objective.
    std::vector<double> estimate(static_cast<std::size_t>(K), 0.0);
    std::vector<bool> active(static_cast<std::size_t>(K), false);
    report.empty_groups = 0;
    for (int g = 0; g < K; ++g) {
      active[g] = counts[g] > 0;
      report.empty_groups += active[g] ? 0 : 1;
      if (m_config.alpha_update == AlphaUpdate::Step) {
        estimate[g] = active[g] ? sums[g] / static_cast<double>(counts[g]) : 0.0;
      } else {
        estimate[g] = N / static_cast<double>(m_group_sizes[g]) * sums[g];
        active[g] = true; // absent groups get a signal of 0 (§8.3)
      }
      check_finite(estimate[g], "group loss");
    }
    if (rule == WeightRule::Robust) {
      m_weights.update(estimate, active, step_alpha());
    }
    const auto w = weights();
    // Per-pair coefficients of d(objective / parts)/dh.
    std::vector<double> group_coeff(static_cast<std::size_t>(K), 0.0);
    double objective = 0.0;
    for (int g = 0; g < K; ++g) {
      if (rule == WeightRule::Erm) {
        group_coeff[g] = 1.0 / static_cast<double>(part_size);
        objective += sums[g] / static_cast<double>(part_size);
      } else if (m_config.alpha_update == AlphaUpdate::Step) {
        group_coeff[g] = counts[g] > 0 ? w[g] / static_cast<double>(counts[g]) : 0.0;
        // Written as the fused multiply-add that GCC contracted this line to before the weights
        // moved to GroupWeights (same bits as earlier traces on FMA hosts).
        objective = std::fma(w[g], estimate[g], objective);
      } else {
        group_coeff[g] = w[g] * N / static_cast<double>(m_group_sizes[g]);
        objective += w[g] * estimate[g];
      }
    }
    report.loss += objective / static_cast<double>(parts);
    report.batch_loss.assign(static_cast<std::size_t>(K), std::numeric_limits<double>::quiet_NaN());
    for (int g = 0; g < K; ++g) {
      if (counts[g] > 0) {
        report.batch_loss[g] = m_config.alpha_update == AlphaUpdate::Step
                                   ? estimate[g]
                                   : sums[g] / static_cast<double>(counts[g]);
      }
    }
    // Per-pair coefficients on the device from the K group coefficients.
    to_device(group_coeff, m_group_coeff);
    Kokkos::parallel_for("grpo::neural::pair_coefficients",
                         Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(0, n),
                         PairCoefficients{selection, m_row_group_dev, m_group_coeff, m_coeff,
                                          static_cast<double>(parts)});
    if (n > 0) {
      const auto c = Kokkos::subview(m_coeff, std::make_pair(index_t(0), n));
      if (n <= m_ws.max_pairs()) {
        m_policy.accumulate_pair_gradient(ExecSpace(), m_ws, c, m_grad);
      } else {
        m_policy.accumulate_gradient(ExecSpace(), m_ws, m_train, selection, c, m_grad);
      }
    }
  }
  check_finite(report.loss, "training loss");

  // One Allreduce of the P gradient entries, then clipping and the optimiser step.
  Kokkos::deep_copy(Kokkos::View<double*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
                        m_grad_host.data(), m_grad_host.size()),
                    m_grad);
  m_comm.allreduce_sum(m_grad_host);
  to_device(m_grad_host, m_grad);
  report.grad_norm = m_config.clip_norm > 0
                         ? m_optimizer.clip_grad_norm(ExecSpace(), m_grad, m_config.clip_norm)
                         : m_optimizer.grad_norm(ExecSpace(), m_grad);
  check_finite(report.grad_norm, "gradient norm");
  m_optimizer.step(ExecSpace(), m_policy.params(), m_grad);
  ++m_iteration;
  return report;
}

PairMetrics NeuralSolver::evaluate(const policies::PreferenceSplit& split) {
  if (!m_prepared) {
    prepare();
  }
  const int K = split.num_groups();
  const index_t n = split.local_rows();
  const auto ref = to_host(reference_margins(split), n);
  View1<double> margins(Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::neural::eval"),
                        std::max<index_t>(n, 1));
  if (n > 0) {
    m_policy.margins(ExecSpace(), m_ws, split, policies::RowSelection::range(0, n), margins);
  }
  const auto h = to_host(margins, n);
  std::vector<double> nll(static_cast<std::size_t>(n), 0.0);
  const bool with_nll = split.has_options();
  if (with_nll && n > 0) {
    const auto offsets = to_host(split.option_offsets, n + 1);
    const auto options = policies::MlpPolicy::options_of(split);
    for (const auto& [begin, end] : option_chunks(offsets, m_ws.max_rows())) {
      const auto out = Kokkos::subview(margins, std::make_pair(begin, end));
      m_policy.option_log_probs(ExecSpace(), m_ws, options, split.chosen_option,
                                policies::RowSelection::range(begin, end - begin), out);
    }
    const auto lp = to_host(margins, n);
    for (index_t i = 0; i < n; ++i) {
      nll[static_cast<std::size_t>(i)] = -lp[static_cast<std::size_t>(i)];
    }
  }
  // Per group: loss, reward hits, log-prob hits, reference hits, beta h, nll.
  constexpr int kFields = 6;
  std::vector<double> sums(static_cast<std::size_t>(kFields * K), 0.0);
  with_loss(m_config.loss(), m_config.beta, [&](const auto& f) {
    for (const auto& piece : split.pieces) {
      double* s = &sums[static_cast<std::size_t>(kFields) * piece.group];
      for (index_t k = 0; k < piece.size(); ++k) {
        const auto i = static_cast<std::size_t>(piece.local_begin + k);
        const double margin = h[i] - ref[i];
        double value = 0.0;
        double slope = 0.0;
        f(margin, value, slope);
        s[0] += value;
        s[1] += margin > 0.0 ? 1.0 : 0.0;
        s[2] += h[i] > 0.0 ? 1.0 : 0.0;
        s[3] += ref[i] > 0.0 ? 1.0 : 0.0;
        s[4] += m_config.beta * margin;
        s[5] += nll[i];
      }
    }
    return 0;
  });
  m_comm.allreduce_sum(sums);
  PairMetrics m;
  m.worst_loss = -std::numeric_limits<double>::infinity();
  m.worst_reward_accuracy = std::numeric_limits<double>::infinity();
  m.worst_logprob_accuracy = std::numeric_limits<double>::infinity();
  int present = 0;
  for (int g = 0; g < K; ++g) {
    const auto size = static_cast<double>(split.group_size(g));
    const double* s = &sums[static_cast<std::size_t>(kFields) * g];
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const auto mean = [&](double v) { return size > 0 ? v / size : nan; };
    m.loss.push_back(mean(s[0]));
    m.reward_accuracy.push_back(mean(s[1]));
    m.logprob_accuracy.push_back(mean(s[2]));
    m.reference_accuracy.push_back(mean(s[3]));
    m.reward_margin.push_back(mean(s[4]));
    if (with_nll) {
      m.nll.push_back(mean(s[5]));
    }
    if (size > 0) {
      ++present;
      m.worst_loss = std::max(m.worst_loss, m.loss.back());
      m.worst_reward_accuracy = std::min(m.worst_reward_accuracy, m.reward_accuracy.back());
      m.worst_logprob_accuracy = std::min(m.worst_logprob_accuracy, m.logprob_accuracy.back());
      m.average_loss += m.loss.back();
      m.average_reward_accuracy += m.reward_accuracy.back();
      m.average_logprob_accuracy += m.logprob_accuracy.back();
    }
  }
  if (present > 0) {
    m.average_loss /= present;
    m.average_reward_accuracy /= present;
    m.average_logprob_accuracy /= present;
  }
  return m;
}

} // namespace grpo::solver
