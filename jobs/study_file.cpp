#include "jobs/study_file.hpp"

#include "core/error.hpp"
#include "io/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace grpo::jobs {

namespace fs = std::filesystem;

bool is_safe_id(const std::string& id) {
  if (id.empty() || id.size() > 200) {
    return false;
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
      return false;
    }
  }
  return true;
}

bool is_safe_name(const std::string& name) { return name.size() <= 64 && is_safe_id(name); }

const char* const kConvertSources[2] = {"globalopinionqa", "pairs"};

namespace {

/// Training runs an experiment may have (the plan holds every task in memory and in plan.json).
constexpr std::size_t kMaxRuns = 200000;

const char* const kMethods[] = {"dpo", "ipo", "is-dpo", "is-ipo", "gr-dpo", "gr-ipo"};

/// Options a study sets itself, or that make no sense inside one.
const std::set<std::string> kReservedTrain = {"dataset", "out",  "config", "help",
                                              "method",  "seed", "quiet"};
const std::set<std::string> kReservedGenerate = {"out", "config", "help"};
const std::set<std::string> kReservedConvert = {"out", "config", "help"};

/// Where in the file an option of a run was set.
struct Source {
  std::string key;
  const toml::node* node = nullptr;
};

class Parser {
public:
  Parser(std::string file, std::string cwd, const OptionCheck& check)
      : m_file(std::move(file))
      , m_cwd(std::move(cwd))
      , m_check(check) {}

  StudySpec parse() {
    std::error_code ec;
    if (!fs::is_regular_file(m_file, ec)) {
      throw IoError("study file '" + m_file + "': cannot open (no such file)");
    }
    toml::table root;
    try {
      root = toml::parse_file(m_file);
    } catch (const toml::parse_error& e) {
      std::ostringstream o;
      o << "study file '" << m_file << "' line " << e.source().begin.line << ": "
        << e.description();
      throw ConfigError(o.str());
    }
    StudySpec s;
    s.file = fs::absolute(m_file).lexically_normal().string();
    expect_keys(root, "", {"study", "slurm", "data", "experiment"});
    const toml::table* study = table_at(root, "study", "study", true);
    expect_keys(*study, "study.",
                {"name", "output", "executor", "jobs", "ranks", "mpiexec", "python", "seeds"});
    s.name = name_at(*study, "name", "study.name");
    const std::string output = string_at(*study, "output", "study.output", false);
    s.output = absolute_from(output.empty() ? "run/" + s.name : output, m_cwd);
    s.executor = string_at(*study, "executor", "study.executor", false);
    if (s.executor.empty()) {
      s.executor = "local";
    }
    if (s.executor != "local" && s.executor != "slurm") {
      fail("study.executor", *study->get("executor"),
           "invalid value '" + s.executor + "' (expected local or slurm)");
    }
    s.jobs = int_at(*study, "jobs", "study.jobs", 0, 0, 4096);
    const int ranks = int_at(*study, "ranks", "study.ranks", 1, 1, 65536);
    const std::string mpiexec = string_at(*study, "mpiexec", "study.mpiexec", false);
    if (!mpiexec.empty()) {
      s.mpiexec = mpiexec;
    }
    s.python = string_at(*study, "python", "study.python", false);
    std::vector<std::uint64_t> seeds{0};
    if (study->contains("seeds")) {
      seeds = seeds_at(*study->get("seeds"), "study.seeds");
    }

    if (const toml::table* slurm = table_at(root, "slurm", "slurm", false)) {
      parse_slurm(*slurm, s.slurm);
    }
    const toml::table* data = table_at(root, "data", "data", true);
    for (auto&& [key, node] : *data) {
      s.data.push_back(parse_data(std::string(key.str()), node));
    }
    if (s.data.empty()) {
      throw ConfigError(where("data") + ": no data set defined (add a [data.NAME] table)");
    }
    const toml::node* experiments = root.get("experiment");
    if (experiments == nullptr || !experiments->is_array_of_tables() ||
        experiments->as_array()->empty()) {
      throw ConfigError(where("experiment") + ": missing (add at least one [[experiment]] table)");
    }
    std::set<std::string> names;
    int index = 0;
    for (auto&& node : *experiments->as_array()) {
      auto e = parse_experiment(*node.as_table(), index++, s, seeds, ranks);
      if (!names.insert(e.name).second) {
        fail("experiment.name", node, "duplicate experiment name '" + e.name + "'");
      }
      s.experiments.push_back(std::move(e));
    }
    return s;
  }

private:
  std::string where(const std::string& key) const {
    return "study file '" + m_file + "': key '" + key + "'";
  }
  std::string where(const std::string& key, const toml::node& node) const {
    std::ostringstream o;
    o << "study file '" << m_file << "' line " << node.source().begin.line << ": key '" << key
      << "'";
    return o.str();
  }
  [[noreturn]] void fail(const std::string& key, const toml::node& node,
                         const std::string& what) const {
    throw ConfigError(where(key, node) + ": " + what);
  }

  void expect_keys(const toml::table& t, const std::string& prefix,
                   const std::set<std::string>& allowed) const {
    for (auto&& [key, node] : t) {
      const std::string k(key.str());
      if (allowed.count(k) == 0) {
        std::string list;
        for (const auto& a : allowed) {
          list += (list.empty() ? "" : ", ") + a;
        }
        fail(prefix + k, node, "unknown key (expected one of: " + list + ")");
      }
    }
  }

  const toml::table* table_at(const toml::table& t, const char* name, const std::string& key,
                              bool required) const {
    const toml::node* node = t.get(name);
    if (node == nullptr) {
      if (required) {
        throw ConfigError(where(key) + ": missing (a [" + key + "] table is required)");
      }
      return nullptr;
    }
    if (!node->is_table()) {
      fail(key, *node, "expected a table");
    }
    return node->as_table();
  }

  /// Scalar (or array of scalars, comma-joined) as command-line text.
  std::string text_of(const toml::node& node, const std::string& key, bool allow_array) const {
    std::string out;
    if (const auto* s = node.as_string()) {
      out = s->get();
    } else if (const auto* i = node.as_integer()) {
      out = std::to_string(i->get());
    } else if (const auto* f = node.as_floating_point()) {
      out = format_double(f->get());
    } else if (const auto* b = node.as_boolean()) {
      out = b->get() ? "true" : "false";
    } else if (const auto* a = node.as_array(); a != nullptr && allow_array) {
      for (auto&& item : *a) {
        if (item.is_array() || item.is_table()) {
          fail(key, item, "expected a scalar in this list");
        }
        out += (out.empty() ? "" : ",") + text_of(item, key, false);
      }
      if (a->empty()) {
        fail(key, node, "empty list");
      }
    } else {
      fail(key, node, "expected a string, number or boolean");
    }
    for (const char c : out) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        fail(key, node, "control characters (newline, tab, ...) are not allowed in values");
      }
    }
    return out;
  }

  std::string string_at(const toml::table& t, const char* name, const std::string& key,
                        bool required) const {
    const toml::node* node = t.get(name);
    if (node == nullptr) {
      if (required) {
        throw ConfigError(where(key) + ": missing");
      }
      return "";
    }
    if (!node->is_string()) {
      fail(key, *node, "expected a string");
    }
    return text_of(*node, key, false);
  }

  std::string name_at(const toml::table& t, const char* name, const std::string& key) const {
    std::string value = string_at(t, name, key, true);
    if (!is_safe_name(value)) {
      fail(key, *t.get(name),
           "invalid name '" + value +
               "' (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 64)");
    }
    return value;
  }

  int int_at(const toml::table& t, const char* name, const std::string& key, int fallback, int lo,
             int hi) const {
    const toml::node* node = t.get(name);
    if (node == nullptr) {
      return fallback;
    }
    const auto* i = node->as_integer();
    if (i == nullptr || i->get() < lo || i->get() > hi) {
      fail(key, *node,
           "invalid value '" + text_of(*node, key, true) + "' (expected an integer in [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "])");
    }
    return static_cast<int>(i->get());
  }

  std::vector<std::string> strings_at(const toml::node& node, const std::string& key) const {
    std::vector<std::string> out;
    if (node.is_string()) {
      out.push_back(text_of(node, key, false));
      return out;
    }
    const auto* a = node.as_array();
    if (a == nullptr || a->empty()) {
      fail(key, node, "expected a string or a non-empty list of strings");
    }
    for (auto&& item : *a) {
      if (!item.is_string()) {
        fail(key, item, "expected a string");
      }
      out.push_back(text_of(item, key, false));
    }
    return out;
  }

  /// `seeds = N` (0 .. N-1), `seeds = { first = F, count = N }` (F .. F+N-1) or a list of
  /// non-negative integers.
  std::vector<std::uint64_t> seeds_at(const toml::node& node, const std::string& key) const {
    std::vector<std::uint64_t> out;
    if (const auto* range = node.as_table()) {
      expect_keys(*range, key + ".", {"first", "count"});
      const int count = int_at(*range, "count", key + ".count", 0, 1, 100000);
      const toml::node* first = range->get("first");
      if (count == 0 || first == nullptr || !first->is_integer() ||
          first->as_integer()->get() < 0) {
        fail(key, node, "expected { first = F, count = N } with F >= 0 and N >= 1");
      }
      for (int i = 0; i < count; ++i) {
        out.push_back(static_cast<std::uint64_t>(first->as_integer()->get()) +
                      static_cast<std::uint64_t>(i));
      }
      return out;
    }
    if (const auto* i = node.as_integer()) {
      if (i->get() < 1 || i->get() > 100000) {
        fail(key, node,
             "invalid value '" + std::to_string(i->get()) +
                 "' (a count in [1, 100000], or a list of seeds)");
      }
      for (std::int64_t s = 0; s < i->get(); ++s) {
        out.push_back(static_cast<std::uint64_t>(s));
      }
      return out;
    }
    const auto* a = node.as_array();
    if (a == nullptr || a->empty()) {
      fail(key, node, "expected a count or a non-empty list of integers");
    }
    std::set<std::uint64_t> seen;
    for (auto&& item : *a) {
      const auto* i = item.as_integer();
      if (i == nullptr || i->get() < 0) {
        fail(key, item, "expected a non-negative integer seed");
      }
      if (!seen.insert(static_cast<std::uint64_t>(i->get())).second) {
        fail(key, item, "duplicate seed " + std::to_string(i->get()));
      }
      out.push_back(static_cast<std::uint64_t>(i->get()));
    }
    return out;
  }

  void parse_slurm(const toml::table& t, SlurmResources& r) const {
    expect_keys(
        t, "slurm.",
        {"partition", "account", "qos", "time", "memory", "cpus-per-task", "throttle", "sbatch"});
    const auto word = [&](const char* name, const char* extra) {
      std::string v = string_at(t, name, std::string("slurm.") + name, false);
      for (const char c : v) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || std::string(extra).find(c) != std::string::npos;
        if (!ok) {
          fail(std::string("slurm.") + name, *t.get(name),
               "invalid value '" + v + "' (allowed: letters, digits and '" + extra + "')");
        }
      }
      return v;
    };
    r.partition = word("partition", "_.-,");
    r.account = word("account", "_.-");
    r.qos = word("qos", "_.-");
    r.time = word("time", ":-");
    r.memory = word("memory", "");
    r.cpus_per_task = int_at(t, "cpus-per-task", "slurm.cpus-per-task", 1, 1, 4096);
    r.throttle = int_at(t, "throttle", "slurm.throttle", 0, 0, 1000000);
    if (const toml::node* extra = t.get("sbatch")) {
      for (const auto& line : strings_at(*extra, "slurm.sbatch")) {
        if (line.rfind("--", 0) != 0 || line.size() < 3) {
          fail("slurm.sbatch", *extra,
               "invalid value '" + line + "' (each entry is one sbatch option, e.g. '--qos=low')");
        }
        r.extra.push_back(line);
      }
    }
  }

  OptionList options_of(const toml::table& t, const std::string& key_prefix,
                        const std::set<std::string>& reserved) const {
    OptionList out;
    for (auto&& [key, node] : t) {
      const std::string k(key.str());
      if (reserved.count(k) > 0) {
        fail(key_prefix + k, node, "set by the study itself; remove it");
      }
      out.emplace_back(k, text_of(node, key_prefix + k, true));
    }
    return out;
  }

  DataSpec parse_data(const std::string& name, const toml::node& node) const {
    const std::string key = "data." + name;
    if (!is_safe_name(name)) {
      fail(key, node,
           "invalid data set name '" + name + "' (letters, digits, '.', '_', '-'; at most 64)");
    }
    if (!node.is_table()) {
      fail(key, node, "expected a table with 'generate', 'convert' or 'file'");
    }
    const auto& t = *node.as_table();
    expect_keys(t, key + ".", {"generate", "convert", "file", "per-seed"});
    DataSpec d;
    d.name = name;
    const bool has_file = t.contains("file");
    const bool has_generate = t.contains("generate");
    const bool has_convert = t.contains("convert");
    if ((has_file ? 1 : 0) + (has_generate ? 1 : 0) + (has_convert ? 1 : 0) != 1) {
      fail(key, node,
           "give exactly one of 'generate' (options of grpo generate), 'convert' (a source and "
           "the options of grpo convert) or 'file'");
    }
    if (has_convert) {
      // Checked first: the conversion (run below to learn the data set's metadata) may fail.
      if (const toml::node* p = t.get("per-seed"); p != nullptr && p->value_or(false)) {
        fail(key + ".per-seed", *p,
             "converted data cannot be drawn per seed (one conversion serves every run; set "
             "the conversion's seed in 'convert', or define one data set per seed)");
      }
      parse_convert(key, *t.get("convert"), d);
    } else if (has_file) {
      const std::string file = string_at(t, "file", key + ".file", true);
      d.file = absolute_from(file, fs::path(m_file).parent_path().string());
      std::error_code ec;
      if (!fs::is_regular_file(d.file, ec)) {
        fail(key + ".file", *t.get("file"), "no such dataset file '" + d.file + "'");
      }
      try {
        (void)io::inspect_dataset(d.file); // a grpo dataset, readable, schema 1.x
      } catch (const DataError& e) {
        throw DataError(where(key + ".file", *t.get("file")) + ": " + e.what());
      } catch (const IoError& e) {
        throw IoError(where(key + ".file", *t.get("file")) + ": " + e.what());
      }
    } else {
      const toml::node* g = t.get("generate");
      if (!g->is_table()) {
        fail(key + ".generate", *g, "expected a table of grpo generate options");
      }
      d.generate = options_of(*g->as_table(), key + ".generate.", kReservedGenerate);
      std::map<std::string, Source> sources;
      for (const auto& kv : d.generate) {
        sources[kv.first] = {key + ".generate." + kv.first, g->as_table()->get(kv.first)};
      }
      checked("generate", d.generate, nullptr, key + ".generate", *g, sources);
    }
    if (const toml::node* p = t.get("per-seed")) {
      if (!p->is_boolean()) {
        fail(key + ".per-seed", *p, "expected true or false");
      }
      d.per_seed = p->as_boolean()->get();
      if (d.per_seed && has_file) {
        fail(key + ".per-seed", *p, "only generated data can be drawn per seed");
      }
      const bool sets_seed = std::any_of(d.generate.begin(), d.generate.end(),
                                         [](const auto& kv) { return kv.first == "seed"; });
      if (d.per_seed && sets_seed) {
        fail(key + ".generate.seed", *p, "per-seed data takes each training run's seed; remove it");
      }
    }
    return d;
  }

  /// `convert = { source = "globalopinionqa", input = "FILE", OPTION = VALUE, ... }`: `source`
  /// picks `grpo convert SOURCE`, every other key is one of its options (checked with its
  /// parser); a relative `input` is taken from the study file's folder.
  void parse_convert(const std::string& key, const toml::node& node, DataSpec& d) const {
    const std::string ckey = key + ".convert";
    if (!node.is_table()) {
      fail(ckey, node,
           "expected a table: { source = \"globalopinionqa\", input = \"FILE\", ... } "
           "(options of grpo convert SOURCE)");
    }
    const auto& c = *node.as_table();
    const toml::node* source = c.get("source");
    if (source == nullptr) {
      fail(ckey, node, "missing 'source' (expected one of: " + convert_sources() + ")");
    }
    d.convert_source = string_at(c, "source", ckey + ".source", true);
    if (std::find_if(std::begin(kConvertSources), std::end(kConvertSources), [&](const char* s) {
          return d.convert_source == s;
        }) == std::end(kConvertSources)) {
      fail(ckey + ".source", *source,
           "unknown source '" + d.convert_source + "' (expected one of: " + convert_sources() +
               ")");
    }
    const toml::node* input = c.get("input");
    if (input == nullptr) {
      fail(ckey, node, "missing 'input' (the file grpo convert " + d.convert_source + " reads)");
    }
    const std::string path = string_at(c, "input", ckey + ".input", true);
    if (path.empty()) {
      fail(ckey + ".input", *input, "empty path");
    }
    d.convert.emplace_back("input", absolute_from(path, fs::path(m_file).parent_path().string()));
    std::map<std::string, Source> sources{{"input", {ckey + ".input", input}}};
    for (auto&& [name, value] : c) {
      const std::string k(name.str());
      if (k == "source" || k == "input") {
        continue;
      }
      if (kReservedConvert.count(k) > 0) {
        fail(ckey + "." + k, value, "set by the study itself; remove it");
      }
      d.convert.emplace_back(k, text_of(value, ckey + "." + k, true));
      sources[k] = {ckey + "." + k, &value};
    }
    checked("convert", d.convert, &d, ckey, node, sources);
  }

  static std::string convert_sources() {
    std::string list;
    for (const char* s : kConvertSources) {
      list += (list.empty() ? "" : ", ") + std::string(s);
    }
    return list;
  }

  ExperimentSpec parse_experiment(const toml::table& t, int index, const StudySpec& s,
                                  const std::vector<std::uint64_t>& seeds, int ranks) const {
    const std::string anon = "experiment[" + std::to_string(index) + "]";
    expect_keys(
        t, anon + ".",
        {"name", "kind", "x", "data", "methods", "seeds", "ranks", "options", "grid", "cases"});
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
             "invalid method '" + method +
                 "' (expected dpo, ipo, is-dpo, is-ipo, gr-dpo or gr-ipo)");
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
      fail(key + ".x", *t.get("x"),
           "'" + e.x + "' is not varied by this experiment's grid or cases");
    }
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
    return e;
  }

  /// Runs the option check; an error about one option names the study key that set it
  /// (`sources`: option -> key), else `key`.
  void checked(const std::string& command, const OptionList& options, const DataSpec* data,
               const std::string& key, const toml::node& node,
               const std::map<std::string, Source>& sources = {}) const {
    try {
      m_check(command, options, data);
    } catch (const DataError& err) { // e.g. a data file that is not a dataset
      throw DataError(where(key, node) + ": " + err.what());
    } catch (const IoError& err) {
      throw IoError(where(key, node) + ": " + err.what());
    } catch (const ConfigError& err) {
      const std::string message = err.what();
      const auto dash = message.find("--");
      if (dash != std::string::npos) {
        std::size_t end = dash + 2;
        while (
            end < message.size() &&
            (std::isalnum(static_cast<unsigned char>(message[end])) != 0 || message[end] == '-')) {
          ++end;
        }
        const auto it = sources.find(message.substr(dash + 2, end - dash - 2));
        if (it != sources.end()) {
          fail(it->second.key, *it->second.node, message);
        }
      }
      fail(key, node, message);
    }
  }

  static std::string absolute_from(const std::string& path, const std::string& base) {
    fs::path p(path);
    if (p.is_relative()) {
      p = fs::path(base) / p;
    }
    return fs::absolute(p).lexically_normal().string();
  }

  std::string m_file;
  std::string m_cwd;
  const OptionCheck& m_check;
};

} // namespace

StudySpec parse_study_file(const std::string& path, const std::string& cwd,
                           const OptionCheck& check) {
  return Parser(path, cwd, check).parse();
}

} // namespace grpo::jobs
