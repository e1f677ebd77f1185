// The [data.NAME] tables of a study file (jobs/study_file_impl.hpp): an existing dataset file
// (inspected here), the options of `grpo generate`, or a `convert` table naming the source and
// the options of `grpo convert SOURCE`; per-seed generation.
#include "core/error.hpp"
#include "io/dataset.hpp"
#include "jobs/study_file_impl.hpp"

#include <algorithm>
#include <filesystem>

namespace grpo::jobs::study_detail {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kReservedGenerate = {"out", "config", "help"};
const std::set<std::string> kReservedConvert = {"out", "config", "help"};

std::string convert_sources() {
  std::string list;
  for (const char* s : kConvertSources) {
    list += (list.empty() ? "" : ", ") + std::string(s);
  }
  return list;
}

} // namespace

DataSpec Parser::parse_data(const std::string& name, const toml::node& node) const {
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

void Parser::parse_convert(const std::string& key, const toml::node& node, DataSpec& d) const {
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
         "unknown source '" + d.convert_source + "' (expected one of: " + convert_sources() + ")");
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

} // namespace grpo::jobs::study_detail
