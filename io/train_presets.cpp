#include "io/train_presets.hpp"

#include "core/error.hpp"

namespace grpo::io {

namespace {
const char* const kSettings[] = {"even-imbalanced", "uneven-balanced", "uneven-imbalanced"};
} // namespace

std::vector<std::string> train_preset_names() {
  std::vector<std::string> names{"paper"};
  for (const char* s : kSettings) {
    names.push_back(std::string("paper-") + s);
  }
  return names;
}

TrainPreset train_preset(const std::string& name, solver::Method method,
                         const std::string& dataset_setting, const std::string& dataset_path) {
  std::string setting;
  if (name == "paper") {
    setting = dataset_setting;
    if (setting.empty()) {
      throw ConfigError("option --preset: 'paper' takes its setting from the dataset's 'preset' "
                        "attribute, and '" +
                        dataset_path +
                        "' has none; use --preset paper-even-imbalanced (or another "
                        "paper-<setting>) or explicit options");
    }
  } else if (name.rfind("paper-", 0) == 0) {
    setting = name.substr(6);
  } else {
    std::string accepted;
    for (const auto& n : train_preset_names()) {
      accepted += (accepted.empty() ? "" : ", ") + n;
    }
    throw ConfigError("option --preset: invalid value '" + name + "' (accepted: " + accepted + ")");
  }
  TrainPreset p;
  auto& c = p.config;
  c.method = method;
  // Common bandit settings (§7.1).
  c.param_limit = 5.0;
  c.chi = 1.0;
  c.sampling = solver::Sampling::CodeBatch;
  c.batch_size = 0;
  c.seed = 2021;
  p.trace_every = 100;
  if (c.loss() == solver::LossType::Ipo) {
    // IPO family of the paper plots (§7.4): closed form, beta 0.1, eta_alpha 0.01, lambda 0;
    // GR-IPO 100 iterations, IPO and IS-IPO 10 (alpha frozen: every iteration is the same).
    c.closed_form = true;
    c.beta = 0.1;
    c.step_alpha = 0.01;
    c.ridge = 0.0;
    c.iterations = method == solver::Method::GrIpo ? 100 : 10;
    bool known = false;
    for (const char* s : kSettings) {
      known = known || setting == s;
    }
    if (!known) {
      throw ConfigError("option --preset: unknown paper setting '" + setting +
                        "' (accepted: even-imbalanced, uneven-balanced, uneven-imbalanced)");
    }
    return p;
  }
  // DPO family: the reproduce scripts of §7.2.
  if (setting == "even-imbalanced") {
    c.beta = 1.0;
    c.step_theta = 0.5;
    c.step_alpha = 0.9;
    c.iterations = 10000;
  } else if (setting == "uneven-balanced") {
    c.beta = 2.0;
    c.step_theta = 5.0;
    c.step_alpha = 0.01;
    c.iterations = 5000;
  } else if (setting == "uneven-imbalanced") {
    c.beta = 1.0;
    c.step_theta = 0.9;
    c.step_alpha = 0.5;
    c.iterations = 20000;
  } else {
    throw ConfigError("option --preset: unknown paper setting '" + setting +
                      "' (accepted: even-imbalanced, uneven-balanced, uneven-imbalanced)");
  }
  return p;
}

} // namespace grpo::io
