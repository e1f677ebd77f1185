// The TOML value readers of the study-file parser (jobs/study_file_impl.hpp): where an error is
// (file, line, key), the checks of keys, tables, strings, names, integers, lists and seeds, the
// options of a run as command-line text, and the option check that names the key at fault.
#include "core/error.hpp"
#include "jobs/study_file_impl.hpp"

#include <cctype>
#include <filesystem>
#include <sstream>

namespace grpo::jobs::study_detail {

namespace fs = std::filesystem;

std::string Parser::where(const std::string& key) const {
  return "study file '" + m_file + "': key '" + key + "'";
}

std::string Parser::where(const std::string& key, const toml::node& node) const {
  std::ostringstream o;
  o << "study file '" << m_file << "' line " << node.source().begin.line << ": key '" << key << "'";
  return o.str();
}

void Parser::fail(const std::string& key, const toml::node& node, const std::string& what) const {
  throw ConfigError(where(key, node) + ": " + what);
}

void Parser::expect_keys(const toml::table& t, const std::string& prefix,
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

const toml::table* Parser::table_at(const toml::table& t, const char* name, const std::string& key,
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

std::string Parser::text_of(const toml::node& node, const std::string& key,
                            bool allow_array) const {
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

std::string Parser::string_at(const toml::table& t, const char* name, const std::string& key,
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

std::string Parser::name_at(const toml::table& t, const char* name, const std::string& key) const {
  std::string value = string_at(t, name, key, true);
  if (!is_safe_name(value)) {
    fail(key, *t.get(name),
         "invalid name '" + value +
             "' (letters, digits, '.', '_', '-'; starting with a letter or digit; at most 64)");
  }
  return value;
}

int Parser::int_at(const toml::table& t, const char* name, const std::string& key, int fallback,
                   int lo, int hi) const {
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

std::vector<std::string> Parser::strings_at(const toml::node& node, const std::string& key) const {
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

std::vector<std::uint64_t> Parser::seeds_at(const toml::node& node, const std::string& key) const {
  std::vector<std::uint64_t> out;
  if (const auto* range = node.as_table()) {
    expect_keys(*range, key + ".", {"first", "count"});
    const int count = int_at(*range, "count", key + ".count", 0, 1, 100000);
    const toml::node* first = range->get("first");
    if (count == 0 || first == nullptr || !first->is_integer() || first->as_integer()->get() < 0) {
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

OptionList Parser::options_of(const toml::table& t, const std::string& key_prefix,
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

void Parser::checked(const std::string& command, const OptionList& options, const DataSpec* data,
                     const std::string& key, const toml::node& node,
                     const std::map<std::string, Source>& sources) const {
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
      while (end < message.size() &&
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

std::string Parser::absolute_from(const std::string& path, const std::string& base) {
  fs::path p(path);
  if (p.is_relative()) {
    p = fs::path(base) / p;
  }
  return fs::absolute(p).lexically_normal().string();
}

} // namespace grpo::jobs::study_detail
