// The [[experiment]] tables of a study file (jobs/study_file_impl.hpp): kind, data sets,
// methods, seeds, ranks, fixed options, the grid and the listed cases; then the bound on the
// number of runs and the expansion of every combination, each checked by the option check.
#include "core/error.hpp"
#include "jobs/study_file_impl.hpp"

#include <algorithm>

namespace grpo::jobs::study_detail {

namespace {

/// Training runs an experiment may have (the plan holds every task in memory and in plan.json).
constexpr std::size_t kMaxRuns = 200000;

const char* const kMethods[] = {"dpo", "ipo", "is-dpo", "is-ipo", "gr-dpo", "gr-ipo"};

/// Options a study sets itself, or that make no sense inside one.
const std::set<std::string> kReservedTrain = {"dataset", "out",  "config", "help",
                                              "method",  "seed", "quiet"};

} // namespace

ExperimentSpec Parser::parse_experiment(const toml::table& t, int index, const StudySpec& s,
                                        const std::vector<std::uint64_t>& seeds, int ranks) const {
  const std::string anon = "experiment[" + std::to_string(index) + "]";
  expect_keys(t, anon + ".",
              {"name", "kind", "x", "data", "methods", "seeds", "ranks", "options", "grid", "cases",
               "selection"});
  ExperimentSpec e;
  e.name = name_at(t, "name", anon + ".name");
  const std::string key = "experiment." + e.name;
  e.kind = string_at(t, "kind", key + ".kind", false);
  if (e.kind.empty()) {
    e.kind = "grid";
  }
  if (e.kind != "grid" && e.kind != "rate") {
    fail(key + ".kind", *t.get("kind"), "invalid value '" + e.kind + "' (expected grid or rate)");
  }
  e.ranks = int_at(t, "ranks", key + ".ranks", ranks, 1, 65536);
  e.seeds = t.contains("seeds") ? seeds_at(*t.get("seeds"), key + ".seeds") : seeds;
  if (const toml::node* d = t.get("data")) {
    e.data = strings_at(*d, key + ".data");
    for (const auto& name : e.data) {
      const bool known = std::any_of(s.data.begin(), s.data.end(),
                                     [&](const DataSpec& x) { return x.name == name; });
      if (!known) {
        fail(key + ".data", *d, "unknown data set '" + name + "' (define it under [data])");
      }
    }
  } else {
    for (const auto& spec : s.data) {
      e.data.push_back(spec.name);
    }
  }
  const toml::node* m = t.get("methods");
  if (m == nullptr) {
    throw ConfigError(where(key + ".methods") +
                      ": missing (a list of dpo, ipo, is-dpo, is-ipo, gr-dpo, gr-ipo)");
  }
  e.methods = strings_at(*m, key + ".methods");
  for (const auto& method : e.methods) {
    if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
      fail(key + ".methods", *m,
           "invalid method '" + method + "' (expected dpo, ipo, is-dpo, is-ipo, gr-dpo or gr-ipo)");
    }
  }
  std::set<std::string> varied;
  if (const toml::table* o = table_at(t, "options", key + ".options", false)) {
    e.options = options_of(*o, key + ".options.", kReservedTrain);
  }
  if (const toml::table* g = table_at(t, "grid", key + ".grid", false)) {
    for (auto&& [name, node] : *g) {
      const std::string k(name.str());
      const std::string gkey = key + ".grid." + k;
      if (kReservedTrain.count(k) > 0) {
        fail(gkey, node, "set by the study itself (use 'methods' and 'seeds')");
      }
      const auto* a = node.as_array();
      if (a == nullptr || a->empty()) {
        fail(gkey, node, "expected a non-empty list of values");
      }
      std::vector<std::string> values;
      for (auto&& item : *a) {
        values.push_back(text_of(item, gkey, true));
      }
      e.grid.emplace_back(k, values);
      varied.insert(k);
    }
  }
  if (const toml::node* c = t.get("cases")) {
    if (!c->is_array_of_tables() || c->as_array()->empty()) {
      fail(key + ".cases", *c, "expected a list of tables ([[experiment.cases]])");
    }
    for (auto&& item : *c->as_array()) {
      auto list = options_of(*item.as_table(), key + ".cases.", kReservedTrain);
      for (const auto& [k, v] : list) {
        varied.insert(k);
      }
      e.cases.push_back(std::move(list));
    }
  }
  e.x = string_at(t, "x", key + ".x", e.kind == "rate");
  if (e.kind == "rate" && varied.count(e.x) == 0) {
    fail(key + ".x", *t.get("x"), "'" + e.x + "' is not varied by this experiment's grid or cases");
  }
  if (const toml::table* sel = table_at(t, "selection", key + ".selection", false)) {
    if (e.kind != "grid") {
      fail(key + ".selection", *sel, "only grid experiments select (this one is kind rate)");
    }
    e.selection = parse_selection(*sel, key + ".selection", varied);
  }
  check_runs(e, t, key, s);
  return e;
}

SelectionSpec Parser::parse_selection(const toml::table& t, const std::string& key,
                                      const std::set<std::string>& varied) const {
  expect_keys(t, key + ".", {"metric", "goal", "over", "statistic"});
  SelectionSpec sel;
  sel.metric = string_at(t, "metric", key + ".metric", true);
  if (!is_selection_metric(sel.metric)) {
    fail(key + ".metric", *t.get("metric"),
         "unknown metric '" + sel.metric +
             "' (expected a scalar trace column, e.g. worst_val_loss, max_reward_error, gap, "
             "worst_test_loss; docs/studies.md lists them)");
  }
  sel.goal = string_at(t, "goal", key + ".goal", true);
  if (sel.goal != "min" && sel.goal != "max") {
    fail(key + ".goal", *t.get("goal"), "invalid value '" + sel.goal + "' (expected min or max)");
  }
  const toml::node* over = t.get("over");
  if (over == nullptr) {
    throw ConfigError(where(key + ".over") +
                      ": missing (a list of options varied by the grid or cases)");
  }
  sel.over = strings_at(*over, key + ".over");
  std::set<std::string> seen;
  for (const auto& name : sel.over) {
    if (varied.count(name) == 0) {
      fail(key + ".over", *over, "'" + name + "' is not varied by this experiment's grid or cases");
    }
    if (!seen.insert(name).second) {
      fail(key + ".over", *over, "'" + name + "' is listed twice");
    }
  }
  const std::string statistic = string_at(t, "statistic", key + ".statistic", false);
  if (!statistic.empty()) {
    if (statistic != "mean" && statistic != "median") {
      fail(key + ".statistic", *t.get("statistic"),
           "invalid value '" + statistic + "' (expected mean or median)");
    }
    sel.statistic = statistic;
  }
  return sel;
}

void Parser::check_runs(const ExperimentSpec& e, const toml::table& t, const std::string& key,
                        const StudySpec& s) const {
  std::map<std::string, Source> sources;
  if (const toml::table* o = t.get_as<toml::table>("options")) {
    for (const auto& kv : e.options) {
      sources[kv.first] = {key + ".options." + kv.first, o->get(kv.first)};
    }
  }
  if (const toml::table* g = t.get_as<toml::table>("grid")) {
    for (const auto& kv : e.grid) {
      sources[kv.first] = {key + ".grid." + kv.first, g->get(kv.first)};
    }
  }
  if (const toml::array* cases = t.get_as<toml::array>("cases")) {
    for (auto&& item : *cases) {
      for (auto&& [name, node] : *item.as_table()) {
        sources[std::string(name.str())] = {key + ".cases." + std::string(name.str()), &node};
      }
    }
  }
  // A bound on the task graph before it is expanded: the plan holds every task in memory.
  double runs = static_cast<double>(e.data.size() * e.methods.size() * e.seeds.size()) *
                static_cast<double>(std::max<std::size_t>(e.cases.size(), 1));
  for (const auto& kv : e.grid) {
    runs *= static_cast<double>(kv.second.size());
  }
  if (runs > static_cast<double>(kMaxRuns)) {
    fail(key, t,
         format_double(runs) +
             " training runs (data x methods x grid x cases x seeds); at "
             "most " +
             std::to_string(kMaxRuns) + " per experiment");
  }
  // Every combination's options, checked once per data set (presets read the data).
  for (const auto& data_name : e.data) {
    const auto& data = *std::find_if(s.data.begin(), s.data.end(),
                                     [&](const DataSpec& x) { return x.name == data_name; });
    for (const auto& method : e.methods) {
      OptionList base{{"method", method}};
      base.insert(base.end(), e.options.begin(), e.options.end());
      std::vector<OptionList> combos{base};
      for (const auto& [k, values] : e.grid) {
        std::vector<OptionList> next;
        for (const auto& c : combos) {
          for (const auto& v : values) {
            next.push_back(c);
            next.back().emplace_back(k, v);
          }
        }
        combos = std::move(next);
      }
      for (const auto& c : combos) {
        if (e.cases.empty()) {
          checked("train", c, &data, key, t, sources);
        }
        for (const auto& extra : e.cases) {
          OptionList full(c);
          full.insert(full.end(), extra.begin(), extra.end());
          checked("train", full, &data, key, t, sources);
        }
      }
    }
  }
}

} // namespace grpo::jobs::study_detail
