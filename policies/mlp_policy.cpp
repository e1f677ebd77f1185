// MLP policy (mlp_policy.hpp): the workspace, the parameters, forward and backward passes over
// the rows of one table, and the pair margins and gradients. Matrices are LayoutRight double
// Views; the parameter blocks are unmanaged LayoutRight views into the flat parameter (or
// gradient) vector. The kernels are in mlp_kernels.hpp, the option log-probabilities in
// mlp_options.cpp, the configuration in mlp_config.cpp.
#include "policies/mlp_policy.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"
#include "policies/mlp_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace grpo::policies {

// --- Workspace -------------------------------------------------------------------------------

MlpWorkspace::MlpWorkspace(const MlpConfig& config, index_t max_rows)
    : m_config(config)
    , m_max_rows(max_rows) {
  config.validate();
  if (max_rows <= 0 || max_rows > 2147483647) {
    throw ConfigError("MLP workspace: " + std::to_string(max_rows) +
                      " rows (expected 1 .. 2^31 - 1)");
  }
  const auto alloc = [](const char* name) {
    return Kokkos::view_alloc(Kokkos::WithoutInitializing,
                              std::string("grpo::policies::mlp::") + name);
  };
  const int layers = config.num_hidden();
  m_h.resize(layers + 1);
  m_z.resize(layers + 1);
  for (int l = 0; l <= layers; ++l) {
    m_h[l] = Matrix(alloc("h"), max_rows, config.width(l));
    if (l > 0) {
      m_z[l] = Matrix(alloc("z"), max_rows, config.width(l));
    }
  }
  int widest_hidden = 1;
  for (int n : config.hidden) {
    widest_hidden = std::max(widest_hidden, n);
  }
  m_delta[0] = Matrix(alloc("delta"), max_rows, widest_hidden);
  m_delta[1] = Matrix(alloc("delta"), max_rows, widest_hidden);
  m_scores = View1<double>(alloc("scores"), max_rows);
  m_upstream = View1<double>(alloc("upstream"), max_rows);
  m_ones = View1<double>(alloc("ones"), max_rows);
  Kokkos::deep_copy(m_ones, 1.0);
  m_gather = View1<index_t>(alloc("gather"), max_rows);
  m_batch_offsets = View1<index_t>(alloc("batch_offsets"), max_rows + 1);
  m_targets = View1<int>(alloc("targets"), max_rows);
  m_lse = View1<double>(alloc("lse"), max_rows);
}

// --- Policy: parameters ------------------------------------------------------------------------

MlpPolicy::MlpPolicy(MlpConfig config, std::uint64_t seed)
    : m_config(std::move(config)) {
  m_config.validate();
  m_params = View1<double>("grpo::policies::mlp::params", m_config.num_params());
  initialize(seed);
}

MlpPolicy::MlpPolicy(const MlpPolicy& other)
    : m_config(other.m_config) {
  if (other.m_params.data() != nullptr) {
    m_params = View1<double>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, "grpo::policies::mlp::params"),
        other.m_params.extent(0));
    Kokkos::deep_copy(m_params, other.m_params);
  }
}

MlpPolicy& MlpPolicy::operator=(const MlpPolicy& other) {
  if (this != &other) {
    MlpPolicy copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void MlpPolicy::initialize(std::uint64_t seed) {
  Kokkos::deep_copy(m_params, 0.0);
  const auto params = m_params;
  const int layers = m_config.num_hidden();
  for (int l = 0; l <= layers; ++l) {
    const bool output = l == layers;
    const double fan_in = m_config.width(l);
    const double fan_out = output ? 1.0 : m_config.width(l + 1);
    const bool glorot = output || m_config.activation == Activation::Tanh;
    const double scale = glorot ? std::sqrt(6.0 / (fan_in + fan_out)) : std::sqrt(6.0 / fan_in);
    const index_t begin = m_config.weight_offset(l);
    const index_t end = begin + static_cast<index_t>(fan_in * fan_out);
    Kokkos::parallel_for(
        "grpo::policies::mlp::initialize",
        Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(ExecSpace(), begin, end),
        KOKKOS_LAMBDA(const index_t p) {
          const double u =
              rng::to_unit(rng::hash(seed, rng::kStreamMlpInit, static_cast<std::uint64_t>(p)));
          params(p) = scale * (2.0 * u - 1.0);
        });
  }
  Kokkos::fence();
}

void MlpPolicy::set_params(const View1<const double>& values) {
  if (static_cast<index_t>(values.extent(0)) != num_params()) {
    throw ConfigError("MLP policy " + m_config.describe() + ": " +
                      std::to_string(values.extent(0)) + " parameter values given, it has " +
                      std::to_string(num_params()));
  }
  Kokkos::deep_copy(m_params, values);
}

void MlpPolicy::set_params(const std::vector<double>& values) {
  if (static_cast<index_t>(values.size()) != num_params()) {
    throw ConfigError("MLP policy " + m_config.describe() + ": " + std::to_string(values.size()) +
                      " parameter values given, it has " + std::to_string(num_params()));
  }
  const HostView1<const double> host(values.data(), values.size());
  Kokkos::deep_copy(m_params, host);
}

std::vector<double> MlpPolicy::params_host() const {
  std::vector<double> values(m_params.extent(0));
  const HostView1<double> host(values.data(), values.size());
  Kokkos::deep_copy(host, m_params);
  return values;
}

OptionSet MlpPolicy::options_of(const PreferenceSplit& split) {
  if (!split.has_options()) {
    throw InternalError("MLP policy: split '" + split.name +
                        "' was loaded without the option features (dataset schema 1.1)");
  }
  return OptionSet{split.options, split.option_offsets};
}

void MlpPolicy::check_workspace(const MlpWorkspace& ws, const char* what) const {
  bool same = ws.m_max_rows > 0 && ws.m_config.input_dim == m_config.input_dim &&
              ws.m_config.hidden == m_config.hidden;
  if (!same) {
    throw InternalError(std::string("MLP policy ") + what + ": the workspace was built for " +
                        (ws.m_max_rows > 0 ? ws.m_config.describe() : std::string("nothing")) +
                        ", the policy is " + m_config.describe());
  }
}

// --- Policy: rows of one table -----------------------------------------------------------------

void MlpPolicy::run_layers(const ExecSpace& space, MlpWorkspace& ws, index_t rows) const {
  const int layers = m_config.num_hidden();
  const double* theta = m_params.data();
  for (int l = 0; l < layers; ++l) {
    const index_t n_in = m_config.width(l);
    const index_t n_out = m_config.width(l + 1);
    const auto h_in = detail::cblock(ws.m_h[l].data(), rows, n_in);
    const auto z = detail::block(ws.m_z[l + 1].data(), rows, n_out);
    const auto h = detail::block(ws.m_h[l + 1].data(), rows, n_out);
    // z = h_in W^T: [rows x n_in] [n_in x n_out]
    detail::gemm(space, 'N', 'T', 1.0, h_in,
                 detail::cblock(theta + m_config.weight_offset(l), n_out, n_in), 0.0, z);
    detail::with_activation(m_config.activation, [&](auto act) {
      detail::bias_activation(space, act, z, h, theta + m_config.bias_offset(l));
    });
  }
  const index_t n_last = m_config.width(layers);
  // scores = h_L w: [rows x n_L] [n_L x 1], with w stored as a [1 x n_L] row.
  detail::gemm(space, 'N', 'T', 1.0, detail::cblock(ws.m_h[layers].data(), rows, n_last),
               detail::cblock(theta + m_config.output_offset(), 1, n_last), 0.0,
               detail::block(ws.m_scores.data(), rows, 1));
  ws.m_rows = rows;
}

void MlpPolicy::forward(const ExecSpace& space, MlpWorkspace& ws, const FeatureView& features,
                        const RowSelection& rows, const View1<double>& scores) const {
  check_workspace(ws, "forward");
  detail::check_features(features, m_config.input_dim, "MLP forward");
  if (rows.count > ws.m_max_rows || static_cast<index_t>(scores.extent(0)) < rows.count) {
    throw InternalError("MLP forward: " + std::to_string(rows.count) +
                        " rows, the workspace holds " + std::to_string(ws.m_max_rows) +
                        " and the output " + std::to_string(scores.extent(0)));
  }
  detail::check_rows(space, rows, static_cast<index_t>(features.extent(0)), "MLP forward");
  ws.m_cached = MlpWorkspace::Cached::None;
  detail::load_rows(space, ws.m_h[0], features, features, rows.count, rows.count,
                    detail::RowMap(rows));
  run_layers(space, ws, rows.count);
  Kokkos::deep_copy(space, Kokkos::subview(scores, std::make_pair(index_t(0), rows.count)),
                    Kokkos::subview(ws.m_scores, std::make_pair(index_t(0), rows.count)));
  ws.m_cached = MlpWorkspace::Cached::Rows;
  ws.m_batch = rows.count;
}

void MlpPolicy::backward(const ExecSpace& space, MlpWorkspace& ws,
                         const View1<const double>& upstream, const View1<double>& grad) const {
  check_workspace(ws, "backward");
  const index_t rows = ws.m_rows;
  if (ws.m_cached == MlpWorkspace::Cached::None) {
    throw InternalError("MLP backward: the workspace holds no complete forward pass");
  }
  if (static_cast<index_t>(upstream.extent(0)) < rows ||
      static_cast<index_t>(grad.extent(0)) != num_params()) {
    throw InternalError("MLP backward: " + std::to_string(upstream.extent(0)) +
                        " upstream values for " + std::to_string(rows) + " rows, gradient of " +
                        std::to_string(grad.extent(0)) + " for " + std::to_string(num_params()) +
                        " parameters");
  }
  const int layers = m_config.num_hidden();
  const double* theta = m_params.data();
  double* g = grad.data();
  const index_t n_last = m_config.width(layers);
  const auto u = detail::cblock(upstream.data(), rows, 1);
  // Output layer: grad w [1 x n_L] += u^T h_L.
  detail::gemm(space, 'T', 'N', 1.0, u, detail::cblock(ws.m_h[layers].data(), rows, n_last), 1.0,
               detail::block(g + m_config.output_offset(), 1, n_last));
  if (layers == 0) {
    return;
  }
  const auto ones = detail::cblock(ws.m_ones.data(), rows, 1);
  int cur = 0;
  detail::with_activation(m_config.activation, [&](auto act) {
    detail::output_delta(space, act, detail::block(ws.m_delta[cur].data(), rows, n_last),
                         detail::cblock(ws.m_z[layers].data(), rows, n_last),
                         detail::cblock(ws.m_h[layers].data(), rows, n_last), upstream.data(),
                         theta + m_config.output_offset());
  });
  // Layer l maps h_l to z_{l+1}; m_delta[cur] holds dobjective/dz_{l+1}.
  for (int l = layers - 1; l >= 0; --l) {
    const index_t n_in = m_config.width(l);
    const index_t n_out = m_config.width(l + 1);
    const auto delta = detail::cblock(ws.m_delta[cur].data(), rows, n_out);
    const auto h_in = detail::cblock(ws.m_h[l].data(), rows, n_in);
    // grad W_l [n_out x n_in] += delta^T h_l; grad b_l [n_out x 1] += delta^T 1.
    detail::gemm(space, 'T', 'N', 1.0, delta, h_in, 1.0,
                 detail::block(g + m_config.weight_offset(l), n_out, n_in));
    detail::gemm(space, 'T', 'N', 1.0, delta, ones, 1.0,
                 detail::block(g + m_config.bias_offset(l), n_out, 1));
    if (l > 0) {
      // dobjective/dh_l = delta W_l: [rows x n_out] [n_out x n_in], then times act'(z_l).
      const auto next = detail::block(ws.m_delta[1 - cur].data(), rows, n_in);
      detail::gemm(space, 'N', 'N', 1.0, delta,
                   detail::cblock(theta + m_config.weight_offset(l), n_out, n_in), 0.0, next);
      detail::with_activation(m_config.activation, [&](auto act) {
        detail::scale_by_derivative(space, act, next, detail::cblock(ws.m_z[l].data(), rows, n_in),
                                    h_in);
      });
      cur = 1 - cur;
    }
  }
}

// --- Policy: pairs -----------------------------------------------------------------------------

void MlpPolicy::pair_forward(const ExecSpace& space, MlpWorkspace& ws, const FeatureView& chosen,
                             const FeatureView& rejected, const RowSelection& rows) const {
  ws.m_cached = MlpWorkspace::Cached::None;
  detail::load_rows(space, ws.m_h[0], chosen, rejected, rows.count, 2 * rows.count,
                    detail::RowMap(rows));
  run_layers(space, ws, 2 * rows.count);
  ws.m_cached = MlpWorkspace::Cached::Pairs;
  ws.m_batch = rows.count;
}

void MlpPolicy::pair_margins(const ExecSpace& space, MlpWorkspace& ws, const FeatureView& chosen,
                             const FeatureView& rejected, const RowSelection& rows,
                             const View1<double>& out) const {
  check_workspace(ws, "pair_margins");
  detail::check_features(chosen, m_config.input_dim, "MLP pair_margins (chosen)");
  detail::check_features(rejected, m_config.input_dim, "MLP pair_margins (rejected)");
  if (chosen.extent(0) != rejected.extent(0) || static_cast<index_t>(out.extent(0)) < rows.count) {
    throw InternalError("MLP pair_margins: " + std::to_string(chosen.extent(0)) + " chosen and " +
                        std::to_string(rejected.extent(0)) + " rejected rows, " +
                        std::to_string(out.extent(0)) + " outputs for " +
                        std::to_string(rows.count) + " pairs");
  }
  detail::check_rows(space, rows, static_cast<index_t>(chosen.extent(0)), "MLP pair_margins");
  const index_t chunk = ws.max_pairs();
  if (chunk == 0 && rows.count > 0) {
    throw InternalError("MLP pair_margins: a workspace of one row holds no pair");
  }
  const auto scores = ws.m_scores;
  for (index_t begin = 0; begin < rows.count; begin += chunk) {
    const index_t n = std::min(chunk, rows.count - begin);
    pair_forward(space, ws, chosen, rejected, rows.slice(begin, n));
    Kokkos::parallel_for(
        "grpo::policies::mlp::pair_margins",
        Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
        KOKKOS_LAMBDA(const index_t i) { out(begin + i) = scores(i) - scores(n + i); });
  }
  if (rows.count > chunk) {
    ws.m_cached = MlpWorkspace::Cached::None; // only the last chunk is held
  } else if (rows.count == 0) {
    ws.m_cached = MlpWorkspace::Cached::Pairs;
    ws.m_batch = 0;
    ws.m_rows = 0;
  }
}

void MlpPolicy::margins(const ExecSpace& space, MlpWorkspace& ws, const PreferenceSplit& split,
                        const RowSelection& rows, const View1<double>& out) const {
  if (!split.has_pair_features()) {
    throw InternalError("MLP policy: split '" + split.name +
                        "' was loaded without the chosen/rejected features");
  }
  pair_margins(space, ws, split.chosen, split.rejected, rows, out);
}

void MlpPolicy::pair_backward(const ExecSpace& space, MlpWorkspace& ws,
                              const View1<const double>& coeff, index_t coeff_offset,
                              const View1<double>& grad) const {
  detail::pair_upstream(space, coeff, coeff_offset, ws.m_upstream, ws.m_batch);
  backward(space, ws, ws.m_upstream, grad);
}

void MlpPolicy::accumulate_pair_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                         const View1<const double>& coeff,
                                         const View1<double>& grad) const {
  check_workspace(ws, "accumulate_pair_gradient");
  if (ws.m_cached != MlpWorkspace::Cached::Pairs) {
    throw InternalError("MLP accumulate_pair_gradient: the workspace does not hold the forward "
                        "pass of a whole pair batch (call pair_margins first, with a batch of at "
                        "most " +
                        std::to_string(ws.max_pairs()) +
                        " pairs, or use the overload that takes the batch)");
  }
  if (static_cast<index_t>(coeff.extent(0)) < ws.m_batch) {
    throw InternalError("MLP accumulate_pair_gradient: " + std::to_string(coeff.extent(0)) +
                        " coefficients for " + std::to_string(ws.m_batch) + " pairs");
  }
  pair_backward(space, ws, coeff, 0, grad);
}

void MlpPolicy::accumulate_pair_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                         const FeatureView& chosen, const FeatureView& rejected,
                                         const RowSelection& rows, const View1<const double>& coeff,
                                         const View1<double>& grad) const {
  check_workspace(ws, "accumulate_pair_gradient");
  detail::check_features(chosen, m_config.input_dim, "MLP accumulate_pair_gradient (chosen)");
  detail::check_features(rejected, m_config.input_dim, "MLP accumulate_pair_gradient (rejected)");
  if (chosen.extent(0) != rejected.extent(0) ||
      static_cast<index_t>(coeff.extent(0)) < rows.count) {
    throw InternalError("MLP accumulate_pair_gradient: " + std::to_string(chosen.extent(0)) +
                        " chosen and " + std::to_string(rejected.extent(0)) + " rejected rows, " +
                        std::to_string(coeff.extent(0)) + " coefficients for " +
                        std::to_string(rows.count) + " pairs");
  }
  detail::check_rows(space, rows, static_cast<index_t>(chosen.extent(0)),
                     "MLP accumulate_pair_gradient");
  const index_t chunk = ws.max_pairs();
  for (index_t begin = 0; begin < rows.count; begin += chunk) {
    const index_t n = std::min(chunk, rows.count - begin);
    pair_forward(space, ws, chosen, rejected, rows.slice(begin, n));
    pair_backward(space, ws, coeff, begin, grad);
  }
  if (rows.count > chunk) {
    ws.m_cached = MlpWorkspace::Cached::None;
  }
}

void MlpPolicy::accumulate_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                    const PreferenceSplit& split, const RowSelection& rows,
                                    const View1<const double>& coeff,
                                    const View1<double>& grad) const {
  if (!split.has_pair_features()) {
    throw InternalError("MLP policy: split '" + split.name +
                        "' was loaded without the chosen/rejected features");
  }
  if (static_cast<index_t>(grad.extent(0)) != num_params()) {
    throw InternalError("MLP accumulate_gradient: a gradient of " + std::to_string(grad.extent(0)) +
                        " entries for " + std::to_string(num_params()) + " parameters");
  }
  accumulate_pair_gradient(space, ws, split.chosen, split.rejected, rows, coeff, grad);
}

} // namespace grpo::policies
