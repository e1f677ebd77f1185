// The learning-rate schedule of `grpo train`, shared by both policies: the check that a plateau
// schedule has a validation split to observe, and the trace attributes of a run with a schedule.
// The schedule's options are rows of the option table (apps/train_options.cpp).
#include "apps/train_common.hpp"

namespace grpo::app {

void check_schedule_data(const solver::LrScheduleConfig& c, const io::DatasetSummary& data) {
  if (c.type != solver::LrScheduleType::Plateau) {
    return;
  }
  const auto* val = data.split("val");
  if (val == nullptr || val->offsets.empty() || val->offsets.back() == 0) {
    throw ConfigError("option --lr-schedule: 'plateau' observes the validation loss, and '" +
                      data.path + "' has no validation split");
  }
}

std::map<std::string, std::int64_t> schedule_attributes(const solver::LrSchedule& schedule,
                                                        index_t steps_done) {
  if (!schedule.config().active()) {
    return {};
  }
  return {{"steps_done", steps_done},
          {"lr_drops", schedule.drops()},
          {"stopped_early", schedule.stopped() ? 1 : 0}};
}

} // namespace grpo::app
