// Fuzz target: the readers of `grpo convert pairs` (JSON Lines and CSV) and both passes of the
// conversion, in memory (no file is written). The first byte picks the spec: bit 0 the format
// (CSV when set), bit 1 precomputed features (fields / column prefixes cf and rf), bit 2
// reference log-probs (lc, lr), bit 3 the split by fractions (--split none), bit 4 the group
// order, bit 5 the option of a required prompt column. Every converted row must land once in
// its split, with finite features of the planned length; a violation aborts (a bug, not a clear
// error).
#include "core/error.hpp"
#include "io/pairs_convert.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace {

void require(bool ok) {
  if (!ok) {
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  using namespace grpo::io;
  using grpo::index_t;
  const std::uint8_t spec_byte = data[0];
  PairsSpec spec;
  spec.format = (spec_byte & 1) != 0 ? PairsFormat::Csv : PairsFormat::Jsonl;
  if ((spec_byte & 2) != 0) {
    spec.columns.chosen_features = "cf";
    spec.columns.rejected_features = "rf";
  }
  if ((spec_byte & 4) != 0) {
    spec.columns.ref_chosen = "lc";
    spec.columns.ref_rejected = "lr";
  }
  if ((spec_byte & 8) != 0) {
    spec.columns.split.clear();
  }
  spec.group_order = (spec_byte & 16) != 0 ? GroupOrder::Sorted : GroupOrder::FirstSeen;
  spec.columns.prompt_required = (spec_byte & 32) != 0;
  spec.dim = 8;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    std::istringstream first(text);
    const PairsPlan plan = plan_pairs(first, "fuzz", spec);
    const auto groups = plan.groups.size();
    require(plan.rows > 0 && plan.dim > 0 && groups > 0);
    require(plan.row_group.size() == static_cast<std::size_t>(plan.rows));
    require(plan.row_split.size() == static_cast<std::size_t>(plan.rows));
    index_t total = 0;
    std::vector<std::vector<char>> seen(3);
    for (int s = 0; s < 3; ++s) {
      const auto& off = plan.offsets[static_cast<std::size_t>(s)];
      require(off.size() == groups + 1 && off[0] == 0);
      for (std::size_t g = 0; g < groups; ++g) {
        require(off[g + 1] >= off[g]);
        if (s < 2) {
          require(off[g + 1] - off[g] >= spec.min_pairs);
        }
      }
      total += off.back();
      seen[static_cast<std::size_t>(s)].assign(static_cast<std::size_t>(off.back()), 0);
    }
    require(total == plan.rows);
    const auto d = static_cast<std::size_t>(plan.dim);
    std::istringstream second(text);
    convert_pairs(second, "fuzz", spec, plan, 64, [&](const PairsBlock& b) {
      require(b.split >= 0 && b.split < 3 && b.count > 0);
      auto& rows = seen[static_cast<std::size_t>(b.split)];
      require(b.begin >= 0 && static_cast<std::size_t>(b.begin + b.count) <= rows.size());
      for (index_t k = 0; k < b.count; ++k) {
        require(rows[static_cast<std::size_t>(b.begin + k)] == 0);
        rows[static_cast<std::size_t>(b.begin + k)] = 1;
        require((b.ref != nullptr) == spec.columns.has_ref());
        require(b.ref == nullptr || std::isfinite(b.ref[k]));
        for (std::size_t j = 0; j < d; ++j) {
          const float c = b.chosen[static_cast<std::size_t>(k) * d + j];
          const float r = b.rejected[static_cast<std::size_t>(k) * d + j];
          require(std::isfinite(c) && std::isfinite(r));
          if (!spec.columns.precomputed()) {
            require(std::abs(c) <= 1.0F && std::abs(r) <= 1.0F);
          }
        }
      }
    });
    for (const auto& rows : seen) {
      for (const char r : rows) {
        require(r == 1);
      }
    }
    (void)pairs_header(plan, spec, "fuzz");
  } catch (const grpo::Error&) {
    // a clear error: fine
  }
  return 0;
}
