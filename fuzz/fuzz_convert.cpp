// Fuzz target: the GlobalOpinionQA converter (`grpo convert globalopinionqa`) on a fuzzed JSON
// text, parsed and converted in memory (no file is written). The first byte picks the spec:
// bit 0 the pair mode, bits 1-2 the groups (the default five, the top 1-3, or two named
// countries), bit 3 the feature dimension (8 or 16). A converted result must satisfy the schema
// 1.1 invariants the reader checks; a violation aborts (a bug, not a clear error).
#include "core/error.hpp"
#include "io/globalopinionqa.hpp"

#include <cstdlib>
#include <string>

namespace {

void require(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void check_split(const grpo::io::OpinionSplit& s, int groups, int d) {
  require(s.offsets.size() == static_cast<std::size_t>(groups) + 1 && s.offsets[0] == 0);
  const auto n = static_cast<std::size_t>(s.rows());
  require(s.option_offsets.size() == n + 1 && s.option_offsets[0] == 0);
  require(s.chosen.size() == n * d && s.rejected.size() == n * d);
  require(s.options.size() == static_cast<std::size_t>(s.option_rows()) * d);
  require(s.chosen_option.size() == n && s.rejected_option.size() == n);
  require(s.question.size() == n && s.record_id.size() == n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto count = s.option_offsets[i + 1] - s.option_offsets[i];
    const auto c = s.chosen_option[i];
    const auto r = s.rejected_option[i];
    require(count >= 2 && c >= 0 && c < count && r >= 0 && r < count && c != r);
    for (int j = 0; j < d; ++j) {
      const float x = s.chosen[i * d + j];
      require(x == s.options[(s.option_offsets[i] + c) * d + j] && x >= -1.0f && x <= 1.0f);
      require(s.rejected[i * d + j] == s.options[(s.option_offsets[i] + r) * d + j]);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  grpo::io::OpinionSpec spec;
  spec.pairs = (data[0] & 1) != 0 ? grpo::io::OpinionPairs::All : grpo::io::OpinionPairs::One;
  switch ((data[0] >> 1) & 3) {
  case 0:
    break; // the paper's five
  case 1:
    spec.top = 1 + (data[0] >> 4) % 3;
    break;
  case 2:
    spec.countries = {"A", "Great Britain"};
    break;
  default:
    spec.countries = {"Nigeria"};
    break;
  }
  spec.dim = (data[0] & 8) != 0 ? 16 : 8;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const auto records = grpo::io::parse_opinion_records(text, "fuzz.json");
    const auto result = grpo::io::convert_opinions(records, spec, "fuzz.json");
    const int groups = static_cast<int>(result.groups.size());
    require(result.train.rows() > 0 && result.val.rows() > 0);
    for (const auto* s : {&result.train, &result.val, &result.test}) {
      check_split(*s, groups, spec.dim);
    }
    (void)grpo::io::opinion_header(result, spec, "fuzz.json", "crc32:00000000");
  } catch (const grpo::Error&) {
    // a clear error: fine
  }
  return 0;
}
