// The plain records of a run that io writes and reads and the solver fills: one row of a trace
// (TraceRecord, with its fixed column names and order) and a certified duality gap
// (GapCertificate). No solver types: io includes this without the solver (docs/formats.md lists
// the columns; io/trace_writer.hpp writes them, io/trace_reader.hpp reads them back).
#pragma once

#include "core/views.hpp"

#include <string>
#include <vector>

namespace grpo {

/// The certificate of a pair (theta, alpha): F(theta, .) maximised over the simplex and
/// F(., alpha) minimised over theta (solver/certificate.hpp computes it).
struct GapCertificate {
  double upper = 0.0;         ///< max_alpha F(theta, alpha)
  double lower = 0.0;         ///< min_theta F(theta, alpha) (a certified lower bound)
  double gap = 0.0;           ///< upper - lower
  double residual = 0.0;      ///< inner solve: last Newton decrement^2 / 2 (0 when exact)
  int inner_passes = 0;       ///< passes over the local rows the inner solve took
  std::vector<double> losses; ///< L_g(theta) on the training split
};

/// One row of a trace. Vector quantities have K (per group) or P (theta) entries.
struct TraceRecord {
  index_t iteration = 0;
  double wall_seconds = 0.0;
  std::vector<double> alpha;      ///< group weights after the update
  std::vector<double> weights;    ///< mixing weights w_g
  std::vector<double> train_loss; ///< L_g(theta) on the full training split
  std::vector<double> val_loss;   ///< L_g(theta) on the validation split (if any)
  std::vector<double> batch_loss; ///< the estimate that drove this update
  double worst_train_loss = 0.0;
  double worst_val_loss = 0.0;
  double objective = 0.0;               ///< (1-chi) mean_g L_g + chi max_g L_g + l2 ||theta||^2
  std::vector<double> reward_error;     ///< relative, argmax policy (if the truth is known)
  std::vector<double> reward_error_abs; ///< absolute
  double max_reward_error = 0.0;
  std::vector<double> kl;
  double max_kl = 0.0;
  std::vector<double> theta;
  double grad_norm = 0.0;
  double param_norm = 0.0;
  double step_theta = 0.0;
  double step_alpha = 0.0;
  double live_grad = 0.0;
  double empty_group_steps = 0.0;
  /// Certified duality gap (when requested): of the averaged iterates (theta_avg, alpha_avg)
  /// and of the last iterates (theta, alpha).
  bool has_gap = false;
  GapCertificate gap_avg;
  GapCertificate gap_last;

  /// One named column of a trace: a scalar per record, or a vector (K or P entries).
  struct Column {
    std::string name;
    std::vector<double> values;
    bool is_vector = false;
  };
  /// Further columns of other policies (the MLP's accuracies, test metrics, ...), written after
  /// the fixed ones.
  std::vector<Column> extra;
  /// The columns (iteration excluded) in a fixed order; absent metrics are left out.
  std::vector<Column> columns() const;
};

} // namespace grpo
