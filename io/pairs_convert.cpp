#include "io/pairs_convert.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/text_input.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>

namespace grpo::io {

namespace {

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw DataError("'" + printable(name) + "': " + what);
}

/// Units of a group (prompts, or rows without a prompt) in the seeded order of the split.
struct Unit {
  std::uint64_t order = 0;
  std::uint64_t key = 0;
  bool operator<(const Unit& o) const { return order != o.order ? order < o.order : key < o.key; }
};

/// How many of n units a fraction takes: round(n f), halves up, at least 1 when f > 0.
index_t share(index_t n, double f) {
  if (f <= 0.0) {
    return 0;
  }
  return std::max<index_t>(1, static_cast<index_t>(std::floor(static_cast<double>(n) * f + 0.5)));
}

std::string fraction_text(double f) { return format_double(f); }

/// The split of every row by fractions, per group by its units (first-seen group ids).
void split_by_fractions(PairsPlan& plan, const std::vector<std::uint64_t>& keys,
                        const PairsSpec& spec, std::size_t groups) {
  std::vector<std::vector<std::uint64_t>> units(groups);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    units[static_cast<std::size_t>(plan.row_group[i])].push_back(keys[i]);
  }
  // Per group: (key, split) sorted by key, for the lookup of each row.
  std::vector<std::vector<std::pair<std::uint64_t, std::uint8_t>>> split_of(groups);
  plan.group_prompts.assign(groups, 0);
  for (std::size_t g = 0; g < groups; ++g) {
    auto& u = units[g];
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    std::vector<Unit> order;
    order.reserve(u.size());
    for (const auto key : u) {
      order.push_back({rng::hash(spec.seed, rng::kStreamPairsSplit, key), key});
    }
    std::sort(order.begin(), order.end());
    const auto n = static_cast<index_t>(order.size());
    plan.group_prompts[g] = n;
    const index_t n_val = share(n, spec.val_fraction);
    const index_t n_test = share(n, spec.test_fraction);
    const index_t n_train = n - n_val - n_test;
    for (index_t q = 0; q < n; ++q) {
      const std::uint8_t s = q < n_train ? 0 : (q < n_train + n_val ? 1 : 2);
      split_of[g].emplace_back(order[static_cast<std::size_t>(q)].key, s);
    }
    std::sort(split_of[g].begin(), split_of[g].end());
    std::vector<std::uint64_t>().swap(u);
  }
  plan.row_split.resize(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& table = split_of[static_cast<std::size_t>(plan.row_group[i])];
    const auto it =
        std::lower_bound(table.begin(), table.end(), std::make_pair(keys[i], std::uint8_t{0}));
    plan.row_split[i] = it->second;
  }
}

} // namespace

GroupOrder parse_group_order(const std::string& value) {
  if (value == "first-seen") {
    return GroupOrder::FirstSeen;
  }
  if (value == "sorted") {
    return GroupOrder::Sorted;
  }
  throw ConfigError("option --group-order: invalid value '" + value +
                    "' (accepted: first-seen, sorted)");
}

const char* group_order_name(GroupOrder order) {
  return order == GroupOrder::FirstSeen ? "first-seen" : "sorted";
}

PairOptions parse_pair_options(const std::string& value) {
  if (value == "pair") {
    return PairOptions::Pair;
  }
  if (value == "none") {
    return PairOptions::None;
  }
  throw ConfigError("option --options: invalid value '" + value + "' (accepted: pair, none)");
}

const char* pair_options_name(PairOptions options) {
  return options == PairOptions::Pair ? "pair" : "none";
}

void PairsSpec::validate() const {
  const auto& c = columns;
  if (c.group.empty()) {
    throw ConfigError("option --group: an empty column name (every pair needs a group)");
  }
  if (c.precomputed() != !c.rejected_features.empty()) {
    throw ConfigError(std::string("option --") +
                      (c.precomputed() ? "rejected-features" : "chosen-features") +
                      ": give both --chosen-features and --rejected-features, or neither (text "
                      "features)");
  }
  if (c.has_ref() != !c.ref_rejected.empty()) {
    throw ConfigError(std::string("option --") + (c.has_ref() ? "ref-rejected" : "ref-chosen") +
                      ": give both --ref-chosen and --ref-rejected, or neither");
  }
  if (!c.precomputed() && (c.chosen.empty() || c.rejected.empty())) {
    throw ConfigError(std::string("option --") + (c.chosen.empty() ? "chosen" : "rejected") +
                      ": an empty column name (text features need both responses)");
  }
  if (!c.precomputed()) {
    validate_text_dim(dim);
  }
  const auto fraction = [](const char* option, double v) {
    if (!(v >= 0.0 && v < 1.0)) {
      throw ConfigError(std::string("option --") + option + ": invalid value " + format_double(v) +
                        " (accepted: 0 <= f < 1)");
    }
  };
  fraction("val-fraction", val_fraction);
  fraction("test-fraction", test_fraction);
  if (!(val_fraction > 0.0)) {
    throw ConfigError("option --val-fraction: invalid value 0 (every group needs validation "
                      "pairs: accepted 0 < f < 1)");
  }
  if (!(val_fraction + test_fraction < 1.0)) {
    throw ConfigError("option --test-fraction: --val-fraction + --test-fraction = " +
                      format_double(val_fraction + test_fraction) +
                      " leaves nothing to train on (accepted: a sum below 1)");
  }
  if (min_pairs < 1) {
    throw ConfigError("option --min-pairs: invalid value " + std::to_string(min_pairs) +
                      " (accepted: an integer >= 1)");
  }
}

PairsPlan plan_pairs(std::istream& in, const std::string& name, const PairsSpec& spec) {
  spec.validate();
  PairsReader reader(in, name, spec.format, spec.columns);
  PairsPlan plan;
  std::unordered_map<std::string, std::int32_t> ids;
  std::vector<std::string> seen;
  std::vector<std::uint64_t> keys;
  PairRow row;
  while (reader.next(row)) {
    if (plan.rows == 0 && reader.has_split() && spec.fractions_given) {
      throw ConfigError("option --val-fraction / --test-fraction: '" + printable(name) +
                        "' has a split column '" + printable(spec.columns.split) +
                        "' (give --split none to split by fractions instead)");
    }
    const auto [it, fresh] = ids.emplace(row.group, static_cast<std::int32_t>(seen.size()));
    if (fresh) {
      if (seen.size() >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
        bad(name, "line " + std::to_string(row.line) + ": too many groups");
      }
      seen.push_back(row.group);
    }
    plan.row_group.push_back(it->second);
    if (reader.has_split()) {
      plan.row_split.push_back(static_cast<std::uint8_t>(row.split));
    } else {
      keys.push_back(reader.has_prompt() ? fnv1a64(row.prompt)
                                         : static_cast<std::uint64_t>(plan.rows));
    }
    if (spec.columns.has_ref() &&
        !(std::abs(row.ref_chosen - row.ref_rejected) <= std::numeric_limits<float>::max())) {
      throw DataError("'" + printable(name) + "':" + std::to_string(row.line) + ": fields '" +
                      printable(spec.columns.ref_chosen) + "' - '" +
                      printable(spec.columns.ref_rejected) +
                      "' = " + format_double(row.ref_chosen - row.ref_rejected) +
                      " is out of the float32 range");
    }
    ++plan.rows;
  }
  if (plan.rows == 0) {
    bad(name, "no pairs (the file has no rows): nothing to convert");
  }
  plan.checksum = reader.checksum();
  plan.bytes = reader.bytes_read();
  plan.has_prompt = reader.has_prompt();
  plan.split_column = reader.has_split();
  plan.dim = spec.columns.precomputed() ? reader.feature_dim() : spec.dim;
  const std::size_t groups = seen.size();
  if (plan.split_column) {
    plan.group_prompts.assign(groups, 0);
  } else {
    split_by_fractions(plan, keys, spec, groups);
    std::vector<std::uint64_t>().swap(keys);
  }

  // Dataset order of the groups.
  std::vector<std::int32_t> position(groups);
  std::vector<std::size_t> order(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    order[g] = g;
  }
  if (spec.group_order == GroupOrder::Sorted) {
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return seen[a] < seen[b]; });
  }
  for (std::size_t k = 0; k < groups; ++k) {
    position[order[k]] = static_cast<std::int32_t>(k);
    plan.groups.push_back(seen[order[k]]);
  }
  std::vector<index_t> prompts(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    prompts[static_cast<std::size_t>(position[g])] = plan.group_prompts[g];
  }
  plan.group_prompts = prompts;
  std::array<std::vector<index_t>, 3> counts;
  for (auto& c : counts) {
    c.assign(groups, 0);
  }
  for (std::size_t i = 0; i < plan.row_group.size(); ++i) {
    auto& g = plan.row_group[i];
    g = position[static_cast<std::size_t>(g)];
    ++counts[plan.row_split[i]][static_cast<std::size_t>(g)];
  }
  plan.group_pairs.assign(groups, 0);
  for (std::size_t s = 0; s < 3; ++s) {
    plan.offsets[s].assign(1, 0);
    for (std::size_t g = 0; g < groups; ++g) {
      plan.offsets[s].push_back(plan.offsets[s].back() + counts[s][g]);
      plan.group_pairs[g] += counts[s][g];
    }
  }
  const bool with_test = plan.split_rows(2) > 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const index_t tr = counts[0][g];
    const index_t va = counts[1][g];
    const index_t te = counts[2][g];
    if (tr < spec.min_pairs || va < spec.min_pairs || (with_test && te < spec.min_pairs)) {
      const std::string units = plan.split_column
                                    ? ""
                                    : ", " + std::to_string(plan.group_prompts[g]) +
                                          (plan.has_prompt ? " distinct prompts" : " rows");
      const std::string hint =
          plan.split_column
              ? "fix the split column, lower --min-pairs or drop the group"
              : "lower --min-pairs, change --val-fraction / --test-fraction (--test-fraction 0: "
                "no test split) or drop the group";
      bad(name, "group " + shown(plan.groups[g]) + " has " + std::to_string(plan.group_pairs[g]) +
                    " pairs" + units + ": train " + std::to_string(tr) + ", val " +
                    std::to_string(va) + ", test " + std::to_string(te) + "; at least " +
                    std::to_string(spec.min_pairs) + " (--min-pairs) needed in train, val" +
                    (with_test ? " and test" : "") + " of every group (" + hint + ")");
    }
  }
  return plan;
}

PairsPlan plan_pairs(const std::string& path, const PairsSpec& spec) {
  auto in = open_input_file(path);
  return plan_pairs(in, path, spec);
}

void pair_text_features(const std::string& prompt, const std::string& response, int dim,
                        float* out) {
  const int response_size = (dim + 1) / 2;
  hash_text(response, out, response_size);
  hash_text(prompt, out + response_size, dim - response_size);
}

void convert_pairs(std::istream& in, const std::string& name, const PairsSpec& spec,
                   const PairsPlan& plan, std::size_t buffer_bytes,
                   const std::function<void(const PairsBlock&)>& sink) {
  const auto d = static_cast<std::size_t>(plan.dim);
  const std::size_t groups = plan.groups.size();
  const bool ref = spec.columns.has_ref();
  struct Bucket {
    index_t next = 0; ///< dataset row of the first buffered pair
    std::size_t count = 0;
    std::size_t capacity = 0; ///< rows of the buffers (0: not allocated yet)
    std::vector<float> chosen, rejected, ref;
    std::vector<std::int64_t> line;
  };
  std::vector<Bucket> buckets(3 * groups);
  std::size_t active = 0;
  for (std::size_t s = 0; s < 3; ++s) {
    for (std::size_t g = 0; g < groups; ++g) {
      buckets[s * groups + g].next = plan.offsets[s][g];
      active += plan.offsets[s][g + 1] > plan.offsets[s][g] ? 1 : 0;
    }
  }
  const std::size_t row_bytes = (2 * d + 1) * sizeof(float) + sizeof(std::int64_t);
  const std::size_t capacity = std::clamp<std::size_t>(
      buffer_bytes / (std::max<std::size_t>(active, 1) * row_bytes), 1, std::size_t{1} << 16);
  const auto flush = [&](Bucket& b, int split) {
    if (b.count == 0) {
      return;
    }
    PairsBlock block;
    block.split = split;
    block.begin = b.next;
    block.count = static_cast<index_t>(b.count);
    block.chosen = b.chosen.data();
    block.rejected = b.rejected.data();
    block.ref = ref ? b.ref.data() : nullptr;
    block.line = b.line.data();
    sink(block);
    b.next += static_cast<index_t>(b.count);
    b.count = 0;
  };

  PairsReader reader(in, name, spec.format, spec.columns);
  PairRow row;
  index_t i = 0;
  const auto changed = [&]() {
    throw IoError("'" + printable(name) + "' changed while it was converted (line " +
                  std::to_string(row.line) + " differs from the first pass)");
  };
  while (reader.next(row)) {
    if (i >= plan.rows) {
      changed();
    }
    const auto g = static_cast<std::size_t>(plan.row_group[static_cast<std::size_t>(i)]);
    const int s = plan.row_split[static_cast<std::size_t>(i)];
    if (row.group != plan.groups[g] || (plan.split_column && row.split != s)) {
      changed();
    }
    Bucket& b = buckets[static_cast<std::size_t>(s) * groups + g];
    if (b.capacity == 0) { // never more rows than the bucket will hold
      const index_t rows = plan.offsets[static_cast<std::size_t>(s)][g + 1] -
                           plan.offsets[static_cast<std::size_t>(s)][g];
      b.capacity = std::min(capacity, static_cast<std::size_t>(rows));
      b.chosen.resize(b.capacity * d);
      b.rejected.resize(b.capacity * d);
      b.ref.resize(ref ? b.capacity : 0);
      b.line.resize(b.capacity);
    }
    float* chosen = b.chosen.data() + b.count * d;
    float* rejected = b.rejected.data() + b.count * d;
    if (spec.columns.precomputed()) {
      if (row.chosen_features.size() != d) {
        changed();
      }
      std::copy(row.chosen_features.begin(), row.chosen_features.end(), chosen);
      std::copy(row.rejected_features.begin(), row.rejected_features.end(), rejected);
    } else {
      // The prompt block is the same for both responses: hashed once.
      const int response = (plan.dim + 1) / 2;
      hash_text(row.chosen, chosen, response);
      hash_text(row.rejected, rejected, response);
      hash_text(row.prompt, chosen + response, plan.dim - response);
      std::copy(chosen + response, chosen + plan.dim, rejected + response);
    }
    if (ref) {
      b.ref[b.count] = static_cast<float>(row.ref_chosen - row.ref_rejected);
    }
    b.line[b.count] = row.line;
    if (++b.count == b.capacity) {
      flush(b, s);
    }
    ++i;
  }
  if (i != plan.rows) {
    changed();
  }
  for (std::size_t s = 0; s < 3; ++s) {
    for (std::size_t g = 0; g < groups; ++g) {
      flush(buckets[s * groups + g], static_cast<int>(s));
    }
  }
}

std::string pairs_feature_map(const PairsSpec& spec, const PairsPlan& plan) {
  std::ostringstream o;
  if (spec.columns.precomputed()) {
    o << "pairs-precomputed: phi(x, y_w) = " << spec.columns.chosen_features
      << ", phi(x, y_l) = " << spec.columns.rejected_features << " (" << plan.dim
      << " values per response, as given)";
    return o.str();
  }
  const int response = (plan.dim + 1) / 2;
  o << "pairs-hashed-ngrams-v1: phi(x, y) = [response n-grams 0.." << response - 1
    << " | prompt n-grams " << response << ".." << plan.dim - 1 << "]; " << kNgramHashDescription
    << (plan.has_prompt ? "" : "; no prompt column: the prompt block is 0");
  return o.str();
}

DatasetHeader pairs_header(const PairsPlan& plan, const PairsSpec& spec, const std::string& input) {
  DatasetHeader h;
  h.feature_dim = plan.dim;
  h.group_names = plan.groups;
  h.source = "pairs";
  const auto& c = spec.columns;
  const std::string split = plan.split_column
                                ? "column " + c.split
                                : "fractions val " + fraction_text(spec.val_fraction) + " test " +
                                      fraction_text(spec.test_fraction) + " seed " +
                                      std::to_string(spec.seed);
  std::ostringstream ini;
  ini << "input = " << input << "\nformat = " << pairs_format_name(spec.format)
      << "\ngroup = " << c.group << "\nprompt = " << (plan.has_prompt ? c.prompt : "none");
  if (c.precomputed()) {
    ini << "\nchosen-features = " << c.chosen_features
        << "\nrejected-features = " << c.rejected_features;
  } else {
    ini << "\nchosen = " << c.chosen << "\nrejected = " << c.rejected << "\ndim = " << plan.dim;
  }
  if (c.has_ref()) {
    ini << "\nref-chosen = " << c.ref_chosen << "\nref-rejected = " << c.ref_rejected;
  }
  if (plan.split_column) {
    ini << "\nsplit = " << c.split;
  } else {
    ini << "\nsplit = none\nval-fraction = " << fraction_text(spec.val_fraction)
        << "\ntest-fraction = " << fraction_text(spec.test_fraction) << "\nseed = " << spec.seed;
  }
  ini << "\ngroup-order = " << group_order_name(spec.group_order)
      << "\nmin-pairs = " << spec.min_pairs << "\noptions = " << pair_options_name(spec.options)
      << "\n";
  h.text_attributes = {{"input", input},
                       {"input_checksum", plan.checksum},
                       {"input_format", pairs_format_name(spec.format)},
                       {"features", c.precomputed() ? "precomputed" : "text"},
                       {"feature_map", pairs_feature_map(spec, plan)},
                       {"group_order", group_order_name(spec.group_order)},
                       {"split", split},
                       {"reference", c.has_ref() ? "given" : "none"},
                       {"converter", ini.str()}};
  h.int_attributes = {{"input_rows", plan.rows}, {"seed", static_cast<std::int64_t>(spec.seed)}};
  return h;
}

void write_pairs(DatasetWriter& writer, const std::string& input, const PairsSpec& spec,
                 const PairsPlan& plan, std::size_t buffer_bytes) {
  const bool options = spec.options == PairOptions::Pair;
  for (int s = 0; s < 3; ++s) {
    const index_t n = plan.split_rows(s);
    if (n == 0) {
      continue; // only test may be empty (plan_pairs checks train and val)
    }
    const std::string name = kPairSplitNames[s];
    writer.begin_split(name, plan.offsets[static_cast<std::size_t>(s)]);
    if (options) {
      writer.begin_split_options(name, 2 * n);
    }
    writer.create_rows_dataset(name + "/line", H5T_STD_I64LE, {static_cast<hsize_t>(n)});
  }
  const auto d = static_cast<std::size_t>(plan.dim);
  std::vector<std::int64_t> option_offsets;
  std::vector<float> option_rows;
  std::vector<std::int32_t> chosen_option;
  std::vector<std::int32_t> rejected_option;
  auto in = open_input_file(input);
  convert_pairs(in, input, spec, plan, buffer_bytes, [&](const PairsBlock& b) {
    const std::string name = kPairSplitNames[b.split];
    const index_t end = b.begin + b.count;
    writer.write_split_rows(name, b.begin, end, b.chosen, b.rejected, b.ref);
    writer.write_rows(name + "/line", H5T_NATIVE_INT64, b.begin, end, b.line);
    if (!options) {
      return;
    }
    const auto count = static_cast<std::size_t>(b.count);
    option_offsets.resize(count + 1);
    for (std::size_t k = 0; k <= count; ++k) {
      option_offsets[k] = 2 * (b.begin + static_cast<index_t>(k));
    }
    option_rows.resize(2 * count * d);
    for (std::size_t k = 0; k < count; ++k) {
      std::copy(b.chosen + k * d, b.chosen + (k + 1) * d, option_rows.data() + 2 * k * d);
      std::copy(b.rejected + k * d, b.rejected + (k + 1) * d, option_rows.data() + (2 * k + 1) * d);
    }
    chosen_option.assign(count, 0);
    rejected_option.assign(count, 1);
    writer.write_split_options(name, b.begin, end, option_offsets.data(), option_rows.data(),
                               chosen_option.data(), rejected_option.data());
  });
}

} // namespace grpo::io
