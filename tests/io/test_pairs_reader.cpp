// Tests of the streaming pairs readers (io/pairs_reader.hpp): JSON Lines rows and line numbers,
// CSV per RFC 4180 (quotes, embedded commas, quotes and line breaks, CRLF, a BOM, records across
// the 1 MiB read blocks), feature column families, the checksum, UTF-8 validation, and every bad
// input: one DataError naming the input, the line (and column), the column or field and the value.
#include "core/error.hpp"
#include "io/pairs_reader.hpp"
#include "io/text_input.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>
#include <zlib.h>

namespace grpo::io {
namespace {

std::vector<PairRow> read_all(const std::string& text, PairsFormat format,
                              const PairsColumns& columns = {}) {
  std::istringstream in(text);
  PairsReader reader(in, "in", format, columns);
  std::vector<PairRow> rows;
  PairRow row;
  while (reader.next(row)) {
    rows.push_back(row);
  }
  return rows;
}

/// The message of the DataError reading `text` throws ("" when none is thrown).
std::string error_of(const std::string& text, PairsFormat format,
                     const PairsColumns& columns = {}) {
  try {
    read_all(text, format, columns);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

PairsColumns precomputed(bool ref = false) {
  PairsColumns c;
  c.chosen_features = "cf";
  c.rejected_features = "rf";
  if (ref) {
    c.ref_chosen = "lc";
    c.ref_rejected = "lr";
  }
  return c;
}

TEST(PairsReader, JsonLinesRowsAndLines) {
  const std::string text = "{\"group\": \"a\", \"prompt\": \"p1\", \"chosen\": \"x\", "
                           "\"rejected\": \"y\", \"extra\": [1]}\r\n"
                           "\n"
                           "  \n"
                           "{\"group\": 7, \"prompt\": \"p\\u00e9\", \"chosen\": \"x2\", "
                           "\"rejected\": \"y2\"}";
  const auto rows = read_all(text, PairsFormat::Jsonl);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].line, 1);
  EXPECT_EQ(rows[0].group, "a");
  EXPECT_EQ(rows[0].prompt, "p1");
  EXPECT_EQ(rows[0].chosen, "x");
  EXPECT_EQ(rows[0].rejected, "y");
  EXPECT_EQ(rows[0].split, -1);
  EXPECT_EQ(rows[1].line, 4);
  EXPECT_EQ(rows[1].group, "7"); // an integer group is its decimal text
  EXPECT_EQ(rows[1].prompt, "p\xc3\xa9");
}

TEST(PairsReader, JsonLinesFeaturesSplitAndReference) {
  const std::string text = "{\"group\": \"a\", \"split\": \"validation\", \"cf\": [1, -2.5], "
                           "\"rf\": [0, 1e-3], \"lc\": -3, \"lr\": -4.5}\n";
  std::istringstream in(text);
  PairsReader reader(in, "in", PairsFormat::Jsonl, precomputed(true));
  PairRow row;
  ASSERT_TRUE(reader.next(row));
  EXPECT_TRUE(reader.has_split());
  EXPECT_FALSE(reader.has_prompt());
  EXPECT_EQ(reader.feature_dim(), 2);
  EXPECT_EQ(row.split, 1);
  EXPECT_EQ(row.chosen_features, (std::vector<float>{1.0F, -2.5F}));
  EXPECT_EQ(row.rejected_features, (std::vector<float>{0.0F, 1e-3F}));
  EXPECT_EQ(row.ref_chosen, -3.0);
  EXPECT_EQ(row.ref_rejected, -4.5);
  EXPECT_FALSE(reader.next(row));
}

TEST(PairsReader, CsvRfc4180) {
  // Quoted fields with commas, doubled quotes and line breaks; CRLF; a BOM; an unnamed index
  // column; an empty line; a last record without a line break.
  const std::string text = "\xEF\xBB\xBF,group,prompt,chosen,rejected,split\r\n"
                           "0,a,\"Hello, \"\"world\"\"\nsecond line\",x,y,train\r\n"
                           "\n"
                           "1,b,plain,\"\",\"multi\r\nline\",test";
  const auto rows = read_all(text, PairsFormat::Csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].line, 2);
  EXPECT_EQ(rows[0].group, "a");
  EXPECT_EQ(rows[0].prompt, "Hello, \"world\"\nsecond line");
  EXPECT_EQ(rows[0].split, 0);
  EXPECT_EQ(rows[1].line, 5); // the record after the two-line field and the empty line
  EXPECT_EQ(rows[1].chosen, "");
  EXPECT_EQ(rows[1].rejected, "multi\r\nline");
  EXPECT_EQ(rows[1].split, 2);
}

TEST(PairsReader, CsvFeatureFamiliesInIndexOrder) {
  const std::string text = "rf1,cf1,group,cf0,rf0,lr,lc\n"
                           "4,2,g, 1 ,+3,-1.5,-1\n";
  std::istringstream in(text);
  PairsReader reader(in, "in", PairsFormat::Csv, precomputed(true));
  PairRow row;
  ASSERT_TRUE(reader.next(row));
  EXPECT_EQ(reader.feature_dim(), 2);
  EXPECT_EQ(row.chosen_features, (std::vector<float>{1.0F, 2.0F}));
  EXPECT_EQ(row.rejected_features, (std::vector<float>{3.0F, 4.0F}));
  EXPECT_EQ(row.ref_chosen, -1.0);
  EXPECT_EQ(row.ref_rejected, -1.5);
}

TEST(PairsReader, RecordsAcrossReadBlocksAndTheChecksum) {
  // A quoted field of 1.5 MiB spans the 1 MiB read blocks; the rows after it keep their lines.
  const std::string big(3 << 19, 'z');
  std::string text = "group,prompt,chosen,rejected\n";
  text += "a,\"" + big + "\n" + big + "\",x,y\n";
  for (int i = 0; i < 1000; ++i) {
    text += "g" + std::to_string(i % 3) + ",p,\"x,1\",y\n";
  }
  std::istringstream in(text);
  PairsReader reader(in, "in", PairsFormat::Csv, {});
  PairRow row;
  ASSERT_TRUE(reader.next(row));
  EXPECT_EQ(row.prompt, big + "\n" + big);
  int n = 0;
  while (reader.next(row)) {
    ++n;
    EXPECT_EQ(row.chosen, "x,1");
  }
  EXPECT_EQ(n, 1000);
  EXPECT_EQ(row.line, 1003);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(text.data()), static_cast<uInt>(text.size()));
  char want[32];
  std::snprintf(want, sizeof(want), "crc32:%08lx", static_cast<unsigned long>(crc));
  EXPECT_EQ(reader.checksum(), want);
  EXPECT_EQ(reader.bytes_read(), text.size());
}

TEST(PairsReader, Utf8Validation) {
  EXPECT_EQ(invalid_utf8_at("plain ascii"), std::string::npos);
  EXPECT_EQ(invalid_utf8_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string::npos);
  EXPECT_EQ(invalid_utf8_at("a\xc0\x80"), 1u);        // overlong NUL
  EXPECT_EQ(invalid_utf8_at("ab\xed\xa0\x80"), 2u);   // a surrogate
  EXPECT_EQ(invalid_utf8_at("\xf4\x90\x80\x80"), 0u); // above U+10FFFF
  EXPECT_EQ(invalid_utf8_at("abc\xe2\x82"), 3u);      // cut by the end
  EXPECT_EQ(invalid_utf8_at("\x80"), 0u);             // a lone continuation byte
  EXPECT_EQ(invalid_utf8_at("\xe0\x80\x80"), 0u);     // overlong 3-byte form
}

struct BadCase {
  const char* label;
  PairsFormat format;
  std::string text;
  bool features;
  std::vector<std::string> expect;
};

TEST(PairsReader, EveryBadInputIsOneNamedLine) {
  const auto J = PairsFormat::Jsonl;
  const auto C = PairsFormat::Csv;
  const std::string ok = R"({"group": "a", "prompt": "p", "chosen": "x", "rejected": "y"})";
  const std::vector<BadCase> cases = {
      {"malformed row", J, ok + "\n{\"group\": \"a\",\n", false, {"'in':2:", "not valid JSON"}},
      {"missing field",
       J,
       ok + "\n{\"group\": \"a\", \"prompt\": \"p\", \"chosen\": \"x\"}",
       false,
       {"'in':2:", "field 'rejected' is missing"}},
      {"empty group",
       J,
       R"({"group": "", "prompt": "p", "chosen": "x", "rejected": "y"})",
       false,
       {"'in':1:", "field 'group'", "value ''", "empty group"}},
      {"group type",
       J,
       R"({"group": 1.5, "prompt": "p", "chosen": "x", "rejected": "y"})",
       false,
       {"'in':1:", "value '1.5'", "expected a string or an integer"}},
      {"unknown split",
       J,
       R"({"group": "a", "prompt": "p", "chosen": "x", "rejected": "y", "split": "dev"})",
       false,
       {"'in':1:", "field 'split'", "value 'dev'", "unknown split"}},
      {"split in some rows",
       J,
       ok + "\n" +
           R"({"group": "a", "prompt": "p", "chosen": "x", "rejected": "y", "split": "val"})",
       false,
       {"'in':2:", "field 'split' is present", "first row (line 1)"}},
      {"invalid UTF-8", J, ok + "\n{\"group\": \"\xff\"}", false, {"'in':2:12:", "invalid UTF-8"}},
      {"NUL byte", J, std::string("{\"group\": \"a\0\"}", 15), false, {"'in':1:13:", "NUL byte"}},
      {"CSV as JSONL",
       J,
       "group,prompt,chosen,rejected\na,b,c,d\n",
       false,
       {"'in':1:1:", "not a JSON object", "--format csv"}},
      {"JSON array", J, "[" + ok + "]", false, {"'in':1:1:", "a JSON array, not JSON Lines"}},
      {"not an object later", J, ok + "\n[1, 2]\n", false, {"'in':2:", "is an array"}},
      {"gzip", J, std::string("\x1f\x8b\x08\x00", 4), false, {"'in':1:", "gzip"}},
      {"ragged",
       J,
       R"({"group": "a", "cf": [1, 2], "rf": [1, 2]})"
       "\n"
       R"({"group": "a", "cf": [1, 2, 3], "rf": [1, 2, 3]})",
       true,
       {"'in':2:", "field 'cf'", "3 values", "line 1) has 2", "ragged"}},
      {"feature not a number",
       J,
       R"({"group": "a", "cf": [1, true], "rf": [1, 2]})",
       true,
       {"'in':1:", "field 'cf'[1]", "value 'true'", "expected a number"}},
      {"features not an array",
       J,
       R"({"group": "a", "cf": "1 2", "rf": [1, 2]})",
       true,
       {"'in':1:", "field 'cf'", "expected an array of numbers"}},
      {"empty features",
       J,
       R"({"group": "a", "cf": [], "rf": []})",
       true,
       {"'in':1:", "field 'cf'", "no values"}},
      {"float overflow",
       J,
       R"({"group": "a", "cf": [1e39], "rf": [1]})",
       true,
       {"'in':1:", "float32 range"}},
      {"double overflow",
       J,
       R"({"group": "a", "cf": [1e999], "rf": [1]})",
       true,
       {"'in':1:", "not valid JSON"}},
      {"conversational",
       J,
       R"({"group": "a", "prompt": "p", "chosen": [{"role": "user"}], "rejected": "y"})",
       false,
       {"'in':1:", "field 'chosen'", "chat template"}},
      {"duplicate header",
       C,
       "group,prompt,chosen,rejected,prompt\n",
       false,
       {"'in':1:5:", "duplicate header", "'prompt' like column 2"}},
      {"missing column",
       C,
       "group,prompt,chosen\na,b,c\n",
       false,
       {"'in':1:", "column 'rejected' is missing", "group, prompt, chosen"}},
      {"empty file", C, "", false, {"'in':1:", "no header"}},
      {"field count",
       C,
       "group,prompt,chosen,rejected\na,b,c,d\na,b,c\n",
       false,
       {"'in':3:", "3 fields", "4 columns"}},
      {"unclosed quote",
       C,
       "group,prompt,chosen,rejected\na,\"b,c,d\na,b,c,d\n",
       false,
       {"'in':2:3:", "never closed"}},
      {"bare quote",
       C,
       "group,prompt,chosen,rejected\na,b\"c,d,e\n",
       false,
       {"'in':2:4:", "quote inside an unquoted field"}},
      {"after closing quote",
       C,
       "group,prompt,chosen,rejected\na,\"b\"c,d,e\n",
       false,
       {"'in':2:6:", "after the closing quote"}},
      {"lone CR",
       C,
       "group,prompt,chosen,rejected\ra,b,c,d\n",
       false,
       {"'in':1:", "carriage return"}},
      {"empty group CSV",
       C,
       "group,prompt,chosen,rejected\n \t,b,c,d\n",
       false,
       {"'in':2:1:", "column 1 'group'", "empty group"}},
      {"unknown split CSV",
       C,
       "split,group,prompt,chosen,rejected\nTrain,a,b,c,d\n",
       false,
       {"'in':2:1:", "column 1 'split'", "value 'Train'", "unknown split"}},
      {"invalid UTF-8 CSV",
       C,
       "group,prompt,chosen,rejected\na,\"x\ny\xc3\",c,d\n",
       false,
       {"'in':2:", "column 2 'prompt'", "invalid UTF-8"}},
      {"JSONL as CSV", C, ok + "\n", false, {"'in':1:1:", "JSON, not CSV", "--format jsonl"}},
      {"HDF5 as CSV", C, std::string("\x89HDF\r\n\x1a\n", 8), false, {"'in':1:", "HDF5 file"}},
      {"CSV non-numeric",
       C,
       "group,cf0,rf0\na,abc,1\n",
       true,
       {"'in':2:2:", "column 2 'cf0'", "value 'abc'", "not a number"}},
      {"CSV empty number", C, "group,cf0,rf0\na,,1\n", true, {"'in':2:2:", "empty"}},
      {"CSV NaN", C, "group,cf0,rf0\na,1,NaN\n", true, {"'in':2:3:", "value 'NaN'", "NaN"}},
      {"CSV inf", C, "group,cf0,rf0\na,1,-inf\n", true, {"'in':2:3:", "infinite"}},
      {"CSV hex", C, "group,cf0,rf0\na,1,0x10\n", true, {"'in':2:3:", "not a number"}},
      {"CSV column gap", C, "group,cf0,cf2,rf0,rf1\n", true, {"'in':1:", "'cf1' is missing"}},
      {"CSV no family", C, "group,x0,rf0\n", true, {"'in':1:", "no columns 'cf0'"}},
      {"CSV family lengths", C, "group,cf0,cf1,rf0\n", true, {"'in':1:", "2 columns cf"}},
  };
  for (const auto& c : cases) {
    PairsColumns columns;
    if (c.features) {
      columns = precomputed();
    }
    const std::string message = error_of(c.text, c.format, columns);
    ASSERT_FALSE(message.empty()) << c.label << ": no DataError";
    EXPECT_EQ(message.find('\n'), std::string::npos) << c.label << ": " << message;
    for (const auto& want : c.expect) {
      EXPECT_NE(message.find(want), std::string::npos)
          << c.label << ": '" << want << "' not in: " << message;
    }
  }
}

TEST(PairsReader, RequiredPromptAndSplitColumns) {
  PairsColumns c;
  c.split_required = true;
  EXPECT_NE(error_of("group,prompt,chosen,rejected\n", PairsFormat::Csv, c)
                .find("column 'split' is missing"),
            std::string::npos);
  c = {};
  c.prompt_required = true;
  EXPECT_NE(error_of(R"({"group": "a", "chosen": "x", "rejected": "y"})", PairsFormat::Jsonl, c)
                .find("field 'prompt' is missing"),
            std::string::npos);
  // Not required: left out.
  const auto rows = read_all("group,chosen,rejected\na,x,y\n", PairsFormat::Csv);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].prompt, "");
}

TEST(PairsReader, FormatByExtension) {
  EXPECT_EQ(pairs_format_of("a/b.jsonl"), PairsFormat::Jsonl);
  EXPECT_EQ(pairs_format_of("b.NDJSON"), PairsFormat::Jsonl);
  EXPECT_EQ(pairs_format_of("b.csv"), PairsFormat::Csv);
  EXPECT_THROW(pairs_format_of("b.tsv"), ConfigError);
  EXPECT_THROW(pairs_format_of("dir.csv/file"), ConfigError);
  EXPECT_EQ(parse_pairs_format("csv"), PairsFormat::Csv);
  EXPECT_THROW(parse_pairs_format("parquet"), ConfigError);
}

} // namespace
} // namespace grpo::io
