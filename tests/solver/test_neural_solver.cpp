// NeuralSolver (one rank): the step's gradient against finite differences of the objective it
// documents, for each alpha-update rule and weighting; the alpha update of the §8.3 rule by hand;
// micro-batches that add up to the full batch; the SFT gradient; the metrics against a direct
// host computation; the zero-hidden-layer network equal to the log-linear solver; determinism.
#include "core/error.hpp"
#include "solver/minimax_solver.hpp"
#include "solver/neural_solver.hpp"
#include "solver/neural_trainer.hpp"
#include "tests/solver/neural_fixtures.hpp"
#include "tests/support/fixtures.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace {

using namespace grpo;
using solver::AlphaUpdate;
using solver::Method;
using solver::NeuralConfig;
using solver::NeuralSolver;

std::vector<double> get_params(const NeuralSolver& s) { return s.params(); }

void set_params(const NeuralSolver& s, const std::vector<double>& v) {
  Kokkos::View<const double*, HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> h(v.data(),
                                                                                    v.size());
  Kokkos::deep_copy(s.policy().params(), h);
}

NeuralConfig sgd_config(Method method, std::vector<int> hidden, policies::Activation act) {
  NeuralConfig c;
  c.method = method;
  c.beta = 0.7;
  c.step_alpha = 0.4;
  c.network.hidden = std::move(hidden);
  c.network.activation = act;
  c.optimizer = solver::OptimizerConfig::defaults(solver::OptimizerType::Sgd);
  c.optimizer.lr = 1.0;
  c.clip_norm = 0.0;
  c.reference = solver::ReferenceKind::Uniform;
  c.iterations = 10;
  c.seed = 5;
  return c;
}

double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) {
    m = std::max(m, std::abs(x));
  }
  return m;
}

/// One full-batch SGD step with lr 1 gives the gradient g = p0 - p1; it must equal central
/// differences of sum_g c_g L_g(theta) with c_g = scale_g(weights after the alpha update).
void check_step_gradient(const NeuralConfig& config, bool with_ref) {
  const auto data = test::option_data({9, 14, 6}, 4, 31, with_ref);
  const auto split = test::option_split(data, 0, 1);
  NeuralSolver s(config, test::self_communicator(), split);
  const auto p0 = get_params(s);
  s.step();
  const auto p1 = get_params(s);
  const auto w = s.weights();
  const double N = static_cast<double>(data.rows());
  std::vector<double> scale(w.size());
  for (std::size_t g = 0; g < w.size(); ++g) {
    const double n_g = static_cast<double>(data.offsets[g + 1] - data.offsets[g]);
    if (config.weight_rule() == solver::WeightRule::Erm) {
      scale[g] = n_g / N; // the mean over all pairs
    } else if (config.alpha_update == AlphaUpdate::Step) {
      scale[g] = w[g];
    } else {
      scale[g] = w[g] * N; // (N / N_g) * (sum over the group) = N * mean
    }
  }
  const auto objective = [&](const std::vector<double>& p) {
    set_params(s, p);
    const auto m = s.evaluate(split);
    double f = 0.0;
    for (std::size_t g = 0; g < scale.size(); ++g) {
      f += scale[g] * m.loss[g];
    }
    return f;
  };
  std::vector<double> grad(p0.size());
  std::vector<double> fd(p0.size());
  const double eps = 1e-6;
  for (std::size_t j = 0; j < p0.size(); ++j) {
    grad[j] = p0[j] - p1[j];
    auto plus = p0;
    auto minus = p0;
    plus[j] += eps;
    minus[j] -= eps;
    fd[j] = (objective(plus) - objective(minus)) / (2 * eps);
  }
  const double tol = 1e-6 * std::max(1.0, max_abs(grad));
  for (std::size_t j = 0; j < p0.size(); ++j) {
    ASSERT_NEAR(grad[j], fd[j], tol) << "parameter " << j;
  }
  EXPECT_GT(max_abs(grad), 1e-3); // not a vacuous comparison
}

TEST(NeuralSolver, StepGradientMatchesFiniteDifferences) {
  check_step_gradient(sgd_config(Method::GrIpo, {5}, policies::Activation::Tanh), false);
  check_step_gradient(sgd_config(Method::GrDpo, {4, 3}, policies::Activation::Gelu), true);
  check_step_gradient(sgd_config(Method::Dpo, {5}, policies::Activation::Relu), true);
  check_step_gradient(sgd_config(Method::IsIpo, {3}, policies::Activation::Tanh), false);
  auto micro = sgd_config(Method::GrDpo, {4}, policies::Activation::Tanh);
  micro.alpha_update = AlphaUpdate::MicroBatch;
  micro.step_alpha = 1e-3;
  check_step_gradient(micro, true);
  auto half = sgd_config(Method::GrIpo, {4}, policies::Activation::Gelu);
  half.chi = 0.5;
  check_step_gradient(half, false);
}

TEST(NeuralSolver, MicroBatchRuleUpdatesAlphaWithImportanceWeightedSums) {
  const auto data = test::option_data({7, 12, 5}, 3, 8, true);
  const auto split = test::option_split(data, 0, 1);
  auto c = sgd_config(Method::GrIpo, {4}, policies::Activation::Tanh);
  c.alpha_update = AlphaUpdate::MicroBatch;
  c.step_alpha = 2e-3;
  NeuralSolver s(c, test::self_communicator(), split);
  const auto before = s.evaluate(split); // L_g(theta_0)
  s.step();
  // log alpha_g = log(1/K) + eta (N / N_g) (N_g L_g), normalised.
  const double N = static_cast<double>(data.rows());
  std::vector<double> expected(3);
  double sum = 0.0;
  for (int g = 0; g < 3; ++g) {
    expected[g] = std::exp(c.step_alpha * N * before.loss[g]);
    sum += expected[g];
  }
  const auto alpha = s.alpha();
  for (int g = 0; g < 3; ++g) {
    EXPECT_NEAR(alpha[g], expected[g] / sum, 1e-13);
  }
  EXPECT_GT(std::abs(alpha[0] - alpha[1]), 1e-3);
}

TEST(NeuralSolver, MicroBatchesAddUpToTheFullBatch) {
  const auto data = test::option_data({10, 14}, 3, 21, true);
  const auto split = test::option_split(data, 0, 1);
  auto one = sgd_config(Method::Dpo, {4}, policies::Activation::Tanh);
  one.optimizer.lr = 0.3;
  auto four = one;
  four.micro_batches = 4; // 24 pairs in parts of 6: one epoch per step, in permuted order
  NeuralSolver a(one, test::self_communicator(), split);
  NeuralSolver b(four, test::self_communicator(), split);
  for (int t = 0; t < 3; ++t) {
    a.step();
    b.step();
  }
  EXPECT_LT(test::max_rel_diff(get_params(b), get_params(a)), 1e-13);
}

TEST(NeuralSolver, SftGradientMatchesFiniteDifferences) {
  const auto data = test::option_data({6, 9}, 3, 4);
  const auto split = test::option_split(data, 0, 1);
  auto c = sgd_config(Method::GrIpo, {4}, policies::Activation::Tanh);
  c.sft_steps = 1;
  c.sft_batch = 0; // every prompt: the gradient of the mean NLL
  c.sft_optimizer = solver::OptimizerConfig::defaults(solver::OptimizerType::Sgd);
  c.sft_optimizer.lr = 1.0;
  c.sft_clip_norm = 0.0;
  c.reference = solver::ReferenceKind::Sft;
  NeuralSolver probe(c, test::self_communicator(), split);
  const auto p0 = get_params(probe);
  probe.prepare(); // its own SFT stage; the parameters are set below
  NeuralSolver s(c, test::self_communicator(), split);
  s.prepare();
  const auto p1 = get_params(s);
  const auto mean_nll = [&](const std::vector<double>& p) {
    set_params(probe, p);
    const auto m = probe.evaluate(split);
    double f = 0.0;
    for (std::size_t g = 0; g < m.nll.size(); ++g) {
      f += m.nll[g] * static_cast<double>(data.offsets[g + 1] - data.offsets[g]);
    }
    return f / static_cast<double>(data.rows());
  };
  const double eps = 1e-6;
  for (std::size_t j = 0; j < p0.size(); ++j) {
    auto plus = p0;
    auto minus = p0;
    plus[j] += eps;
    minus[j] -= eps;
    const double fd = (mean_nll(plus) - mean_nll(minus)) / (2 * eps);
    ASSERT_NEAR(p0[j] - p1[j], fd, 1e-7) << "parameter " << j;
  }
  // The SFT stage lowers the NLL of the preferred options.
  EXPECT_LT(mean_nll(p1), mean_nll(p0));
}

TEST(NeuralSolver, MetricsMatchAHostComputation) {
  const auto data = test::option_data({5, 8, 6}, 3, 17, true);
  const auto split = test::option_split(data, 0, 1);
  auto c = sgd_config(Method::GrDpo, {}, policies::Activation::Tanh); // f = theta^T phi
  NeuralSolver s(c, test::self_communicator(), split);
  const std::vector<double> theta{0.8, -1.1, 0.45};
  set_params(s, theta);
  const auto m = s.evaluate(split);
  const auto f = [&](index_t option_row) {
    double v = 0.0;
    for (int j = 0; j < 3; ++j) {
      v += theta[j] *
           static_cast<double>(data.options[static_cast<std::size_t>(option_row * 3 + j)]);
    }
    return v;
  };
  for (int g = 0; g < 3; ++g) {
    double loss = 0.0, reward = 0.0, logprob = 0.0, reference = 0.0, nll = 0.0;
    const index_t n = data.offsets[g + 1] - data.offsets[g];
    for (index_t i = data.offsets[g]; i < data.offsets[g + 1]; ++i) {
      const index_t o = data.option_offsets[i];
      const double fw = f(o + data.chosen_option[i]);
      const double fl = f(o + data.rejected_option[i]);
      const double ref = static_cast<double>(data.ref[i]);
      const double h = fw - fl - ref;
      loss += std::log1p(std::exp(-c.beta * h));
      reward += h > 0 ? 1 : 0;
      logprob += fw > fl ? 1 : 0;
      reference += ref > 0 ? 1 : 0;
      double lse = 0.0;
      for (index_t k = o; k < data.option_offsets[i + 1]; ++k) {
        lse += std::exp(f(k));
      }
      nll += std::log(lse) - fw;
    }
    EXPECT_NEAR(m.loss[g], loss / n, 1e-12);
    EXPECT_DOUBLE_EQ(m.reward_accuracy[g], reward / n);
    EXPECT_DOUBLE_EQ(m.logprob_accuracy[g], logprob / n);
    EXPECT_DOUBLE_EQ(m.reference_accuracy[g], reference / n);
    EXPECT_NEAR(m.nll[g], nll / n, 1e-12);
  }
  EXPECT_DOUBLE_EQ(m.worst_loss, std::max({m.loss[0], m.loss[1], m.loss[2]}));
  EXPECT_DOUBLE_EQ(m.worst_reward_accuracy,
                   std::min({m.reward_accuracy[0], m.reward_accuracy[1], m.reward_accuracy[2]}));
}

TEST(NeuralSolver, ZeroHiddenLayersEqualTheLogLinearSolver) {
  // GR-DPO and IPO, full batch, plain gradient steps: the MLP without hidden layers is theta^T phi.
  for (const Method method : {Method::GrDpo, Method::Ipo, Method::GrIpo, Method::IsDpo}) {
    const auto data = test::option_data({11, 7, 15}, 4, 99, true);
    const auto split = test::option_split(data, 0, 1);
    solver::SolverConfig lc;
    lc.method = method;
    lc.beta = 0.8;
    lc.step_theta = 0.2;
    lc.step_alpha = 0.3;
    lc.chi = method == Method::GrIpo ? 0.6 : 1.0;
    lc.is_normalization = solver::IsNormalization::Group; // the MLP's (only) IS rule
    lc.iterations = 25;
    const auto theta0 = solver::MinimaxSolver::initial_theta(lc, 4);
    solver::MinimaxSolver loglinear(lc, test::self_communicator(), split, theta0);

    auto c = sgd_config(method, {}, policies::Activation::Tanh);
    c.beta = lc.beta;
    c.step_alpha = lc.step_alpha;
    c.chi = lc.chi;
    c.optimizer.lr = lc.step_theta;
    c.iterations = lc.iterations;
    NeuralSolver mlp(c, test::self_communicator(), split);
    set_params(mlp, theta0);
    for (int t = 0; t < lc.iterations; ++t) {
      loglinear.step();
      mlp.step();
    }
    EXPECT_LT(test::max_rel_diff(get_params(mlp), loglinear.theta()), 1e-12)
        << solver::method_name(method);
    EXPECT_LT(test::max_rel_diff(mlp.alpha(), loglinear.alpha()), 1e-12)
        << solver::method_name(method);
  }
}

TEST(NeuralSolver, RunsAreDeterministicAndSeeded) {
  const auto data = test::option_data({12, 9}, 3, 2, true);
  const auto split = test::option_split(data, 0, 1);
  NeuralConfig c;
  c.method = Method::GrIpo;
  c.network.hidden = {6, 5};
  c.batch_size = 6;
  c.micro_batches = 2;
  c.sft_steps = 3;
  c.sft_batch = 4;
  c.reference = solver::ReferenceKind::Sft;
  c.iterations = 12;
  const auto run = [&](std::uint64_t seed) {
    auto cs = c;
    cs.seed = seed;
    NeuralSolver s(cs, test::self_communicator(), split);
    for (int t = 0; t < cs.iterations; ++t) {
      s.step();
    }
    auto p = get_params(s);
    const auto a = s.alpha();
    p.insert(p.end(), a.begin(), a.end());
    return p;
  };
  const auto a = run(7);
  const auto b = run(7);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i], b[i]) << i; // bit for bit
  }
  EXPECT_GT(test::max_rel_diff(run(8), a), 1e-6);
}

TEST(NeuralSolver, RestoredStateContinuesBitForBit) {
  // SFT reference, Adam moments, micro-batches and epochs that wrap: a solver restored from the
  // state after 5 of 13 steps (without its SFT stage) ends where the uninterrupted one does.
  const auto data = test::option_data({12, 9, 7}, 3, 4, true);
  const auto split = test::option_split(data, 0, 1);
  for (const auto reference : {solver::ReferenceKind::Sft, solver::ReferenceKind::Uniform}) {
    NeuralConfig c;
    c.method = Method::GrDpo;
    c.network.hidden = {5, 4};
    c.batch_size = 8;
    c.micro_batches = 2;
    c.sft_steps = reference == solver::ReferenceKind::Sft ? 4 : 0;
    c.sft_batch = 5;
    c.reference = reference;
    c.optimizer = solver::OptimizerConfig::defaults(solver::OptimizerType::Adam);
    c.iterations = 13;
    NeuralSolver whole(c, test::self_communicator(), split);
    NeuralSolver first(c, test::self_communicator(), split);
    for (int t = 0; t < 5; ++t) {
      whole.step();
      first.step();
    }
    const SolverState state = first.state();
    EXPECT_EQ(state.policy, "mlp");
    EXPECT_EQ(state.iteration, 5);
    EXPECT_EQ(state.reference.empty(), reference == solver::ReferenceKind::Uniform);
    NeuralSolver resumed(c, test::self_communicator(), split);
    resumed.restore(state);
    for (int t = 5; t < 13; ++t) {
      const auto a = whole.step();
      const auto b = resumed.step();
      ASSERT_EQ(a.loss, b.loss) << t;
      ASSERT_EQ(a.grad_norm, b.grad_norm) << t;
    }
    EXPECT_EQ(get_params(whole), get_params(resumed));
    EXPECT_EQ(whole.log_alpha(), resumed.log_alpha());
    EXPECT_EQ(whole.evaluate(split).loss, resumed.evaluate(split).loss);
  }
}

TEST(NeuralSolver, ScheduleSetsTheLearningRateOfEveryStep) {
  // A scheduled step equals an unscheduled solver's step at lr * factor(t) (and eta_alpha *
  // alpha_factor) from the same state; the plateau rule's drops reach both rates.
  const auto data = test::option_data({12, 9, 7}, 3, 4, true);
  const auto split = test::option_split(data, 0, 1);
  NeuralConfig c;
  c.method = Method::GrDpo;
  c.network.hidden = {5};
  c.batch_size = 8;
  c.optimizer = solver::OptimizerConfig::defaults(solver::OptimizerType::Adam);
  c.optimizer.lr = 0.01;
  c.iterations = 7;
  c.schedule.type = solver::LrScheduleType::Plateau;
  c.schedule.warmup = 2;
  c.schedule.patience = 0;
  c.schedule.threshold = 0.0; // an equal loss is no improvement
  NeuralSolver s(c, test::self_communicator(), split);
  s.prepare(); // freezes the initial network as the reference, part of the state
  for (int t = 0; t < 7; ++t) {
    if (t == 4) {
      s.schedule().observe(1.0);
      s.schedule().observe(1.0); // one drop: lr * 0.1, eta_alpha * 0.5
      ASSERT_EQ(s.schedule().drops(), 1);
    }
    const double factor = s.schedule().lr_factor(t);
    auto plain = c;
    plain.schedule = {};
    plain.step_alpha = c.step_alpha * s.schedule().alpha_factor();
    NeuralSolver p(plain, test::self_communicator(), split);
    auto state = s.state();
    state.schedule.clear();
    state.lr = c.optimizer.lr * factor;
    p.restore(state);
    const auto a = s.step();
    const auto b = p.step();
    EXPECT_EQ(s.lr(), c.optimizer.lr * factor) << "t = " << t;
    EXPECT_EQ(a.loss, b.loss) << "t = " << t;
    EXPECT_EQ(get_params(s), get_params(p)) << "t = " << t;
    EXPECT_EQ(s.log_alpha(), p.log_alpha()) << "t = " << t;
  }
  EXPECT_EQ(s.step_alpha(), c.step_alpha * 0.5);
  EXPECT_EQ(s.lr(), c.optimizer.lr * 0.1);
}

TEST(NeuralSolver, RestoreRefusesStatesOfAnotherShape) {
  const auto data = test::option_data({6, 4}, 3, 1);
  const auto split = test::option_split(data, 0, 1);
  NeuralConfig c;
  c.network.hidden = {4};
  NeuralSolver s(c, test::self_communicator(), split);
  s.prepare();
  const auto good = s.state();
  const auto expect_error = [&](const SolverState& state, const char* what) {
    NeuralSolver t(c, test::self_communicator(), split);
    try {
      t.restore(state);
      ADD_FAILURE() << "no error for " << what;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto bad = good;
  bad.policy = "loglinear";
  expect_error(bad, "policy");
  bad = good;
  bad.theta.pop_back();
  expect_error(bad, "parameters");
  bad = good;
  bad.reference.clear();
  expect_error(bad, "reference");
  bad = good;
  bad.log_alpha.push_back(0.0);
  expect_error(bad, "groups");
  bad = good;
  bad.optimizer.pop_back();
  expect_error(bad, "optimizer state");
  bad = good;
  bad.iteration = c.iterations + 1;
  expect_error(bad, "iteration");
}

TEST(NeuralSolver, TrainingRecordsCarryTheMetricsOfEverySplit) {
  const auto data = test::option_data({12, 9}, 3, 2);
  const auto train = test::option_split(data, 0, 1, "train");
  const auto val = test::option_split(test::option_data({4, 3}, 3, 3), 0, 1, "val");
  const auto testset = test::option_split(test::option_data({5, 2}, 3, 4), 0, 1, "test");
  NeuralConfig c;
  c.iterations = 7;
  c.batch_size = 4;
  NeuralSolver s(c, test::self_communicator(), train);
  std::vector<TraceRecord> records;
  solver::train_neural(s, {&train, &val, &testset}, 3,
                       [&](const TraceRecord& r) { records.push_back(r); });
  ASSERT_EQ(records.size(), 3u); // after steps 0, 3 and 6 (the last)
  EXPECT_EQ(records.back().iteration, 6);
  std::vector<std::string> names;
  for (const auto& column : records.back().columns()) {
    names.push_back(column.name);
  }
  for (const char* want :
       {"alpha", "train_loss", "val_loss", "test_loss", "worst_test_loss", "test_reward_accuracy",
        "worst_test_reward_accuracy", "test_logprob_accuracy", "average_test_logprob_accuracy",
        "test_nll", "val_reward_accuracy", "grad_norm", "wall_seconds"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  EXPECT_EQ(std::find(names.begin(), names.end(), "theta"), names.end()); // P is not traced
}

TEST(NeuralSolver, RejectsInconsistentConfigurations) {
  const auto data = test::option_data({6, 4}, 3, 1);
  const auto split = test::option_split(data, 0, 1);
  const auto expect_error = [&](const NeuralConfig& c, const char* field) {
    try {
      NeuralSolver s(c, test::self_communicator(), split);
      ADD_FAILURE() << "no error for " << field;
    } catch (const ConfigError& e) { // the field's name (grpo train names the option)
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  NeuralConfig c;
  c.micro_batches = 3; // 10 pairs
  expect_error(c, "micro_batches: ");
  c = NeuralConfig();
  c.reference = solver::ReferenceKind::Sft;
  expect_error(c, "reference: ");
  c = NeuralConfig();
  c.beta = 0;
  expect_error(c, "beta: ");
  c = NeuralConfig();
  c.network.hidden = {0};
  expect_error(c, "hidden");
  c = NeuralConfig();
  c.optimizer.lr = -1;
  expect_error(c, "optimizer.lr: ");
  c = NeuralConfig();
  c.optimizer.beta1 = 1.5;
  expect_error(c, "optimizer: ");
}

} // namespace
