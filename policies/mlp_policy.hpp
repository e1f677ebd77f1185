// MLP policy (DESIGN.md, ALGORITHM.md §1.1 and §8): a multilayer perceptron f(phi) maps the
// features phi = phi(x, y) of one response to a scalar score, and pi(y|x) = softmax_y f(phi(x,y))
// over the options of the prompt x. The preference margin of a pair needs only
// f(phi(x, y_w)) - f(phi(x, y_l)) (the softmax normalizer cancels); log pi is needed for the SFT
// stage and for metrics.
//
// Network: h_0 = phi (float32 features, converted to double), for hidden layers l = 0 .. L-1
// z_{l+1} = W_l h_l + b_l and h_{l+1} = act(z_{l+1}); the output layer is linear WITHOUT bias,
// f = w^T h_L (a bias would cancel in every softmax and every margin). With no hidden layer,
// f(phi) = theta^T phi: exactly the log-linear policy.
//
// Parameters: one flat double View of num_params() entries (one MPI_Allreduce syncs a gradient,
// one dataset checkpoints them), layer by layer: W_0 (row-major [n_1 x n_0]), b_0 [n_1], W_1,
// b_1, ..., W_{L-1}, b_{L-1}, then w [n_L]; n_0 = input_dim, n_l = hidden[l-1].
//
// Kernels work on batches of feature rows through an MlpWorkspace sized once for the largest
// batch (no allocation per call). Layer products are KokkosBlas::gemm calls (KokkosKernels, when
// the build found it; own kernels otherwise), elementwise work is Kokkos parallel_for; every sum
// over rows has a fixed order, so results do not depend on the thread count.
#pragma once

#include "core/views.hpp"
#include "policies/policy.hpp"
#include "policies/preference_batch.hpp"
#include "policies/row_selection.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace grpo::policies {

/// Activation of the hidden layers.
/// - relu(z) = max(z, 0), derivative 1 for z > 0 and 0 otherwise (0 at the kink, as PyTorch);
/// - tanh(z), derivative 1 - tanh(z)^2;
/// - gelu: the tanh approximation (PyTorch approximate="tanh", GPT-2)
///   gelu(z) = z/2 (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3), with its exact derivative
///   1/2 (1 + tanh(u)) + z/2 (1 - tanh(u)^2) sqrt(2/pi) (1 + 3 * 0.044715 z^2).
enum class Activation { Relu, Tanh, Gelu };

/// "relu", "tanh" or "gelu" (ConfigError otherwise).
Activation parse_activation(const std::string& name);
const char* activation_name(Activation activation);

struct MlpConfig {
  int input_dim = 0;       ///< d, the feature dimension
  std::vector<int> hidden; ///< widths of the hidden layers (empty: the log-linear policy)
  Activation activation = Activation::Tanh;

  /// Total number of parameters P.
  index_t num_params() const;
  int num_hidden() const { return static_cast<int>(hidden.size()); }
  /// n_l: width(0) = input_dim, width(l) = hidden[l-1] for l = 1 .. num_hidden().
  int width(int l) const { return l == 0 ? input_dim : hidden[l - 1]; }
  /// Offsets in the flat parameter vector of W_l and b_l (l < num_hidden()) and of w.
  index_t weight_offset(int l) const;
  index_t bias_offset(int l) const { return weight_offset(l) + index_t(width(l)) * width(l + 1); }
  index_t output_offset() const { return weight_offset(num_hidden()); }
  /// Widest layer (input included).
  int max_width() const;
  /// Throws ConfigError naming the bad value (positive dimensions, at most 2^31 parameters).
  void validate() const;
  /// "64-256-256-1 tanh"-like summary.
  std::string describe() const;
};

/// "64,64" -> {64, 64}; "" or "none" -> {} (ConfigError on anything else).
std::vector<int> parse_hidden(const std::string& text);

/// All options of every prompt: the options of row i are the feature rows
/// offsets(i) .. offsets(i+1) - 1 of `features` (PreferenceSplit::options/option_offsets).
struct OptionSet {
  FeatureView features;
  View1<const index_t> offsets;
};

/// Scratch of the MLP kernels for batches of up to max_rows() feature rows: activations kept from
/// the last forward pass (what backward needs), back-propagated deltas, gather lists. Build one
/// per policy shape and keep it; a pair batch of B pairs uses 2B rows, an option batch the total
/// number of options of its rows.
// clang-tidy 14 flags the parameter it names __i0 in this class's implicit member functions.
class MlpWorkspace { // NOLINT(bugprone-reserved-identifier)
public:
  MlpWorkspace() = default;
  MlpWorkspace(const MlpConfig& config, index_t max_rows);

  index_t max_rows() const { return m_max_rows; }
  /// Largest pair batch that fits in one pass (max_rows() / 2).
  index_t max_pairs() const { return m_max_rows / 2; }
  /// Feature rows of the last forward pass held here.
  index_t rows() const { return m_rows; }

private:
  friend class MlpPolicy;
  enum class Cached { None, Rows, Pairs, Options };

  MlpConfig m_config;
  index_t m_max_rows = 0;
  std::vector<Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>> m_h; ///< h_0 .. h_L
  std::vector<Kokkos::View<double**, Kokkos::LayoutRight, MemSpace>> m_z; ///< -, z_1 .. z_L
  Kokkos::View<double**, Kokkos::LayoutRight, MemSpace> m_delta[2];       ///< back-propagated
  View1<double> m_scores;         ///< [max_rows] f of the rows of the last forward
  View1<double> m_upstream;       ///< [max_rows] df for the pair and option backward passes
  View1<double> m_ones;           ///< [max_rows] ones (bias gradients as products)
  View1<index_t> m_gather;        ///< [max_rows] option rows of an option batch
  View1<index_t> m_batch_offsets; ///< [max_rows + 1] option offsets of the batch rows
  View1<int> m_targets;           ///< [max_rows] target position of each batch row
  View1<double> m_lse;            ///< [max_rows] log-sum-exp of each batch row's scores
  Cached m_cached = Cached::None;
  index_t m_rows = 0;  ///< feature rows of the last forward
  index_t m_batch = 0; ///< pairs (Pairs) or prompt rows (Options) of the last forward
};

class MlpPolicy {
public:
  MlpPolicy() = default;
  /// A policy with parameters initialised from `seed` (see initialize()).
  MlpPolicy(MlpConfig config, std::uint64_t seed);
  /// Copies are deep: the frozen reference policy is a copy of the initial (or SFT) network.
  MlpPolicy(const MlpPolicy& other);
  MlpPolicy& operator=(const MlpPolicy& other);
  MlpPolicy(MlpPolicy&&) = default;
  MlpPolicy& operator=(MlpPolicy&&) = default;
  ~MlpPolicy() = default;

  using workspace_type = MlpWorkspace;

  const MlpConfig& config() const { return m_config; }
  index_t num_params() const { return m_config.num_params(); }
  int input_dim() const { return m_config.input_dim; }
  /// Scratch for pair batches of up to max_pairs pairs (2 max_pairs feature rows).
  MlpWorkspace workspace(index_t max_pairs) const { return {m_config, 2 * max_pairs}; }
  /// The flat parameter vector (device; layout in the file comment). Writable: optimisers
  /// update it in place.
  View1<double> params() const { return m_params; }

  /// Seeded, rank-invariant initialisation: parameter p is a pure function of (seed, p) through
  /// rng::hash(seed, kStreamMlpInit, p). Weights W_l ~ U(-s, s): Glorot for tanh
  /// (s = sqrt(6 / (fan_in + fan_out))), He for relu and gelu (s = sqrt(6 / fan_in)); the linear
  /// output layer w uses Glorot with fan_out = 1 whatever the activation. Biases are 0.
  void initialize(std::uint64_t seed);
  /// Deep copies of the parameters in and out (num_params() entries; ConfigError otherwise).
  void set_params(const View1<const double>& values);
  void set_params(const std::vector<double>& values);
  std::vector<double> params_host() const;

  // --- Rows of one feature table -------------------------------------------------------------

  /// scores(i) = f(features(row_i)) for the rows of `rows` (at most ws.max_rows()); keeps the
  /// activations in `ws` for backward().
  void forward(const ExecSpace& space, MlpWorkspace& ws, const FeatureView& features,
               const RowSelection& rows, const View1<double>& scores) const;
  /// grad += sum_i upstream(i) * df(phi_i)/dparams over the feature rows of the last forward on
  /// `ws` (ws.rows() of them), with the parameters unchanged since. Row order: the batch order
  /// after forward(); chosen rows 0 .. B-1 then rejected rows B .. 2B-1 after pair_margins();
  /// the options of each prompt, prompt after prompt, after option_log_probs().
  void backward(const ExecSpace& space, MlpWorkspace& ws, const View1<const double>& upstream,
                const View1<double>& grad) const;

  // --- Preference pairs ----------------------------------------------------------------------

  /// out(i) = f(chosen(row_i)) - f(rejected(row_i)) for the pairs of `rows` (the caller
  /// subtracts the reference log-ratio). Batches above ws.max_pairs() run in chunks; a batch that
  /// fits keeps its activations for accumulate_pair_gradient(space, ws, coeff, grad).
  void pair_margins(const ExecSpace& space, MlpWorkspace& ws, const FeatureView& chosen,
                    const FeatureView& rejected, const RowSelection& rows,
                    const View1<double>& out) const;
  /// The same on a split's pair features (needs split.has_pair_features()): the Policy
  /// concept's margins.
  void margins(const ExecSpace& space, MlpWorkspace& ws, const PreferenceSplit& split,
               const RowSelection& rows, const View1<double>& out) const;
  /// grad += sum_i coeff(i) * (df(chosen_i) - df(rejected_i))/dparams for the batch of the last
  /// pair_margins call on `ws` (which must have fitted in one pass; parameters unchanged since).
  void accumulate_pair_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                const View1<const double>& coeff, const View1<double>& grad) const;
  /// The same for any batch, recomputing the forward pass (in chunks when it does not fit).
  void accumulate_pair_gradient(const ExecSpace& space, MlpWorkspace& ws, const FeatureView& chosen,
                                const FeatureView& rejected, const RowSelection& rows,
                                const View1<const double>& coeff, const View1<double>& grad) const;
  /// The same on a split's pair features: the Policy concept's accumulate_gradient.
  void accumulate_gradient(const ExecSpace& space, MlpWorkspace& ws, const PreferenceSplit& split,
                           const RowSelection& rows, const View1<const double>& coeff,
                           const View1<double>& grad) const;

  // --- Full softmax over the options of a prompt ---------------------------------------------

  /// out(i) = log pi(target | x) = f(target) - logsumexp_k f(option_k) for the prompt rows of
  /// `rows`, the target being option targets(row_i) of row row_i (e.g. split.chosen_option for
  /// SFT). All options of the batch must fit in ws.max_rows() (ConfigError otherwise: split the
  /// batch). Keeps the activations for accumulate_log_prob_gradient(space, ws, coeff, grad).
  void option_log_probs(const ExecSpace& space, MlpWorkspace& ws, const OptionSet& options,
                        const View1<const int>& targets, const RowSelection& rows,
                        const View1<double>& out) const;
  /// grad += sum_i coeff(i) * d log pi(target_i | x_i)/dparams for the batch of the last
  /// option_log_probs call on `ws` (parameters unchanged since).
  void accumulate_log_prob_gradient(const ExecSpace& space, MlpWorkspace& ws,
                                    const View1<const double>& coeff,
                                    const View1<double>& grad) const;

  /// The options of a split (needs split.has_options()).
  static OptionSet options_of(const PreferenceSplit& split);

private:
  void check_workspace(const MlpWorkspace& ws, const char* what) const;
  /// Runs the hidden layers and the output layer on ws.m_h[0] (rows already loaded).
  void run_layers(const ExecSpace& space, MlpWorkspace& ws, index_t rows) const;
  /// Pair forward of one chunk that fits: loads chosen then rejected rows, runs the layers.
  void pair_forward(const ExecSpace& space, MlpWorkspace& ws, const FeatureView& chosen,
                    const FeatureView& rejected, const RowSelection& rows) const;
  void pair_backward(const ExecSpace& space, MlpWorkspace& ws, const View1<const double>& coeff,
                     index_t coeff_offset, const View1<double>& grad) const;

  MlpConfig m_config;
  View1<double> m_params;
};

static_assert(is_policy_v<MlpPolicy>, "MlpPolicy models the Policy concept");

} // namespace grpo::policies
