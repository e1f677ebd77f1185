// Optimisers over flat parameter Views (optimizer.hpp): elementwise kernels and a fixed-order
// norm.
#include "solver/optimizer.hpp"

#include "core/error.hpp"
#include "core/kokkos_compat.hpp"

#include <cmath>

namespace grpo::solver {

namespace {

constexpr index_t kNormBlock = 1024;

index_t norm_blocks(index_t n) { return (n + kNormBlock - 1) / kNormBlock; }

double type_code(OptimizerType type) { return static_cast<double>(static_cast<int>(type)); }

} // namespace

OptimizerType parse_optimizer(const std::string& name) {
  if (name == "sgd") {
    return OptimizerType::Sgd;
  }
  if (name == "adam") {
    return OptimizerType::Adam;
  }
  if (name == "adamw") {
    return OptimizerType::AdamW;
  }
  if (name == "rmsprop") {
    return OptimizerType::RmsProp;
  }
  throw ConfigError("unknown optimizer '" + printable(name) +
                    "' (expected sgd, adam, adamw or rmsprop)");
}

const char* optimizer_name(OptimizerType type) {
  switch (type) {
  case OptimizerType::Sgd:
    return "sgd";
  case OptimizerType::Adam:
    return "adam";
  case OptimizerType::AdamW:
    return "adamw";
  case OptimizerType::RmsProp:
    return "rmsprop";
  }
  return "unknown";
}

OptimizerConfig OptimizerConfig::defaults(OptimizerType type) {
  OptimizerConfig c;
  c.type = type;
  c.lr = type == OptimizerType::RmsProp ? 1e-2 : 1e-3;
  c.beta2 = type == OptimizerType::RmsProp ? 0.99 : 0.999;
  c.weight_decay = type == OptimizerType::AdamW ? 1e-2 : 0.0;
  return c;
}

void OptimizerConfig::validate() const {
  const auto fail = [&](const char* what, double value, const char* expected) {
    throw ConfigError(std::string("optimizer ") + optimizer_name(type) + ": " + what + " " +
                      format_double(value) + " (expected " + expected + ")");
  };
  if (!(lr >= 0.0) || !std::isfinite(lr)) {
    fail("learning rate", lr, "a finite value >= 0");
  }
  if (!(momentum >= 0.0 && momentum < 1.0)) {
    fail("momentum", momentum, "0 <= momentum < 1");
  }
  if (!(beta1 >= 0.0 && beta1 < 1.0)) {
    fail("beta1", beta1, "0 <= beta1 < 1");
  }
  if (!(beta2 >= 0.0 && beta2 < 1.0)) {
    fail(type == OptimizerType::RmsProp ? "alpha" : "beta2", beta2, "a value in [0, 1)");
  }
  if (!(eps > 0.0) || !std::isfinite(eps)) {
    fail("eps", eps, "a finite value > 0");
  }
  if (!(weight_decay >= 0.0) || !std::isfinite(weight_decay)) {
    fail("weight decay", weight_decay, "a finite value >= 0");
  }
}

Optimizer::Optimizer(const OptimizerConfig& config, index_t num_params)
    : m_config(config)
    , m_num_params(num_params) {
  m_config.validate();
  if (num_params < 0) {
    throw InternalError("Optimizer: negative parameter count " + std::to_string(num_params));
  }
  if (num_buffers() >= 1) {
    m_first = View1<double>("grpo::solver::optimizer::first", num_params);
  }
  if (num_buffers() >= 2) {
    m_second = View1<double>("grpo::solver::optimizer::second", num_params);
  }
  m_blocks = View1<double>("grpo::solver::optimizer::norm_blocks", norm_blocks(num_params) + 1);
}

int Optimizer::num_buffers() const {
  switch (m_config.type) {
  case OptimizerType::Sgd:
    return m_config.momentum != 0.0 ? 1 : 0;
  case OptimizerType::Adam:
  case OptimizerType::AdamW:
    return 2;
  case OptimizerType::RmsProp:
    return 1;
  }
  return 0;
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr)) {
    throw ConfigError("optimizer: learning rate " + format_double(lr) +
                      " (expected a finite value >= 0)");
  }
  m_config.lr = lr;
}

void Optimizer::step(const ExecSpace& space, const View1<double>& params,
                     const View1<const double>& grad) {
  if (static_cast<index_t>(params.extent(0)) != m_num_params ||
      static_cast<index_t>(grad.extent(0)) != m_num_params) {
    throw InternalError("Optimizer::step: " + std::to_string(params.extent(0)) +
                        " parameters and " + std::to_string(grad.extent(0)) +
                        " gradient entries, the optimiser was built for " +
                        std::to_string(m_num_params));
  }
  ++m_steps;
  const double lr = m_config.lr;
  const double wd = m_config.weight_decay;
  const auto first = m_first;
  const auto second = m_second;
  const Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>> all(space, 0, m_num_params);
  switch (m_config.type) {
  case OptimizerType::Sgd: {
    const double mu = m_config.momentum;
    const bool first_step = m_steps == 1;
    if (mu == 0.0) {
      Kokkos::parallel_for(
          "grpo::solver::optimizer::sgd", all,
          KOKKOS_LAMBDA(const index_t p) { params(p) -= lr * (grad(p) + wd * params(p)); });
    } else {
      Kokkos::parallel_for(
          "grpo::solver::optimizer::sgd_momentum", all, KOKKOS_LAMBDA(const index_t p) {
            const double g = grad(p) + wd * params(p);
            const double b = first_step ? g : mu * first(p) + g;
            first(p) = b;
            params(p) -= lr * b;
          });
    }
    break;
  }
  case OptimizerType::Adam:
  case OptimizerType::AdamW: {
    const bool decoupled = m_config.type == OptimizerType::AdamW;
    const double b1 = m_config.beta1;
    const double b2 = m_config.beta2;
    const double eps = m_config.eps;
    const auto t = static_cast<double>(m_steps);
    const double step_size = lr / (1.0 - std::pow(b1, t));
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, t));
    const double l2 = decoupled ? 0.0 : wd;
    const double shrink = decoupled ? 1.0 - lr * wd : 1.0;
    Kokkos::parallel_for(
        "grpo::solver::optimizer::adam", all, KOKKOS_LAMBDA(const index_t p) {
          const double theta = params(p);
          const double g = grad(p) + l2 * theta;
          const double m = b1 * first(p) + (1.0 - b1) * g;
          const double v = b2 * second(p) + (1.0 - b2) * g * g;
          first(p) = m;
          second(p) = v;
          const double denom = math::sqrt(v) / bc2_sqrt + eps;
          params(p) = theta * shrink - step_size * (m / denom);
        });
    break;
  }
  case OptimizerType::RmsProp: {
    const double alpha = m_config.beta2;
    const double eps = m_config.eps;
    Kokkos::parallel_for(
        "grpo::solver::optimizer::rmsprop", all, KOKKOS_LAMBDA(const index_t p) {
          const double g = grad(p) + wd * params(p);
          const double v = alpha * first(p) + (1.0 - alpha) * g * g;
          first(p) = v;
          params(p) -= lr * (g / (math::sqrt(v) + eps));
        });
    break;
  }
  }
  space.fence();
}

double Optimizer::grad_norm(const ExecSpace& space, const View1<const double>& grad) {
  const index_t n = static_cast<index_t>(grad.extent(0));
  const index_t blocks = norm_blocks(n);
  if (static_cast<index_t>(m_blocks.extent(0)) < blocks + 1) {
    m_blocks = View1<double>("grpo::solver::optimizer::norm_blocks", blocks + 1);
  }
  const auto sums = m_blocks;
  Kokkos::parallel_for(
      "grpo::solver::optimizer::norm_blocks",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, blocks),
      KOKKOS_LAMBDA(const index_t b) {
        const index_t end = (b + 1) * kNormBlock < n ? (b + 1) * kNormBlock : n;
        double s = 0.0;
        for (index_t p = b * kNormBlock; p < end; ++p) {
          s += grad(p) * grad(p);
        }
        sums(b) = s;
      });
  Kokkos::parallel_for(
      "grpo::solver::optimizer::norm_total",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(space, 0, 1),
      KOKKOS_LAMBDA(const index_t) {
        double s = 0.0;
        for (index_t b = 0; b < blocks; ++b) {
          s += sums(b);
        }
        sums(blocks) = s;
      });
  double total = 0.0;
  Kokkos::deep_copy(space, total, Kokkos::subview(sums, blocks));
  space.fence();
  return std::sqrt(total);
}

double Optimizer::clip_grad_norm(const ExecSpace& space, const View1<double>& grad,
                                 double max_norm) {
  if (!(max_norm > 0.0)) {
    throw ConfigError("gradient clipping: max norm " + format_double(max_norm) +
                      " (expected a value > 0)");
  }
  const double norm = grad_norm(space, grad);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    Kokkos::parallel_for(
        "grpo::solver::optimizer::clip",
        Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<index_t>>(
            space, 0, static_cast<index_t>(grad.extent(0))),
        KOKKOS_LAMBDA(const index_t p) { grad(p) *= coef; });
    space.fence();
  }
  return norm;
}

std::vector<double> Optimizer::export_state() const {
  const int buffers = num_buffers();
  std::vector<double> state(3 + static_cast<std::size_t>(buffers) * m_num_params);
  state[0] = type_code(m_config.type);
  state[1] = static_cast<double>(m_num_params);
  state[2] = static_cast<double>(m_steps);
  const View1<double> bufs[2] = {m_first, m_second};
  for (int k = 0; k < buffers; ++k) {
    const HostView1<double> host(state.data() + 3 + k * m_num_params, m_num_params);
    Kokkos::deep_copy(host, bufs[k]);
  }
  return state;
}

void Optimizer::import_state(const std::vector<double>& state) {
  const int buffers = num_buffers();
  const std::size_t expected = 3 + static_cast<std::size_t>(buffers) * m_num_params;
  if (state.size() != expected || state[0] != type_code(m_config.type) ||
      state[1] != static_cast<double>(m_num_params) || !(state[2] >= 0.0) ||
      state[2] != std::floor(state[2])) {
    throw DataError(std::string("optimizer state: ") + std::to_string(state.size()) +
                    " values of type code " +
                    (state.empty() ? std::string("-") : format_double(state[0])) + "; expected " +
                    std::to_string(expected) + " values of " + optimizer_name(m_config.type) +
                    " for " + std::to_string(m_num_params) + " parameters");
  }
  m_steps = static_cast<std::int64_t>(state[2]);
  const View1<double> bufs[2] = {m_first, m_second};
  for (int k = 0; k < buffers; ++k) {
    const HostView1<const double> host(state.data() + 3 + k * m_num_params, m_num_params);
    Kokkos::deep_copy(bufs[k], host);
  }
}

void Optimizer::reset() {
  m_steps = 0;
  if (m_first.data() != nullptr) {
    Kokkos::deep_copy(m_first, 0.0);
  }
  if (m_second.data() != nullptr) {
    Kokkos::deep_copy(m_second, 0.0);
  }
}

} // namespace grpo::solver
