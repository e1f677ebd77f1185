// Study files with converted data (`[data.NAME] convert = { source = ..., input = ..., ... }`):
// the parser (with a stub option check: the real one, through `grpo study plan`, is tested in
// tests/e2e/test_study_convert.py), the task graph, plan.json and the task's command.
#include "core/error.hpp"
#include "jobs/executors.hpp"
#include "jobs/plan.hpp"
#include "jobs/study_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace fs = std::filesystem;
using grpo::jobs::DataSpec;
using grpo::jobs::OptionList;
using grpo::jobs::Task;
using grpo::jobs::TaskKind;

/// A fresh folder for one test, removed afterwards.
class StudyConvert : public ::testing::Test {
protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    m_dir = fs::temp_directory_path() /
            ("grpo_test_" + std::to_string(::getpid()) + "_study_" + info->name());
    fs::remove_all(m_dir);
    fs::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }

  std::string write(const std::string& name, const std::string& text) const {
    const auto path = (m_dir / name).string();
    std::ofstream(path) << text;
    return path;
  }

  /// Parses `data` (one or more [data.*] tables) with one experiment on every data set; the
  /// stub check records its calls and throws `error` (if set) for the command `fail_on`.
  grpo::jobs::StudySpec parse(const std::string& data, const std::string& experiment = "") {
    const std::string text = "[study]\nname = \"s\"\noutput = \"out\"\nseeds = 2\n\n" + data +
                             "\n[[experiment]]\nname = \"e\"\nmethods = [\"ipo\", \"gr-ipo\"]\n" +
                             experiment;
    const auto file = write("study.toml", text);
    return grpo::jobs::parse_study_file(
        file, m_dir.string(),
        [this](const std::string& command, const OptionList& options, const DataSpec* d) {
          m_calls.push_back({command, options, d != nullptr ? d->name : "",
                             d != nullptr && d->converted() ? d->convert_source : ""});
          if (command == m_fail_on && !m_error.empty()) {
            throw grpo::ConfigError(m_error);
          }
        });
  }

  /// The message of the ConfigError that parsing `data` throws (fails the test otherwise).
  std::string error_of(const std::string& data, const std::string& experiment = "") {
    try {
      parse(data, experiment);
    } catch (const grpo::ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no ConfigError for:\n" << data;
    return "";
  }

  struct Call {
    std::string command;
    OptionList options;
    std::string data;
    std::string source;
  };
  fs::path m_dir;
  std::vector<Call> m_calls;
  std::string m_fail_on;
  std::string m_error;
};

const char* const kConvert =
    "[data.goqa]\n"
    "convert = { source = \"globalopinionqa\", input = \"in/opinions.json\", "
    "countries = [\"Nigeria\", \"Egypt\"], dim = 16, pairs = \"all\" }\n";

TEST_F(StudyConvert, ConvertDataIsParsedWithItsOptionsAndAnAbsoluteInput) {
  const auto spec = parse(kConvert, "[experiment.options]\npolicy = \"mlp\"\n");
  ASSERT_EQ(spec.data.size(), 1u);
  const DataSpec& d = spec.data[0];
  EXPECT_TRUE(d.converted());
  EXPECT_FALSE(d.generated());
  EXPECT_TRUE(d.file.empty());
  EXPECT_FALSE(d.per_seed);
  EXPECT_EQ(d.convert_source, "globalopinionqa");
  const OptionList want{{"input", (m_dir / "in/opinions.json").string()},
                        {"countries", "Nigeria,Egypt"},
                        {"dim", "16"},
                        {"pairs", "all"}};
  EXPECT_EQ(d.convert, want);
  // The conversion is checked once, before the runs on its data.
  ASSERT_GE(m_calls.size(), 3u);
  EXPECT_EQ(m_calls[0].command, "convert");
  EXPECT_EQ(m_calls[0].options, want);
  EXPECT_EQ(m_calls[0].data, "goqa");
  EXPECT_EQ(m_calls[0].source, "globalopinionqa");
  for (std::size_t i = 1; i < m_calls.size(); ++i) {
    EXPECT_EQ(m_calls[i].command, "train");
    EXPECT_EQ(m_calls[i].data, "goqa");
    EXPECT_EQ(m_calls[i].source, "globalopinionqa"); // the train check sees converted data
  }
}

TEST_F(StudyConvert, AnAbsoluteInputIsKept) {
  const auto spec = parse("[data.g]\nconvert = { source = \"globalopinionqa\", input = \"/data/x "
                          "y.json\" }\n");
  EXPECT_EQ(spec.data[0].convert, (OptionList{{"input", "/data/x y.json"}}));
}

TEST_F(StudyConvert, PairsSourceKeepsItsOptions) {
  const auto spec = parse("[data.prefs]\nconvert = { source = \"pairs\", input = \"p.csv\", "
                          "chosen-features = \"cf_\", rejected-features = \"rf_\", "
                          "min-pairs = 2 }\n");
  ASSERT_EQ(spec.data.size(), 1u);
  EXPECT_EQ(spec.data[0].convert_source, "pairs");
  const OptionList want{{"input", (m_dir / "p.csv").string()},
                        {"chosen-features", "cf_"},
                        {"min-pairs", "2"},
                        {"rejected-features", "rf_"}};
  EXPECT_EQ(spec.data[0].convert, want);
  ASSERT_FALSE(m_calls.empty());
  EXPECT_EQ(m_calls[0].command, "convert");
  EXPECT_EQ(m_calls[0].source, "pairs");
  EXPECT_EQ(m_calls[0].options, want);
}

TEST_F(StudyConvert, UnknownSourceNamesTheKeyAndTheSources) {
  const auto message = error_of("[data.g]\nconvert = { source = \"csv\", input = \"x.json\" }\n");
  EXPECT_NE(message.find("study file '" + (m_dir / "study.toml").string() + "' line 7"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("key 'data.g.convert.source'"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown source 'csv' (expected one of: globalopinionqa, pairs)"),
            std::string::npos)
      << message;
  EXPECT_TRUE(m_calls.empty());
}

TEST_F(StudyConvert, MissingSourceOrInput) {
  auto message = error_of("[data.g]\nconvert = { input = \"x.json\" }\n");
  EXPECT_NE(message.find("key 'data.g.convert'"), std::string::npos) << message;
  EXPECT_NE(message.find("missing 'source'"), std::string::npos) << message;
  message = error_of("[data.g]\nconvert = { source = \"globalopinionqa\", dim = 8 }\n");
  EXPECT_NE(message.find("key 'data.g.convert'"), std::string::npos) << message;
  EXPECT_NE(message.find("missing 'input'"), std::string::npos) << message;
  message = error_of("[data.g]\nconvert = { source = 3, input = \"x.json\" }\n");
  EXPECT_NE(message.find("key 'data.g.convert.source': expected a string"), std::string::npos)
      << message;
  message = error_of("[data.g]\nconvert = \"globalopinionqa\"\n");
  EXPECT_NE(message.find("key 'data.g.convert': expected a table"), std::string::npos) << message;
}

TEST_F(StudyConvert, AnOptionErrorNamesTheConvertKey) {
  m_fail_on = "convert";
  m_error = "option --dim: invalid value 4 (accepted: 8 to 65536)";
  const auto message = error_of(kConvert);
  EXPECT_NE(message.find("line 7: key 'data.goqa.convert.dim': option --dim: invalid value 4"),
            std::string::npos)
      << message;
  m_error = "grpo convert globalopinionqa: unrecognised option '--colour=red'";
  const auto other = error_of(
      "[data.goqa]\nconvert = { source = \"globalopinionqa\", input = \"x\", colour = \"red\" }\n");
  EXPECT_NE(other.find("key 'data.goqa.convert.colour'"), std::string::npos) << other;
}

TEST_F(StudyConvert, ReservedKeysPerSeedAndMixedKindsAreRejected) {
  auto message = error_of(
      "[data.g]\nconvert = { source = \"globalopinionqa\", input = \"x\", out = \"y.h5\" }\n");
  EXPECT_NE(message.find("key 'data.g.convert.out': set by the study itself"), std::string::npos)
      << message;
  message = error_of("[data.g]\nconvert = { source = \"globalopinionqa\", input = \"x\" }\n"
                     "per-seed = true\n");
  EXPECT_NE(message.find("key 'data.g.per-seed': converted data cannot be drawn per seed"),
            std::string::npos)
      << message;
  EXPECT_TRUE(m_calls.empty()); // rejected before the conversion is tried
  message = error_of("[data.g]\nconvert = { source = \"globalopinionqa\", input = \"x\" }\n"
                     "generate = { preset = \"even-imbalanced\" }\n");
  EXPECT_NE(message.find("key 'data.g': give exactly one of"), std::string::npos) << message;
  // per-seed = false is allowed (and means nothing).
  EXPECT_NO_THROW(parse("[data.g]\nconvert = { source = \"globalopinionqa\", input = \"x\" }\n"
                        "per-seed = false\n"));
}

TEST_F(StudyConvert, PlanHasAConvertTaskInTheDataLayerBeforeTheTraining) {
  const auto spec =
      parse(kConvert + std::string("[data.syn]\ngenerate = { preset = \"even-imbalanced\" }\n"));
  const auto plan = grpo::jobs::build_plan(spec);
  const Task* convert = plan.find("data.goqa");
  ASSERT_NE(convert, nullptr);
  EXPECT_EQ(convert->kind, TaskKind::Convert);
  EXPECT_STREQ(convert->layer(), "data");
  EXPECT_STREQ(grpo::jobs::task_kind_name(convert->kind), "convert");
  EXPECT_EQ(convert->output, "data/goqa.h5");
  EXPECT_EQ(convert->source, "globalopinionqa");
  EXPECT_EQ(convert->options, spec.data[0].convert);
  EXPECT_TRUE(convert->deps.empty());
  EXPECT_EQ(plan.find("data.syn")->kind, TaskKind::Generate);
  // 2 data x 2 methods x 2 seeds runs; those on goqa depend on its conversion.
  std::size_t on_goqa = 0;
  std::size_t convert_index = 0;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const Task& t = plan.tasks[i];
    if (t.id == "data.goqa") {
      convert_index = i;
    }
    if (t.kind == TaskKind::Train && t.data == "goqa") {
      ++on_goqa;
      EXPECT_EQ(t.deps, std::vector<std::string>{"data.goqa"});
      EXPECT_EQ(t.dataset, "data/goqa.h5");
      EXPECT_GT(i, convert_index); // dependency order
    }
  }
  EXPECT_EQ(on_goqa, 4u);

  // The command: grpo convert SOURCE --input=... OPTIONS --out=DIR/data/NAME.h5
  const grpo::jobs::Toolchain tools{"/opt/grpo/bin/grpo", "/usr/bin/python3", "/opt/analysis", {}};
  const std::vector<std::string> argv{"/opt/grpo/bin/grpo",
                                      "convert",
                                      "globalopinionqa",
                                      "--input=" + (m_dir / "in/opinions.json").string(),
                                      "--countries=Nigeria,Egypt",
                                      "--dim=16",
                                      "--pairs=all",
                                      "--out=" + (m_dir / "out/data/goqa.h5").string()};
  EXPECT_EQ(grpo::jobs::task_command(plan, *convert, tools), argv);
}

TEST_F(StudyConvert, PlanJsonRoundTripsTheConvertTask) {
  const auto plan = grpo::jobs::build_plan(parse(kConvert));
  const std::string text = grpo::jobs::plan_to_json(plan);
  EXPECT_NE(text.find("\"kind\": \"convert\""), std::string::npos);
  EXPECT_NE(text.find("\"source\": \"globalopinionqa\""), std::string::npos);
  grpo::jobs::write_plan(plan);
  EXPECT_TRUE(fs::is_directory(m_dir / "out/data"));
  const auto back = grpo::jobs::read_plan(plan.directory);
  ASSERT_EQ(back.tasks.size(), plan.tasks.size());
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const Task& a = plan.tasks[i];
    const Task& b = back.tasks[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.source, b.source);
    EXPECT_EQ(a.options, b.options);
    EXPECT_EQ(a.output, b.output);
    EXPECT_EQ(a.deps, b.deps);
    EXPECT_EQ(a.hash, b.hash);
  }
  // Markers: done under its hash; a conversion with another source or option is not done.
  const Task& convert = back.tasks[0];
  ASSERT_EQ(convert.kind, TaskKind::Convert);
  EXPECT_EQ(grpo::jobs::read_status(back, convert).state, grpo::jobs::TaskState::Pending);
  grpo::jobs::mark_done(back, convert, 1.0);
  EXPECT_EQ(grpo::jobs::read_status(back, convert).state, grpo::jobs::TaskState::Done);
  auto spec = parse(kConvert);
  spec.data[0].convert_source = "othersource";
  EXPECT_NE(grpo::jobs::build_plan(spec).tasks[0].hash, convert.hash);
  spec = parse(kConvert);
  spec.data[0].convert[1].second = "Nigeria";
  EXPECT_NE(grpo::jobs::build_plan(spec).tasks[0].hash, convert.hash);
  // A plan.json whose source could be taken for an option is rejected.
  std::string bad = text;
  const std::string from = "\"source\": \"globalopinionqa\"";
  bad.replace(bad.find(from), from.size(), "\"source\": \"--help\"");
  std::ofstream((m_dir / "out/plan.json").string()) << bad;
  try {
    (void)grpo::jobs::read_plan(plan.directory);
    ADD_FAILURE() << "a plan with source '--help' was read";
  } catch (const grpo::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("tasks[0].source"), std::string::npos) << e.what();
  }
}

} // namespace
