// The parts of `grpo train` that do not depend on the policy: the run's paths and settings, the
// learning-rate schedule's data check and trace attributes, and the progress line. The policies'
// own parts are apps/train_policy.hpp; the one run path is apps/cmd_train.cpp. Internal to apps/.
#pragma once

#include "apps/options.hpp"
#include "core/error.hpp"
#include "core/trace_record.hpp"
#include "io/dataset.hpp"
#include "io/run_checkpoint.hpp"
#include "solver/lr_schedule.hpp"

#include <cstdio>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace grpo::app {

/// --dataset and --out, both required and distinct (ConfigError otherwise).
struct RunPaths {
  std::string dataset;
  std::string out;
};
RunPaths required_paths(const ParsedOptions& parsed);

/// The training split's pairs per group (N_g).
std::vector<index_t> train_group_sizes(const io::DatasetSummary& data);

/// What every run has besides its policy's configuration.
struct RunSettings {
  RunPaths paths;
  io::CheckpointSettings checkpoint;
  index_t trace_every = 100;
  bool quiet = false;
};

/// The learning-rate schedule (both policies; its options are rows of apps/train_options.cpp):
/// the check that a plateau schedule has a validation split, and the trace attributes at the end
/// of a run with a schedule (steps_done, lr_drops, stopped_early; none without one).
void check_schedule_data(const solver::LrScheduleConfig& config, const io::DatasetSummary& data);
std::map<std::string, std::int64_t> schedule_attributes(const solver::LrSchedule& schedule,
                                                        index_t steps_done);

/// Progress on stderr (rank 0): step, worst-group loss, steps/s; at most once a second.
class Progress {
public:
  Progress(bool enabled, index_t total, index_t first = 0, double wall0 = 0.0)
      : m_enabled(enabled)
      , m_total(total)
      , m_first(first)
      , m_last(wall0)
      , m_wall0(wall0) {
    m_tty = isatty(fileno(stderr)) != 0;
  }
  void update(const TraceRecord& r) {
    if (!m_enabled) {
      return;
    }
    const bool last = r.iteration + 1 >= m_total;
    if (!last && r.wall_seconds - m_last < 1.0 && m_printed) {
      return;
    }
    m_last = r.wall_seconds;
    m_printed = true;
    const double elapsed = r.wall_seconds - m_wall0;
    const double rate =
        elapsed > 0 ? static_cast<double>(r.iteration + 1 - m_first) / elapsed : 0.0;
    const bool has_val = !r.val_loss.empty();
    std::string extra;
    if (!r.reward_error.empty()) {
      extra += "  max reward err " + format_double(r.max_reward_error);
    }
    if (r.has_gap) {
      extra += "  gap " + format_double(r.gap_avg.gap);
    }
    std::fprintf(stderr, "%sstep %lld/%lld  worst %s loss %.6g%s  %.3g steps/s%s",
                 m_tty ? "\r" : "", static_cast<long long>(r.iteration) + 1,
                 static_cast<long long>(m_total), has_val ? "val" : "train",
                 has_val ? r.worst_val_loss : r.worst_train_loss, extra.c_str(), rate,
                 m_tty && !last ? "" : "\n");
    std::fflush(stderr);
  }

private:
  bool m_enabled;
  index_t m_total;
  bool m_tty = false;
  bool m_printed = false;
  index_t m_first = 0; ///< steps already done when this process started (resumed runs)
  double m_last = 0.0;
  double m_wall0 = 0.0;
};

} // namespace grpo::app
