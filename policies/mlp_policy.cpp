// MLP policy kernels (mlp_policy.hpp). Matrices are LayoutRight double Views; the parameter
// blocks are unmanaged LayoutRight views into the flat parameter (or gradient) vector. Kernels
// are free functions in grpo::policies::detail (CUDA lambdas may not live in member functions),
// and capture Views by value, never `this`.
#include "policies/mlp_policy.hpp"

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fast_math.hpp"
#include "core/kokkos_compat.hpp"
#include "core/rng.hpp"

#if GRPO_HAVE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

namespace grpo::policies {

using Matrix = Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>;
using MatrixU =
    Kokkos::View<double**, Kokkos::LayoutRight, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
using ConstMatrixU = Kokkos::View<const double**, Kokkos::LayoutRight, MemSpace,
                                  Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

// --- Configuration -------------------------------------------------------------------------

Activation parse_activation(const std::string& name) {
  if (name == "relu") {
    return Activation::Relu;
  }
  if (name == "tanh") {
    return Activation::Tanh;
  }
  if (name == "gelu") {
    return Activation::Gelu;
  }
  throw ConfigError("unknown activation '" + printable(name) + "' (expected relu, tanh or gelu)");
}

const char* activation_name(Activation activation) {
  switch (activation) {
  case Activation::Relu:
    return "relu";
  case Activation::Tanh:
    return "tanh";
  case Activation::Gelu:
    return "gelu";
  }
  return "unknown";
}

index_t MlpConfig::weight_offset(int l) const {
  index_t offset = 0;
  for (int k = 0; k < l; ++k) {
    offset += index_t(width(k)) * width(k + 1) + width(k + 1);
  }
  return offset;
}

index_t MlpConfig::num_params() const { return output_offset() + width(num_hidden()); }

int MlpConfig::max_width() const {
  int m = input_dim;
  for (int n : hidden) {
    m = std::max(m, n);
  }
  return m;
}

void MlpConfig::validate() const {
  if (input_dim <= 0) {
    throw ConfigError("MLP policy: input dimension " + std::to_string(input_dim) +
                      " (expected a positive number of features)");
  }
  for (std::size_t l = 0; l < hidden.size(); ++l) {
    if (hidden[l] <= 0) {
      throw ConfigError("MLP policy: hidden layer " + std::to_string(l) + " has width " +
                        std::to_string(hidden[l]) + " (expected a positive width)");
    }
  }
  // Widths are validated first, so the sums below cannot wrap.
  double total = 0.0;
  for (int l = 0; l < num_hidden(); ++l) {
    total += (double(width(l)) + 1.0) * width(l + 1);
  }
  total += width(num_hidden());
  if (total > 2147483647.0) {
    throw ConfigError("MLP policy " + describe() + ": " + format_double(total) +
                      " parameters (at most 2^31 - 1 are supported)");
  }
}

std::string MlpConfig::describe() const {
  std::ostringstream s;
  s << input_dim;
  for (int n : hidden) {
    s << '-' << n;
  }
  s << "-1 " << activation_name(activation);
  return s.str();
}

std::vector<int> parse_hidden(const std::string& text) {
  std::vector<int> widths;
  if (text.empty() || text == "none") {
    return widths;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool ok = !item.empty() && item.size() <= 9;
    for (char c : item) {
      ok = ok && c >= '0' && c <= '9';
    }
    if (!ok || std::stoi(item) <= 0) {
      throw ConfigError("hidden layer widths '" + printable(text) +
                        "': expected comma-separated positive integers such as 64,64 (or none)");
    }
    widths.push_back(std::stoi(item));
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  return widths;
}

RowSelection RowSelection::range(index_t begin, index_t count) {
  RowSelection s;
  s.offset = begin;
  s.count = count;
  return s;
}

RowSelection RowSelection::rows(const View1<const index_t>& index, index_t count) {
  RowSelection s;
  s.index = index;
  s.count = count < 0 ? static_cast<index_t>(index.extent(0)) : count;
  s.indexed = true;
  if (s.count > static_cast<index_t>(index.extent(0))) {
    throw InternalError("RowSelection::rows: " + std::to_string(s.count) + " rows of an index of " +
                        std::to_string(index.extent(0)));
  }
  return s;
}

RowSelection RowSelection::slice(index_t begin, index_t n) const {
  RowSelection s = *this;
  s.offset = offset + begin;
  s.count = n;
  return s;
}

// --- Kernels ---------------------------------------------------------------------------------

namespace detail {

/// Batch position -> table row, on the device.
struct RowMap {
  View1<const index_t> m_index;
  index_t m_offset = 0;
  bool m_indexed = false;
  explicit RowMap(const RowSelection& s)
      : m_index(s.index)
      , m_offset(s.offset)
      , m_indexed(s.indexed) {}
  KOKKOS_INLINE_FUNCTION index_t operator()(index_t i) const {
    return m_indexed ? m_index(m_offset + i) : m_offset + i;
  }
};

struct ReluAct {
  KOKKOS_INLINE_FUNCTION double value(double z) const { return z > 0.0 ? z : 0.0; }
  KOKKOS_INLINE_FUNCTION double derivative(double z, double /*h*/) const {
    return z > 0.0 ? 1.0 : 0.0;
  }
};

struct TanhAct {
  KOKKOS_INLINE_FUNCTION double value(double z) const { return math::fast_tanh(z); }
  KOKKOS_INLINE_FUNCTION double derivative(double /*z*/, double h) const { return 1.0 - h * h; }
};

/// The tanh approximation of gelu (mlp_policy.hpp) and its exact derivative.
struct GeluAct {
  static constexpr double kC = 0.79788456080286535588; // sqrt(2 / pi)
  static constexpr double kA = 0.044715;
  KOKKOS_INLINE_FUNCTION double value(double z) const {
    const double t = math::fast_tanh(kC * (z + kA * z * z * z));
    return 0.5 * z * (1.0 + t);
  }
  KOKKOS_INLINE_FUNCTION double derivative(double z, double /*h*/) const {
    const double t = math::fast_tanh(kC * (z + kA * z * z * z));
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * kC * (1.0 + 3.0 * kA * z * z);
  }
};

template <class F>
void with_activation(Activation a, F&& f) {
  switch (a) {
  case Activation::Relu:
    f(ReluAct{});
    return;
  case Activation::Tanh:
    f(TanhAct{});
    return;
  case Activation::Gelu:
    f(GeluAct{});
    return;
  }
}

/// f(r, j) for every entry of a rows x cols matrix: on the host one row per iteration with the
/// column loop inside (contiguous, vectorizable), on devices one thread per entry with the column
/// index fastest (coalesced).
template <class F>
void for_each_entry(const char* label, const ExecSpace& space, index_t rows, index_t cols,
                    const F& f) {
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemSpace>::accessible) {
    Kokkos::parallel_for(
        label, Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, rows),
        KOKKOS_LAMBDA(const index_t r) {
          for (index_t j = 0; j < cols; ++j) {
            f(r, j);
          }
        });
  } else {
    using Grid =
        Kokkos::MDRangePolicy<ExecSpace,
                              Kokkos::Rank<2, Kokkos::Iterate::Right, Kokkos::Iterate::Right>,
                              Kokkos::IndexType<index_t>>;
    Kokkos::parallel_for(label, Grid(space, {0, 0}, {rows, cols}), f);
  }
}

MatrixU block(double* data, index_t rows, index_t cols) { return MatrixU(data, rows, cols); }
ConstMatrixU cblock(const double* data, index_t rows, index_t cols) {
  return ConstMatrixU(data, rows, cols);
}

/// C = alpha op(A) op(B) + beta C (op = transpose for 'T'); C is not read when beta == 0.
void gemm(const ExecSpace& space, char trans_a, char trans_b, double alpha, const ConstMatrixU& a,
          const ConstMatrixU& b, double beta, const MatrixU& c) {
  if (c.extent(0) == 0 || c.extent(1) == 0) {
    return;
  }
  const index_t depth = trans_a == 'T' ? a.extent(0) : a.extent(1);
#if GRPO_HAVE_KOKKOSKERNELS
  if (depth > 0) {
    // KokkosKernels 3.4 takes no execution-space instance: it runs on the default instance.
    (void)space;
    const char ta[2] = {trans_a, '\0'};
    const char tb[2] = {trans_b, '\0'};
    KokkosBlas::gemm(ta, tb, alpha, a, b, beta, c);
    return;
  }
#endif
  // Own kernel (no KokkosKernels, or an empty inner dimension, which KokkosBlas skips without
  // scaling C): one thread per entry of C, the inner sum in a fixed order.
  const bool ta = trans_a == 'T';
  const bool tb = trans_b == 'T';
  Kokkos::parallel_for(
      "grpo::policies::mlp::gemm",
      Kokkos::MDRangePolicy<ExecSpace, Kokkos::Rank<2>>(
          space, {0, 0}, {index_t(c.extent(0)), index_t(c.extent(1))}),
      KOKKOS_LAMBDA(const index_t i, const index_t j) {
        double s = 0.0;
        for (index_t k = 0; k < depth; ++k) {
          s += (ta ? a(k, i) : a(i, k)) * (tb ? b(j, k) : b(k, j));
        }
        c(i, j) = beta == 0.0 ? alpha * s : alpha * s + beta * c(i, j);
      });
}

/// h0(r, :) = features of batch position r, in double: rows r < n_first from table `first` at
/// row map(r), rows n_first <= r < total from table `second` at row map(r - n_first).
void load_rows(const ExecSpace& space, const Matrix& h0, const FeatureView& first,
               const FeatureView& second, index_t n_first, index_t total, const RowMap& map) {
  const index_t dim = h0.extent(1);
  Kokkos::parallel_for(
      "grpo::policies::mlp::load_rows",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, total),
      KOKKOS_LAMBDA(const index_t r) {
        const bool in_first = r < n_first;
        const index_t row = in_first ? map(r) : map(r - n_first);
        const auto& table = in_first ? first : second;
        for (index_t j = 0; j < dim; ++j) {
          h0(r, j) = static_cast<double>(table(row, j));
        }
      });
}

/// z(r, j) += b(j); h(r, j) = act(z(r, j)) over rows x width.
template <class Act>
void bias_activation(const ExecSpace& space, const Act& act, const MatrixU& z, const MatrixU& h,
                     const double* bias_data) {
  const index_t width = z.extent(1);
  const Kokkos::View<const double*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> bias(
      bias_data, width);
  for_each_entry(
      "grpo::policies::mlp::bias_activation", space, z.extent(0), width,
      KOKKOS_LAMBDA(const index_t r, const index_t j) {
        const double v = z(r, j) + bias(j);
        z(r, j) = v;
        h(r, j) = act.value(v);
      });
}

/// delta(r, j) = upstream(r) * w(j) * act'(z, h): the output layer's delta into the last hidden
/// layer.
template <class Act>
void output_delta(const ExecSpace& space, const Act& act, const MatrixU& delta,
                  const ConstMatrixU& z, const ConstMatrixU& h, const double* upstream_data,
                  const double* w_data) {
  const index_t width = delta.extent(1);
  const Kokkos::View<const double*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> u(
      upstream_data, delta.extent(0));
  const Kokkos::View<const double*, MemSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> w(w_data,
                                                                                         width);
  for_each_entry(
      "grpo::policies::mlp::output_delta", space, delta.extent(0), width,
      KOKKOS_LAMBDA(const index_t r, const index_t j) {
        delta(r, j) = u(r) * w(j) * act.derivative(z(r, j), h(r, j));
      });
}

/// delta(r, j) *= act'(z(r, j), h(r, j)).
template <class Act>
void scale_by_derivative(const ExecSpace& space, const Act& act, const MatrixU& delta,
                         const ConstMatrixU& z, const ConstMatrixU& h) {
  const index_t width = delta.extent(1);
  for_each_entry(
      "grpo::policies::mlp::activation_derivative", space, delta.extent(0), width,
      KOKKOS_LAMBDA(const index_t r, const index_t j) {
        delta(r, j) *= act.derivative(z(r, j), h(r, j));
      });
}

/// Number of batch positions whose row lies outside [0, rows).
index_t count_out_of_range(const ExecSpace& space, const RowSelection& sel, index_t rows) {
  if (!sel.indexed || sel.count == 0) {
    return (sel.offset < 0 || sel.offset + sel.count > rows) ? sel.count : 0;
  }
  const RowMap map(sel);
  index_t bad = 0;
  Kokkos::parallel_reduce(
      "grpo::policies::mlp::check_rows",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, sel.count),
      KOKKOS_LAMBDA(const index_t i, index_t& n) {
        const index_t r = map(i);
        n += (r < 0 || r >= rows) ? 1 : 0;
      },
      bad);
  return bad;
}

void check_rows(const ExecSpace& space, const RowSelection& sel, index_t rows, const char* what) {
  if (sel.count < 0) {
    throw InternalError(std::string(what) + ": negative batch size " + std::to_string(sel.count));
  }
  const index_t bad = count_out_of_range(space, sel, rows);
  if (bad != 0) {
    throw InternalError(std::string(what) + ": " + std::to_string(bad) + " of " +
                        std::to_string(sel.count) + " batch rows lie outside the table of " +
                        std::to_string(rows) + " rows");
  }
}

void check_features(const FeatureView& features, int dim, const char* what) {
  if (static_cast<int>(features.extent(1)) != dim && features.extent(0) != 0) {
    throw InternalError(std::string(what) + ": features have " +
                        std::to_string(features.extent(1)) + " columns, the policy expects " +
                        std::to_string(dim));
  }
}

/// upstream(i) = coeff(offset + i), upstream(n + i) = -coeff(offset + i) for i < n. A free
/// function: nvcc rejects a KOKKOS_LAMBDA inside a private member function (pair_backward).
void pair_upstream(const ExecSpace& space, const View1<const double>& coeff, index_t coeff_offset,
                   const View1<double>& upstream, index_t n) {
  Kokkos::parallel_for(
      "grpo::policies::mlp::pair_upstream",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const double c = coeff(coeff_offset + i);
        upstream(i) = c;
        upstream(n + i) = -c;
      });
}

} // namespace detail

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

MlpPolicy::MlpPolicy(const MlpConfig& config, std::uint64_t seed)
    : m_config(config) {
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
  detail::check_rows(space, rows, features.extent(0), "MLP forward");
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
  detail::check_rows(space, rows, chosen.extent(0), "MLP pair_margins");
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

void MlpPolicy::pair_margins(const ExecSpace& space, MlpWorkspace& ws, const PreferenceSplit& split,
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
  detail::check_rows(space, rows, chosen.extent(0), "MLP accumulate_pair_gradient");
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

void MlpPolicy::accumulate_pair_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                         const PreferenceSplit& split, const RowSelection& rows,
                                         const View1<const double>& coeff,
                                         const View1<double>& grad) const {
  if (!split.has_pair_features()) {
    throw InternalError("MLP policy: split '" + split.name +
                        "' was loaded without the chosen/rejected features");
  }
  accumulate_pair_gradient(space, ws, split.chosen, split.rejected, rows, coeff, grad);
}

// --- Policy: options ---------------------------------------------------------------------------

void MlpPolicy::option_log_probs(const ExecSpace& space, MlpWorkspace& ws, const OptionSet& options,
                                 const View1<const int>& targets, const RowSelection& rows,
                                 const View1<double>& out) const {
  check_workspace(ws, "option_log_probs");
  detail::check_features(options.features, m_config.input_dim, "MLP option_log_probs");
  const index_t prompts = static_cast<index_t>(options.offsets.extent(0)) - 1;
  if (prompts < 0 || static_cast<index_t>(targets.extent(0)) < prompts ||
      static_cast<index_t>(out.extent(0)) < rows.count) {
    throw InternalError("MLP option_log_probs: " + std::to_string(options.offsets.extent(0)) +
                        " option offsets, " + std::to_string(targets.extent(0)) + " targets, " +
                        std::to_string(out.extent(0)) + " outputs for " +
                        std::to_string(rows.count) + " rows");
  }
  detail::check_rows(space, rows, prompts, "MLP option_log_probs");
  ws.m_cached = MlpWorkspace::Cached::None;
  const index_t n = rows.count;
  if (n > ws.m_max_rows) {
    throw ConfigError("MLP option_log_probs: a batch of " + std::to_string(n) +
                      " prompts has more options than the workspace's " +
                      std::to_string(ws.m_max_rows) + " rows; split the batch");
  }
  const detail::RowMap map(rows);
  const auto offsets = options.offsets;
  const auto batch_offsets = ws.m_batch_offsets;
  const index_t option_rows = static_cast<index_t>(options.features.extent(0));
  // Exclusive scan of the option counts of the batch rows, and a count of malformed rows
  // (offsets outside the table, or a target that is not one of the row's options).
  index_t total = 0;
  Kokkos::parallel_scan(
      "grpo::policies::mlp::option_offsets",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i, index_t& partial, const bool final) {
        const index_t r = map(i);
        const index_t count = offsets(r + 1) - offsets(r);
        if (final) {
          batch_offsets(i) = partial;
          if (i == n - 1) {
            batch_offsets(n) = partial + count;
          }
        }
        partial += count;
      },
      total);
  space.fence();
  index_t bad = 0;
  Kokkos::parallel_reduce(
      "grpo::policies::mlp::check_options",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i, index_t& b) {
        const index_t r = map(i);
        const index_t count = offsets(r + 1) - offsets(r);
        const int t = targets(r);
        const bool ok =
            count > 0 && offsets(r) >= 0 && offsets(r + 1) <= option_rows && t >= 0 && t < count;
        b += ok ? 0 : 1;
      },
      bad);
  if (bad != 0) {
    throw DataError("MLP option_log_probs: " + std::to_string(bad) + " of " + std::to_string(n) +
                    " prompts have no options, options outside the table of " +
                    std::to_string(option_rows) + " rows, or a target that is not an option");
  }
  if (total > ws.m_max_rows) {
    throw ConfigError("MLP option_log_probs: a batch of " + std::to_string(n) + " prompts has " +
                      std::to_string(total) + " options, more than the workspace's " +
                      std::to_string(ws.m_max_rows) + " rows; split the batch");
  }
  const auto gather = ws.m_gather;
  const auto batch_targets = ws.m_targets;
  Kokkos::parallel_for(
      "grpo::policies::mlp::option_gather",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const index_t r = map(i);
        const index_t first = offsets(r);
        const index_t count = offsets(r + 1) - first;
        for (index_t k = 0; k < count; ++k) {
          gather(batch_offsets(i) + k) = first + k;
        }
        batch_targets(i) = targets(r);
      });
  detail::load_rows(space, ws.m_h[0], options.features, options.features, total, total,
                    detail::RowMap(RowSelection::rows(gather, total)));
  run_layers(space, ws, total);
  const auto scores = ws.m_scores;
  const auto lse = ws.m_lse;
  Kokkos::parallel_for(
      "grpo::policies::mlp::option_log_softmax",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const index_t first = batch_offsets(i);
        const index_t last = batch_offsets(i + 1);
        double m = scores(first);
        for (index_t k = first + 1; k < last; ++k) {
          m = scores(k) > m ? scores(k) : m;
        }
        double s = 0.0;
        for (index_t k = first; k < last; ++k) {
          s += math::exp(scores(k) - m);
        }
        const double l = m + math::log(s);
        lse(i) = l;
        out(i) = scores(first + batch_targets(i)) - l;
      });
  ws.m_cached = MlpWorkspace::Cached::Options;
  ws.m_batch = n;
}

void MlpPolicy::accumulate_log_prob_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                             const View1<const double>& coeff,
                                             const View1<double>& grad) const {
  check_workspace(ws, "accumulate_log_prob_gradient");
  if (ws.m_cached != MlpWorkspace::Cached::Options) {
    throw InternalError("MLP accumulate_log_prob_gradient: the workspace does not hold the "
                        "forward pass of an option batch (call option_log_probs first)");
  }
  const index_t n = ws.m_batch;
  if (static_cast<index_t>(coeff.extent(0)) < n) {
    throw InternalError("MLP accumulate_log_prob_gradient: " + std::to_string(coeff.extent(0)) +
                        " coefficients for " + std::to_string(n) + " prompts");
  }
  const auto scores = ws.m_scores;
  const auto lse = ws.m_lse;
  const auto batch_offsets = ws.m_batch_offsets;
  const auto batch_targets = ws.m_targets;
  const auto upstream = ws.m_upstream;
  // d log pi(t)/d f_k = [k == t] - pi_k.
  Kokkos::parallel_for(
      "grpo::policies::mlp::log_prob_upstream",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, n),
      KOKKOS_LAMBDA(const index_t i) {
        const index_t first = batch_offsets(i);
        const index_t last = batch_offsets(i + 1);
        const double c = coeff(i);
        const index_t target = first + batch_targets(i);
        for (index_t k = first; k < last; ++k) {
          upstream(k) = c * ((k == target ? 1.0 : 0.0) - math::exp(scores(k) - lse(i)));
        }
      });
  backward(space, ws, upstream, grad);
}

} // namespace grpo::policies
