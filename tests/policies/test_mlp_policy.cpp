// MLP policy: forward against an independent host implementation, central finite-difference
// checks of every gradient (rows, pairs, log-softmax) for every activation and depth 0/1/2, the
// zero-hidden-layer network against the log-linear policy, seeded initialisation, gathered rows,
// chunking, determinism and argument checks. About 650 lines: every test shares the independent
// host network at the top, which a split would have to expose in a header.
#include "core/error.hpp"
#include "core/rng.hpp"
#include "policies/log_linear_policy.hpp"
#include "policies/mlp_policy.hpp"
#include "tests/support/fixtures.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace {

using namespace grpo;
using policies::Activation;
using policies::FeatureView;
using policies::MlpConfig;
using policies::MlpPolicy;
using policies::MlpWorkspace;
using policies::RowSelection;

const ExecSpace kSpace;

/// Features in [-1.5, 1.5): multiples of 1/64, so differences of two rows are exact in float32.
std::vector<float> host_features(index_t rows, int dim, std::uint64_t seed) {
  std::vector<float> f(rows * dim);
  for (index_t k = 0; k < rows * dim; ++k) {
    const auto u = rng::to_index(rng::hash(seed, 0xfeed, static_cast<std::uint64_t>(k)), 192);
    f[k] = static_cast<float>(u - 96) / 64.0f;
  }
  return f;
}

View2<float> device_features(const std::vector<float>& host, index_t rows, int dim) {
  View2<float> v("features", rows, dim);
  auto h = Kokkos::create_mirror_view(v);
  for (index_t i = 0; i < rows; ++i) {
    for (int j = 0; j < dim; ++j) {
      h(i, j) = host[i * dim + j];
    }
  }
  Kokkos::deep_copy(v, h);
  return v;
}

template <class T>
View1<T> device_vector(const std::vector<T>& host, const char* name = "vector") {
  View1<T> v(std::string(name), host.size());
  auto h = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < host.size(); ++i) {
    h(i) = host[i];
  }
  Kokkos::deep_copy(v, h);
  return v;
}

template <class View>
std::vector<typename View::non_const_value_type> to_host(const View& v) {
  auto h = Kokkos::create_mirror_view_and_copy(HostSpace(), v);
  std::vector<typename View::non_const_value_type> out(h.extent(0));
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = h(i);
  }
  return out;
}

std::vector<double> random_vector(std::size_t n, std::uint64_t seed, double lo = -1.0,
                                  double hi = 1.0) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = lo + (hi - lo) * rng::to_unit(rng::hash(seed, 0xc0ef, i));
  }
  return v;
}

/// Independent host forward pass of one feature row (the layout of mlp_policy.hpp).
double host_score(const MlpConfig& c, const std::vector<double>& theta, const float* phi) {
  std::vector<double> h(phi, phi + c.input_dim);
  for (int l = 0; l < c.num_hidden(); ++l) {
    const int n_in = c.width(l);
    const int n_out = c.width(l + 1);
    std::vector<double> next(n_out);
    for (int i = 0; i < n_out; ++i) {
      double z = theta[c.bias_offset(l) + i];
      for (int j = 0; j < n_in; ++j) {
        z += theta[c.weight_offset(l) + index_t(i) * n_in + j] * h[j];
      }
      switch (c.activation) {
      case Activation::Relu:
        next[i] = std::max(z, 0.0);
        break;
      case Activation::Tanh:
        next[i] = std::tanh(z);
        break;
      case Activation::Gelu: {
        const double u = std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z);
        next[i] = 0.5 * z * (1.0 + std::tanh(u));
        break;
      }
      }
    }
    h = next;
  }
  double f = 0.0;
  for (int j = 0; j < c.width(c.num_hidden()); ++j) {
    f += theta[c.output_offset() + j] * h[j];
  }
  return f;
}

MlpConfig make_config(int dim, std::vector<int> hidden, Activation act) {
  MlpConfig c;
  c.input_dim = dim;
  c.hidden = std::move(hidden);
  c.activation = act;
  return c;
}

/// Central differences of J(theta) for every parameter.
std::vector<double> finite_difference(MlpPolicy& policy, const std::function<double()>& objective,
                                      double step = 1e-5) {
  auto theta = policy.params_host();
  std::vector<double> fd(theta.size());
  for (std::size_t p = 0; p < theta.size(); ++p) {
    const double saved = theta[p];
    theta[p] = saved + step;
    policy.set_params(theta);
    const double plus = objective();
    theta[p] = saved - step;
    policy.set_params(theta);
    const double minus = objective();
    theta[p] = saved;
    fd[p] = (plus - minus) / (2.0 * step);
  }
  policy.set_params(theta);
  return fd;
}

/// Entrywise |a - b| <= tol * max(|b|, floor), the floor scaled by the largest entry of b.
void expect_gradients_match(const std::vector<double>& analytic, const std::vector<double>& fd,
                            double tol, const std::string& what) {
  ASSERT_EQ(analytic.size(), fd.size()) << what;
  double scale = 0.0;
  for (double v : fd) {
    scale = std::max(scale, std::abs(v));
  }
  double worst = 0.0;
  std::size_t worst_at = 0;
  for (std::size_t p = 0; p < fd.size(); ++p) {
    const double rel = std::abs(analytic[p] - fd[p]) / std::max(std::abs(fd[p]), 1e-3 * scale);
    if (rel > worst) {
      worst = rel;
      worst_at = p;
    }
  }
  EXPECT_LT(worst, tol) << what << ": parameter " << worst_at << " analytic " << analytic[worst_at]
                        << " finite difference " << fd[worst_at];
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    s += a[i] * b[i];
  }
  return s;
}

// --- Configuration ---------------------------------------------------------------------------

TEST(MlpConfig, LayoutAndParameterCount) {
  const auto c = make_config(3, {4, 5}, Activation::Tanh);
  EXPECT_EQ(c.num_params(), 3 * 4 + 4 + 4 * 5 + 5 + 5);
  EXPECT_EQ(c.weight_offset(0), 0);
  EXPECT_EQ(c.bias_offset(0), 12);
  EXPECT_EQ(c.weight_offset(1), 16);
  EXPECT_EQ(c.bias_offset(1), 36);
  EXPECT_EQ(c.output_offset(), 41);
  EXPECT_EQ(c.max_width(), 5);
  EXPECT_EQ(c.describe(), "3-4-5-1 tanh");
  const auto linear = make_config(7, {}, Activation::Relu);
  EXPECT_EQ(linear.num_params(), 7);
  EXPECT_EQ(linear.output_offset(), 0);
}

TEST(MlpConfig, ParsingAndValidation) {
  EXPECT_EQ(policies::parse_hidden("64,32"), (std::vector<int>{64, 32}));
  EXPECT_EQ(policies::parse_hidden("8"), (std::vector<int>{8}));
  EXPECT_TRUE(policies::parse_hidden("").empty());
  EXPECT_TRUE(policies::parse_hidden("none").empty());
  for (const char* bad : {"0", "-3", "4,,4", "4,", "a", "1e3", "9999999999"}) {
    EXPECT_THROW(policies::parse_hidden(bad), ConfigError) << bad;
  }
  for (auto a : {Activation::Relu, Activation::Tanh, Activation::Gelu}) {
    EXPECT_EQ(policies::parse_activation(policies::activation_name(a)), a);
  }
  EXPECT_THROW(policies::parse_activation("sigmoid"), ConfigError);
  EXPECT_THROW(make_config(0, {4}, Activation::Tanh).validate(), ConfigError);
  EXPECT_THROW(make_config(3, {4, 0}, Activation::Tanh).validate(), ConfigError);
  EXPECT_THROW(make_config(1 << 16, {1 << 16}, Activation::Tanh).validate(), ConfigError);
}

// --- Initialisation and copies -----------------------------------------------------------------

TEST(MlpPolicy, InitialisationIsSeededAndScaled) {
  for (auto act : {Activation::Relu, Activation::Tanh, Activation::Gelu}) {
    const auto c = make_config(6, {10, 4}, act);
    const auto a = MlpPolicy(c, 42).params_host();
    const auto b = MlpPolicy(c, 42).params_host();
    const auto other = MlpPolicy(c, 43).params_host();
    EXPECT_EQ(a, b);
    int same = 0;
    for (std::size_t p = 0; p < a.size(); ++p) {
      same += a[p] == other[p] ? 1 : 0;
    }
    // Only the zero biases agree between seeds.
    EXPECT_EQ(same, 10 + 4);
    for (int l = 0; l <= c.num_hidden(); ++l) {
      const bool output = l == c.num_hidden();
      const double fan_in = c.width(l);
      const double fan_out = output ? 1.0 : c.width(l + 1);
      const double s = (output || act == Activation::Tanh) ? std::sqrt(6.0 / (fan_in + fan_out))
                                                           : std::sqrt(6.0 / fan_in);
      double max_abs = 0.0;
      for (index_t p = c.weight_offset(l); p < c.weight_offset(l) + index_t(fan_in * fan_out);
           ++p) {
        EXPECT_LT(std::abs(a[p]), s);
        max_abs = std::max(max_abs, std::abs(a[p]));
      }
      EXPECT_GT(max_abs, 0.3 * s) << "layer " << l;
      if (!output) {
        for (index_t p = c.bias_offset(l); p < c.bias_offset(l) + c.width(l + 1); ++p) {
          EXPECT_EQ(a[p], 0.0);
        }
      }
    }
    // Parameter p is a pure function of (seed, p).
    const double u = rng::to_unit(rng::hash(42, rng::kStreamMlpInit, 3));
    EXPECT_EQ(a[3],
              (act == Activation::Tanh ? std::sqrt(6.0 / 16.0) : std::sqrt(1.0)) * (2.0 * u - 1.0));
  }
}

TEST(MlpPolicy, CopiesAreDeepAndSetParamsChecksSizes) {
  const auto c = make_config(3, {4}, Activation::Tanh);
  MlpPolicy a(c, 1);
  const auto before = a.params_host();
  MlpPolicy b = a;
  auto changed = before;
  changed[0] += 1.0;
  b.set_params(changed);
  EXPECT_EQ(a.params_host(), before);
  EXPECT_EQ(b.params_host(), changed);
  MlpPolicy d;
  d = b;
  EXPECT_EQ(d.params_host(), changed);
  EXPECT_NE(d.params().data(), b.params().data());
  EXPECT_THROW(a.set_params(std::vector<double>(3)), ConfigError);
}

// --- Forward ---------------------------------------------------------------------------------

TEST(MlpPolicy, ForwardMatchesAHostImplementation) {
  const int dim = 5;
  const index_t rows = 37;
  const auto host = host_features(rows, dim, 3);
  const auto features = device_features(host, rows, dim);
  for (auto act : {Activation::Relu, Activation::Tanh, Activation::Gelu}) {
    for (const auto& hidden : std::vector<std::vector<int>>{{}, {6}, {7, 3}}) {
      const auto c = make_config(dim, hidden, act);
      MlpPolicy policy(c, 5);
      // Non-zero biases too.
      auto theta = policy.params_host();
      const auto noise = random_vector(theta.size(), 9, -0.3, 0.3);
      for (std::size_t p = 0; p < theta.size(); ++p) {
        theta[p] += noise[p];
      }
      policy.set_params(theta);
      MlpWorkspace ws(c, 64);
      View1<double> scores("scores", rows);
      policy.forward(kSpace, ws, features, RowSelection::range(0, rows), scores);
      const auto got = to_host(scores);
      for (index_t i = 0; i < rows; ++i) {
        const double expected = host_score(c, theta, host.data() + i * dim);
        EXPECT_NEAR(got[i], expected, 1e-13 * std::max(1.0, std::abs(expected)))
            << c.describe() << " row " << i;
      }
    }
  }
}

TEST(MlpPolicy, GatheredRowsEqualContiguousRows) {
  const int dim = 4;
  const index_t rows = 50;
  const auto features = device_features(host_features(rows, dim, 8), rows, dim);
  const auto c = make_config(dim, {6, 5}, Activation::Gelu);
  MlpPolicy policy(c, 2);
  MlpWorkspace ws(c, 64);
  View1<double> all("all", rows);
  policy.forward(kSpace, ws, features, RowSelection::range(0, rows), all);
  const std::vector<index_t> picks{17, 3, 3, 49, 0, 25, 8};
  const auto index = device_vector(picks, "index");
  View1<double> gathered("gathered", picks.size());
  policy.forward(kSpace, ws, features, RowSelection::rows(index), gathered);
  const auto a = to_host(all);
  const auto g = to_host(gathered);
  for (std::size_t i = 0; i < picks.size(); ++i) {
    EXPECT_NEAR(g[i], a[picks[i]], 1e-14 * std::max(1.0, std::abs(a[picks[i]])));
  }
  // A sub-range equals the same rows of the whole.
  View1<double> part("part", 10);
  policy.forward(kSpace, ws, features, RowSelection::range(20, 10), part);
  const auto p = to_host(part);
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(p[i], a[20 + i], 1e-14 * std::max(1.0, std::abs(a[20 + i])));
  }
}

// --- Zero hidden layers: the log-linear policy ---------------------------------------------------

TEST(MlpPolicy, NoHiddenLayerIsTheLogLinearPolicy) {
  const int dim = 6;
  const index_t rows = 40;
  const auto chosen_h = host_features(rows, dim, 21);
  const auto rejected_h = host_features(rows, dim, 22);
  // z = chosen - rejected is exact in float32 (multiples of 1/64 below 3).
  test::HostData data;
  data.dim = dim;
  data.offsets = {0, rows};
  for (index_t k = 0; k < rows * dim; ++k) {
    data.z.push_back(chosen_h[k] - rejected_h[k]);
  }
  data.ref.assign(rows, 0.0f);
  const auto split = test::whole_split(data);
  policies::LogLinearPolicy linear(dim);
  MlpPolicy mlp(make_config(dim, {}, Activation::Tanh), 4);
  const auto theta = random_vector(dim, 13, -2.0, 2.0);
  mlp.set_params(theta);
  Kokkos::deep_copy(linear.params(), mlp.params());

  View1<double> reference("reference", rows);
  policies::LogLinearWorkspace linear_ws;
  linear.margins(kSpace, linear_ws, split, RowSelection::range(0, rows), reference);
  const auto ref = to_host(reference);
  MlpWorkspace ws(mlp.config(), 2 * rows);

  // f(phi) = theta^T phi on the rows of z itself: the same products summed in the same order.
  View1<double> scores("scores", rows);
  mlp.forward(kSpace, ws, split.z, RowSelection::range(0, rows), scores);
  const auto s = to_host(scores);
  int bitwise = 0;
  for (index_t i = 0; i < rows; ++i) {
    double magnitude = 0.0;
    for (int j = 0; j < dim; ++j) {
      magnitude += std::abs(theta[j] * data.z[i * dim + j]);
    }
    EXPECT_LE(std::abs(s[i] - ref[i]), 1e-15 * magnitude) << "row " << i;
    bitwise += s[i] == ref[i] ? 1 : 0;
  }
  RecordProperty("bitwise_equal_rows", bitwise);

  // Pair margins f(chosen) - f(rejected) = theta^T z up to the rounding of two dot products.
  const auto chosen = device_features(chosen_h, rows, dim);
  const auto rejected = device_features(rejected_h, rows, dim);
  View1<double> margins("margins", rows);
  mlp.pair_margins(kSpace, ws, chosen, rejected, RowSelection::range(0, rows), margins);
  const auto m = to_host(margins);
  for (index_t i = 0; i < rows; ++i) {
    double magnitude = 0.0;
    for (int j = 0; j < dim; ++j) {
      magnitude +=
          std::abs(theta[j] * chosen_h[i * dim + j]) + std::abs(theta[j] * rejected_h[i * dim + j]);
    }
    EXPECT_LE(std::abs(m[i] - ref[i]), 4e-16 * magnitude) << "row " << i;
  }

  // The gradients: sum_i c_i (chosen_i - rejected_i) = sum_i c_i z_i.
  const auto coeff_h = random_vector(rows, 31);
  const auto coeff = device_vector(coeff_h, "coeff");
  View1<double> g_linear("g_linear", dim);
  View1<double> g_mlp("g_mlp", dim);
  linear.accumulate_gradient(kSpace, linear_ws, split, RowSelection::range(0, rows), coeff,
                             g_linear);
  mlp.accumulate_pair_gradient(kSpace, ws, coeff, g_mlp);
  const auto gl = to_host(g_linear);
  const auto gm = to_host(g_mlp);
  for (int j = 0; j < dim; ++j) {
    double magnitude = 0.0;
    for (index_t i = 0; i < rows; ++i) {
      magnitude += std::abs(coeff_h[i] * chosen_h[i * dim + j]) +
                   std::abs(coeff_h[i] * rejected_h[i * dim + j]);
    }
    EXPECT_LE(std::abs(gm[j] - gl[j]), 1e-15 * magnitude) << "entry " << j;
  }
}

// --- Finite-difference gradient checks ---------------------------------------------------------

struct GradCase {
  Activation activation;
  std::vector<int> hidden;
};

std::string case_name(const ::testing::TestParamInfo<GradCase>& info) {
  std::string name = policies::activation_name(info.param.activation);
  name += info.param.hidden.empty() ? "_linear" : "";
  for (int n : info.param.hidden) {
    name += "_" + std::to_string(n);
  }
  return name;
}

class MlpGradient : public ::testing::TestWithParam<GradCase> {
protected:
  static constexpr int kDim = 4;
  MlpConfig config() const { return make_config(kDim, GetParam().hidden, GetParam().activation); }
  /// Central-difference step: relu's kink must not fall within +-step of a pre-activation (the
  /// smallest |z| of these fixtures is 9e-6), smooth activations take a larger step.
  double step() const { return GetParam().activation == Activation::Relu ? 1e-6 : 1e-5; }
  /// A policy with non-zero biases and weights large enough to bend every activation.
  MlpPolicy policy() const {
    MlpPolicy p(config(), 77);
    auto theta = p.params_host();
    const auto noise = random_vector(theta.size(), 78, -0.4, 0.4);
    for (std::size_t k = 0; k < theta.size(); ++k) {
      theta[k] = 1.3 * theta[k] + noise[k];
    }
    p.set_params(theta);
    return p;
  }
};

TEST_P(MlpGradient, RowsBackwardMatchesFiniteDifferences) {
  const index_t rows = 23;
  const auto features = device_features(host_features(rows, kDim, 4), rows, kDim);
  auto p = policy();
  MlpWorkspace ws(p.config(), 32);
  const auto u_h = random_vector(rows, 5);
  const auto u = device_vector(u_h, "upstream");
  View1<double> scores("scores", rows);
  const std::vector<index_t> picks{3, 0, 22, 7, 7, 15, 11, 19, 2, 9};
  const auto index = device_vector(picks, "index");
  for (const auto& sel : {RowSelection::range(0, rows), RowSelection::rows(index)}) {
    const auto objective = [&] {
      p.forward(kSpace, ws, features, sel, scores);
      auto s = to_host(scores);
      s.resize(sel.count);
      return dot(std::vector<double>(u_h.begin(), u_h.begin() + sel.count), s);
    };
    objective();
    View1<double> grad("grad", p.num_params());
    p.backward(kSpace, ws, u, grad);
    expect_gradients_match(to_host(grad), finite_difference(p, objective, step()), 1e-6,
                           p.config().describe() + (sel.indexed ? " gathered" : " range"));
  }
}

TEST_P(MlpGradient, PairMarginGradientMatchesFiniteDifferences) {
  const index_t rows = 19;
  const auto chosen = device_features(host_features(rows, kDim, 6), rows, kDim);
  const auto rejected = device_features(host_features(rows, kDim, 7), rows, kDim);
  auto p = policy();
  MlpWorkspace ws(p.config(), 40);
  const auto c_h = random_vector(rows, 8);
  const auto c = device_vector(c_h, "coeff");
  View1<double> margins("margins", rows);
  const auto sel = RowSelection::range(0, rows);
  const auto objective = [&] {
    p.pair_margins(kSpace, ws, chosen, rejected, sel, margins);
    return dot(c_h, to_host(margins));
  };
  objective();
  View1<double> grad("grad", p.num_params());
  p.accumulate_pair_gradient(kSpace, ws, c, grad);
  const auto fd = finite_difference(p, objective, step());
  expect_gradients_match(to_host(grad), fd, 1e-6, p.config().describe() + " pairs");
  // The recomputing overload, in one pass and in chunks of 3 pairs, agrees.
  View1<double> again("again", p.num_params());
  p.accumulate_pair_gradient(kSpace, ws, chosen, rejected, sel, c, again);
  MlpWorkspace small(p.config(), 6);
  View1<double> chunked("chunked", p.num_params());
  p.accumulate_pair_gradient(kSpace, small, chosen, rejected, sel, c, chunked);
  expect_gradients_match(to_host(again), to_host(grad), 1e-13, "recomputed");
  expect_gradients_match(to_host(chunked), to_host(grad), 1e-13, "chunked");
}

TEST_P(MlpGradient, LogSoftmaxGradientMatchesFiniteDifferences) {
  // 9 prompts with 1 .. 5 options each; targets anywhere among them.
  std::vector<index_t> offsets{0};
  std::vector<int> targets;
  for (int r = 0; r < 9; ++r) {
    const int count = 1 + (r * 3) % 5;
    offsets.push_back(offsets.back() + count);
    targets.push_back((r * 7) % count);
  }
  const index_t option_rows = offsets.back();
  const auto features = device_features(host_features(option_rows, kDim, 12), option_rows, kDim);
  const policies::OptionSet options{features, device_vector(offsets, "offsets")};
  const auto target_view = device_vector(targets, "targets");
  auto p = policy();
  MlpWorkspace ws(p.config(), option_rows);
  const std::vector<index_t> picks{4, 0, 8, 4, 2};
  const auto index = device_vector(picks, "index");
  for (const auto& sel : {RowSelection::range(0, 9), RowSelection::rows(index)}) {
    const auto c_h = random_vector(sel.count, 14);
    const auto c = device_vector(c_h, "coeff");
    View1<double> logp("logp", sel.count);
    const auto objective = [&] {
      p.option_log_probs(kSpace, ws, options, target_view, sel, logp);
      return dot(c_h, to_host(logp));
    };
    objective();
    // log pi against a host log-softmax of the policy's scores.
    const auto theta = p.params_host();
    const auto host = host_features(option_rows, kDim, 12);
    const auto lp = to_host(logp);
    for (index_t i = 0; i < sel.count; ++i) {
      const index_t r = sel.indexed ? picks[i] : i;
      double m = -INFINITY;
      std::vector<double> s;
      for (index_t k = offsets[r]; k < offsets[r + 1]; ++k) {
        s.push_back(host_score(p.config(), theta, host.data() + k * kDim));
        m = std::max(m, s.back());
      }
      double z = 0.0;
      for (double v : s) {
        z += std::exp(v - m);
      }
      EXPECT_NEAR(lp[i], s[targets[r]] - m - std::log(z), 1e-12);
      if (s.size() == 1) {
        EXPECT_EQ(lp[i], 0.0);
      }
    }
    View1<double> grad("grad", p.num_params());
    p.accumulate_log_prob_gradient(kSpace, ws, c, grad);
    expect_gradients_match(to_host(grad), finite_difference(p, objective, step()), 1e-6,
                           p.config().describe() + " log-softmax");
  }
}

TEST_P(MlpGradient, BackwardIsDeterministic) {
  const index_t rows = 300;
  const auto chosen = device_features(host_features(rows, kDim, 16), rows, kDim);
  const auto rejected = device_features(host_features(rows, kDim, 17), rows, kDim);
  auto p = policy();
  MlpWorkspace ws(p.config(), 2 * rows);
  const auto c = device_vector(random_vector(rows, 18), "coeff");
  View1<double> margins("margins", rows);
  std::vector<std::vector<double>> grads;
  for (int rep = 0; rep < 3; ++rep) {
    p.pair_margins(kSpace, ws, chosen, rejected, RowSelection::range(0, rows), margins);
    View1<double> grad("grad", p.num_params());
    p.accumulate_pair_gradient(kSpace, ws, c, grad);
    p.accumulate_pair_gradient(kSpace, ws, c, grad); // accumulates: twice the first
    grads.push_back(to_host(grad));
  }
  EXPECT_EQ(grads[0], grads[1]);
  EXPECT_EQ(grads[0], grads[2]);
  View1<double> once("once", p.num_params());
  p.accumulate_pair_gradient(kSpace, ws, c, once);
  auto twice = to_host(once);
  for (double& v : twice) {
    v *= 2.0;
  }
  expect_gradients_match(grads[0], twice, 1e-13, "accumulated twice");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MlpGradient,
    ::testing::Values(GradCase{Activation::Relu, {}}, GradCase{Activation::Relu, {5}},
                      GradCase{Activation::Relu, {4, 3}}, GradCase{Activation::Tanh, {}},
                      GradCase{Activation::Tanh, {5}}, GradCase{Activation::Tanh, {4, 3}},
                      GradCase{Activation::Gelu, {}}, GradCase{Activation::Gelu, {5}},
                      GradCase{Activation::Gelu, {4, 3}}),
    case_name);

// --- Chunking and argument checks ----------------------------------------------------------------

TEST(MlpPolicy, ChunkedPairMarginsEqualOnePass) {
  const int dim = 3;
  const index_t rows = 29;
  const auto chosen = device_features(host_features(rows, dim, 30), rows, dim);
  const auto rejected = device_features(host_features(rows, dim, 31), rows, dim);
  const auto c = make_config(dim, {8}, Activation::Relu);
  MlpPolicy p(c, 3);
  MlpWorkspace big(c, 2 * rows);
  MlpWorkspace small(c, 8); // 4 pairs per pass
  const std::vector<index_t> picks{28, 1, 5, 5, 13, 0, 27, 14, 9, 22, 3};
  const auto index = device_vector(picks, "index");
  for (const auto& sel : {RowSelection::range(0, rows), RowSelection::rows(index)}) {
    View1<double> a("a", sel.count);
    View1<double> b("b", sel.count);
    p.pair_margins(kSpace, big, chosen, rejected, sel, a);
    p.pair_margins(kSpace, small, chosen, rejected, sel, b);
    const auto ha = to_host(a);
    const auto hb = to_host(b);
    for (index_t i = 0; i < sel.count; ++i) {
      EXPECT_NEAR(ha[i], hb[i], 1e-14 * std::max(1.0, std::abs(ha[i])));
    }
    // The chunked pass does not hold the whole batch: the reusing gradient refuses it.
    View1<double> grad("grad", p.num_params());
    EXPECT_THROW(p.accumulate_pair_gradient(kSpace, small, View1<const double>(a), grad),
                 InternalError);
  }
}

TEST(MlpPolicy, ArgumentChecks) {
  const int dim = 3;
  const auto c = make_config(dim, {4}, Activation::Tanh);
  MlpPolicy p(c, 1);
  const auto features = device_features(host_features(10, dim, 1), 10, dim);
  View1<double> out("out", 10);
  View1<double> grad("grad", p.num_params());
  MlpWorkspace ws(c, 4);
  MlpWorkspace other(make_config(dim, {5}, Activation::Tanh), 16);
  EXPECT_THROW(p.forward(kSpace, other, features, RowSelection::range(0, 2), out), InternalError);
  EXPECT_THROW(p.forward(kSpace, ws, features, RowSelection::range(0, 5), out), InternalError);
  EXPECT_THROW(p.forward(kSpace, ws, features, RowSelection::range(8, 3), out), InternalError);
  const auto bad_index = device_vector(std::vector<index_t>{1, 10}, "index");
  EXPECT_THROW(p.forward(kSpace, ws, features, RowSelection::rows(bad_index), out), InternalError);
  const auto wide = device_features(host_features(10, dim + 1, 1), 10, dim + 1);
  EXPECT_THROW(p.forward(kSpace, ws, wide, RowSelection::range(0, 2), out), InternalError);
  // Gradients need the matching forward pass.
  MlpWorkspace fresh(c, 4);
  EXPECT_THROW(p.backward(kSpace, fresh, out, grad), InternalError);
  p.forward(kSpace, ws, features, RowSelection::range(0, 2), out);
  EXPECT_THROW(p.accumulate_pair_gradient(kSpace, ws, out, grad), InternalError);
  EXPECT_THROW(p.accumulate_log_prob_gradient(kSpace, ws, out, grad), InternalError);
  // Option batches: too many options for the workspace, a target that is not an option.
  const policies::OptionSet options{features, device_vector(std::vector<index_t>{0, 3, 6, 10})};
  const auto targets = device_vector(std::vector<int>{0, 2, 3});
  View1<double> logp("logp", 3);
  EXPECT_NO_THROW(
      p.option_log_probs(kSpace, ws, options, targets, RowSelection::range(2, 1), logp));
  EXPECT_THROW(p.option_log_probs(kSpace, ws, options, targets, RowSelection::range(0, 2), logp),
               ConfigError);
  const auto bad_targets = device_vector(std::vector<int>{0, 3, 0});
  MlpWorkspace roomy(c, 16);
  EXPECT_THROW(
      p.option_log_probs(kSpace, roomy, options, bad_targets, RowSelection::range(0, 3), logp),
      DataError);
  // A split without pair features.
  policies::PreferenceSplit split;
  split.name = "train";
  EXPECT_THROW(p.margins(kSpace, ws, split, RowSelection::range(0, 0), out), InternalError);
  EXPECT_THROW(MlpPolicy::options_of(split), InternalError);
}

} // namespace
