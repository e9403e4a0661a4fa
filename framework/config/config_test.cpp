// Tests of Hydra-style composition, overrides, interpolation, validation and canonical form,
// on the small config trees in framework/config/testdata/ (see its README.md).
#include "framework/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "framework/core/error.h"

namespace fs = std::filesystem;

namespace qmoe {
namespace {

const fs::path kData = fs::path(QMOE_SOURCE_DIR) / "framework/config/testdata";
const fs::path kBasic = kData / "basic";

template <class F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a qmoe::Error";
  return "";
}

#define EXPECT_HAS(msg, sub) EXPECT_NE((msg).find(sub), std::string::npos) << "message: " << (msg) << "\nmissing: " << (sub)

std::string Get(const ComposedConfig& c, const std::string& section, const std::string& key) {
  const YAML::Node& s = c.root[section];
  EXPECT_TRUE(s.IsMap()) << section;
  EXPECT_TRUE(s[key].IsScalar()) << section << "." << key;
  return s[key].Scalar();
}

ComposedConfig Compose(const std::vector<std::string>& ov, const std::string& primary = "config") {
  return ComposeConfig(kBasic, ov, primary);
}

// ---------------------------------------------------------------- composition and _self_

TEST(Compose, SelfLastPrimaryKeysWin) {
  ComposedConfig c = Compose({});
  EXPECT_EQ(Get(c, "method", "bits"), "3");  // primary's 3 beats rtn.yaml's 4
  EXPECT_EQ(Get(c, "method", "group_size"), "128");
  EXPECT_EQ(Get(c, "model", "name"), "tiny");
  EXPECT_EQ(c.root["seed"].Scalar(), "0");
  EXPECT_FALSE(c.root["defaults"]);
  EXPECT_EQ(c.origin.at("method.bits"), "basic/config.yaml");
  EXPECT_EQ(c.origin.at("method.group_size"), "basic/method/rtn.yaml");
  EXPECT_EQ(c.origin.at("results.db"), "basic/config.yaml");
  EXPECT_EQ(c.choices, (std::map<std::string, std::string>{{"method", "rtn"}, {"model", "tiny"}}));
}

TEST(Compose, SelfFirstDefaultsWin) {
  ComposedConfig c = Compose({}, "self_first");
  EXPECT_EQ(Get(c, "method", "bits"), "4");
  EXPECT_EQ(c.origin.at("method.bits"), "basic/method/rtn.yaml");
}

TEST(Compose, MissingSelfCountsAsLast) {
  EXPECT_EQ(Get(Compose({}, "no_self"), "method", "bits"), "3");
}

TEST(Compose, GroupOverrideWithNestedDefaults) {
  ComposedConfig c = Compose({"method=gptq", "model=small"});
  EXPECT_EQ(Get(c, "method", "name"), "gptq");
  EXPECT_EQ(Get(c, "method", "bits"), "3");          // primary's _self_ still last
  EXPECT_EQ(Get(c, "method", "group_size"), "64");   // from base.yaml via gptq.yaml's `- base`
  EXPECT_EQ(Get(c, "method", "damp"), "0.01");
  EXPECT_EQ(Get(c, "model", "experts"), "16");
  EXPECT_EQ(c.origin.at("method.group_size"), "basic/method/base.yaml");
  EXPECT_EQ(c.origin.at("method.name"), "basic/method/gptq.yaml");
  EXPECT_EQ(c.choices.at("method"), "gptq");
  EXPECT_FALSE(c.root["method"]["damp"].IsNull());
  EXPECT_EQ(c.overrides, (std::vector<std::string>{"method=gptq", "model=small"}));
}

TEST(Compose, ExperimentOverrideAndGlobalPackage) {
  ComposedConfig c = Compose({}, "exp_last");
  EXPECT_EQ(c.choices.at("method"), "gptq");  // `override /method: gptq` in experiment/gptq2.yaml
  EXPECT_EQ(c.choices.at("experiment"), "gptq2");
  EXPECT_EQ(Get(c, "method", "bits"), "3");   // set by the experiment at the root package
  EXPECT_EQ(Get(c, "experiment", "rows"), "16");
  EXPECT_FALSE(c.root["experiment"]["experiment"]);  // merged at the root, not under `experiment`
  EXPECT_EQ(c.root["seed"].Scalar(), "0");    // the primary's _self_ comes after the experiment
  EXPECT_EQ(c.origin.at("experiment.rows"), "basic/experiment/gptq2.yaml");
  EXPECT_EQ(c.origin.at("method.bits"), "basic/experiment/gptq2.yaml");
}

TEST(Compose, CommandLineChoiceBeatsDefaultsOverride) {
  EXPECT_EQ(Compose({"method=rtn"}, "exp_last").choices.at("method"), "rtn");
}

TEST(Compose, AppendedExperimentComesAfterSelf) {
  ComposedConfig c = Compose({"+experiment=gptq2"});
  EXPECT_EQ(c.root["seed"].Scalar(), "7");
  EXPECT_EQ(c.choices.at("method"), "gptq");
}

TEST(Compose, OverrideReadTooLateIsAnError) {
  std::string m = ErrorOf([] { Compose({}, "exp_first"); });
  EXPECT_HAS(m, "basic/experiment/gptq2.yaml");
  EXPECT_HAS(m, "Could not override 'method'");
  EXPECT_HAS(m, "already chosen by basic/exp_first.yaml");
}

TEST(Compose, OverrideEntriesMustEndTheList) {
  std::string m = ErrorOf([] { Compose({}, "override_not_last"); });
  EXPECT_HAS(m, "basic/override_not_last.yaml");
  EXPECT_HAS(m, "must be at the end");
}

TEST(Compose, NullGroupIsNotSelected) {
  ComposedConfig c = Compose({}, "null_group");
  EXPECT_FALSE(c.root["model"]);
  EXPECT_EQ(c.choices.count("model"), 0u);
  EXPECT_EQ(Get(Compose({"model=small"}, "null_group"), "model", "name"), "small");
  EXPECT_FALSE(Compose({"model=null"}).root["model"]);
}

TEST(Compose, UnknownOptionInFileNamesFolderAndNearest) {
  std::string m = ErrorOf([] { Compose({}, "bad_option"); });
  EXPECT_HAS(m, "basic/bad_option.yaml");
  EXPECT_HAS(m, "no option 'gtpq' in basic/method/");
  EXPECT_HAS(m, "options: base, gptq, rtn, typo");
  EXPECT_HAS(m, "did you mean 'gptq'?");
}

TEST(Compose, UnknownOptionInOverride) {
  std::string m = ErrorOf([] { Compose({"method=gtpq"}); });
  EXPECT_HAS(m, "override 'method=gtpq'");
  EXPECT_HAS(m, "did you mean 'gptq'?");
}

TEST(Compose, GroupAppendDeleteAndForce) {
  ComposedConfig c = Compose({"+data=corpus"});
  EXPECT_EQ(Get(c, "data", "tokens"), "2048");
  EXPECT_EQ(c.choices.at("data"), "corpus");
  EXPECT_EQ(Get(Compose({"++data=corpus"}), "data", "tokens"), "2048");   // appended
  EXPECT_EQ(Get(Compose({"++model=small"}), "model", "name"), "small");   // chosen
  EXPECT_FALSE(Compose({"~model"}).root["model"]);
  EXPECT_FALSE(Compose({"~model=tiny"}).root["model"]);

  std::string m = ErrorOf([] { Compose({"~model=small"}); });
  EXPECT_HAS(m, "Could not delete 'model=small'");
  EXPECT_HAS(m, "model is tiny");
  m = ErrorOf([] { Compose({"+model=small"}); });
  EXPECT_HAS(m, "chosen twice");
  EXPECT_HAS(m, "without '+'");
  m = ErrorOf([] { Compose({"data=corpus"}); });
  EXPECT_HAS(m, "no 'data' in the defaults list");
  EXPECT_HAS(m, "+data=corpus");
}

TEST(Compose, MalformedYamlNamesFileLineColumn) {
  std::string m = ErrorOf([] { ComposeConfig(kData / "malformed", {}); });
  EXPECT_HAS(m, "malformed/method/broken.yaml:3:16: malformed YAML");
  // The broken file is not read when another option is chosen.
  EXPECT_EQ(Get(ComposeConfig(kData / "malformed", {"method=ok"}), "method", "name"), "ok");
}

// A tagged scalar ("!x ~") read differently from what the canonical writer gives back (found by
// fuzz/config_fuzz, kept as corpus/config_fuzz/regression_yaml_tag): tags are refused.
TEST(Compose, YamlTagsAreRefusedNamingFileAndLine) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("qmoe_cfg_tag_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.yaml") << "seed: 1\nname: !x ~\n";
  const std::string m = ErrorOf([&] { ComposeConfig(dir, {}); });
  std::filesystem::remove_all(dir);
  EXPECT_HAS(m, "config.yaml:2: YAML tag '!x' is not supported");
}

TEST(Compose, MissingDirOrPrimary) {
  std::string m = ErrorOf([] { ComposeConfig(kData / "no_such_dir", {}); });
  EXPECT_HAS(m, "no_such_dir");
  m = ErrorOf([] { Compose({}, "nope"); });
  EXPECT_HAS(m, "primary config");
  EXPECT_HAS(m, "nope.yaml");
}

// ---------------------------------------------------------------- key overrides

TEST(Overrides, SetExistingKeyRecordsOrigin) {
  ComposedConfig c = Compose({"method.bits=2"});
  EXPECT_EQ(Get(c, "method", "bits"), "2");
  EXPECT_EQ(c.origin.at("method.bits"), "override 'method.bits=2'");
}

TEST(Overrides, MissingKeySuggestsNearestAndPlus) {
  std::string m = ErrorOf([] { Compose({"method.bitz=2"}); });
  EXPECT_HAS(m, "Could not override 'method.bitz'");
  EXPECT_HAS(m, "key not found in 'method' (from basic/config.yaml)");
  EXPECT_HAS(m, "did you mean 'method.bits'?");
  EXPECT_HAS(m, "To add it use +method.bitz=2");
  m = ErrorOf([] { Compose({"sed=1"}); });
  EXPECT_HAS(m, "the root config");
  EXPECT_HAS(m, "did you mean 'seed'?");
}

TEST(Overrides, GroupChoiceWinsOverExistingKey) {
  // `method` is both a folder and a key: method=gptq chooses the option.
  EXPECT_EQ(Get(Compose({"method=gptq"}), "method", "name"), "gptq");
  // A mapping value sets keys instead (merged into the section).
  ComposedConfig c = Compose({"method={bits: 6}"});
  EXPECT_EQ(Get(c, "method", "bits"), "6");
  EXPECT_EQ(Get(c, "method", "name"), "rtn");
}

TEST(Overrides, AddForceAndDelete) {
  ComposedConfig c = Compose({"+method.extra=1", "+new.deep.key=x", "++method.bits=7", "++method.more=2", "~method.sym"});
  EXPECT_EQ(Get(c, "method", "extra"), "1");
  EXPECT_EQ(c.root["new"]["deep"]["key"].Scalar(), "x");
  EXPECT_EQ(Get(c, "method", "bits"), "7");
  EXPECT_EQ(Get(c, "method", "more"), "2");
  EXPECT_FALSE(c.root["method"]["sym"]);
  EXPECT_EQ(c.origin.count("method.sym"), 0u);
  EXPECT_FALSE(Compose({"~method.sym=true"}).root["method"]["sym"]);

  std::string m = ErrorOf([] { Compose({"+method.bits=1"}); });
  EXPECT_HAS(m, "Could not add 'method.bits'");
  EXPECT_HAS(m, "already exists");
  m = ErrorOf([] { Compose({"~method.sym=false"}); });
  EXPECT_HAS(m, "Could not delete 'method.sym'");
  EXPECT_HAS(m, "its value is true");
  m = ErrorOf([] { Compose({"~method.nope"}); });
  EXPECT_HAS(m, "Could not delete 'method.nope'");
}

TEST(Overrides, ValuesAreYaml) {
  ComposedConfig c = Compose({"method.bits=0.5", "seed=null", "results.db=[1,2]", "method.name='quoted'",
                              "model.name=\"a,b\"", "results.dir="});
  EXPECT_EQ(Get(c, "method", "bits"), "0.5");
  EXPECT_TRUE(c.root["seed"].IsNull());
  ASSERT_TRUE(c.root["results"]["db"].IsSequence());
  EXPECT_EQ(c.root["results"]["db"][1].Scalar(), "2");
  EXPECT_EQ(Get(c, "method", "name"), "quoted");
  EXPECT_EQ(Get(c, "model", "name"), "a,b");
  EXPECT_EQ(Get(c, "results", "dir"), "");
}

TEST(Overrides, MalformedOverridesNameThemselves) {
  for (const char* bad : {"method.bits", "=3", "method.bits=[1,", "a..b=1", "me thod=1"}) {
    std::string m = ErrorOf([&] { Compose({bad}); });
    EXPECT_HAS(m, std::string("malformed override '") + bad + "'");
  }
}

// ---------------------------------------------------------------- interpolation

TEST(Interpolation, NodeCopyTextChainRelativeNestedEnvEscape) {
  setenv("QMOE_CONFIG_TEST_VAR", "from_env", 1);
  unsetenv("QMOE_CONFIG_TEST_UNSET_VAR");
  ComposedConfig c = Compose({}, "interp");
  EXPECT_EQ(Get(c, "paths", "out"), "/data/out");
  EXPECT_EQ(Get(c, "paths", "chain"), "/data/out");
  EXPECT_EQ(Get(c, "paths", "same_seed"), "5");
  ASSERT_TRUE(c.root["copy"].IsMap());
  EXPECT_EQ(c.root["copy"]["name"].Scalar(), "rtn");
  EXPECT_EQ(c.root["copy"]["bits"].Scalar(), "4");
  EXPECT_EQ(c.root["nested"].Scalar(), "/data");
  EXPECT_EQ(c.root["env_set"].Scalar(), "from_env");
  EXPECT_EQ(c.root["env_default"].Scalar(), "fallback");
  EXPECT_EQ(c.root["escaped"].Scalar(), "${paths.root}");
  EXPECT_EQ(c.root["tag"].Scalar(), "run_rtn_b4");
  EXPECT_EQ(c.root["list"][0].Scalar(), "5");
  EXPECT_EQ(c.root["list"][1].Scalar(), "x_/data");
  // Overrides apply before interpolation.
  ComposedConfig o = Compose({"method.bits=2"}, "interp");
  EXPECT_EQ(o.root["tag"].Scalar(), "run_rtn_b2");
  EXPECT_EQ(o.root["copy"]["bits"].Scalar(), "2");
}

TEST(Interpolation, CycleNamesKeyAndOrigin) {
  std::string m = ErrorOf([] { Compose({"++a=${b}", "++b=${a}"}); });
  EXPECT_HAS(m, "interpolation cycle in key 'b' (from override '++b=${a}')");
  EXPECT_HAS(m, "a -> b -> a");
  m = ErrorOf([] { Compose({"++method.self=${method}"}); });
  EXPECT_HAS(m, "interpolation cycle");
  EXPECT_HAS(m, "method -> method.self -> method");
}

TEST(Interpolation, MissingKeyNamesHolderAndNearest) {
  std::string m = ErrorOf([] { Compose({"++x=${method.bitz}"}); });
  EXPECT_HAS(m, "in key 'x' (from override '++x=${method.bitz}')");
  EXPECT_HAS(m, "key 'method.bitz' not found");
  EXPECT_HAS(m, "did you mean 'bits'?");
  m = ErrorOf([] { Compose({"++e=${oc.env:QMOE_CONFIG_TEST_SURELY_UNSET}"}); });
  EXPECT_HAS(m, "'QMOE_CONFIG_TEST_SURELY_UNSET' is not set");
  m = ErrorOf([] { Compose({"++s=a_${method}"}); });
  EXPECT_HAS(m, "refers to a mapping");
}

// ---------------------------------------------------------------- validation

ParamSpec Spec(const std::string& name, ParamType type, const std::string& def, std::vector<std::string> choices = {},
               double min = -1e300, double max = 1e300) {
  ParamSpec s;
  s.name = name;
  s.type = type;
  s.default_text = def;
  s.help = name;
  s.choices = std::move(choices);
  s.min = min;
  s.max = max;
  return s;
}

ConfigSchema TestSchema() {
  ConfigSchema s;
  s[""] = {Spec("seed", ParamType::kInt, "0", {}, 0, 1e9)};
  s["results"] = {Spec("db", ParamType::kString, "r.db"), Spec("dir", ParamType::kString, "runs")};
  s["method"] = {Spec("name", ParamType::kString, "rtn", {"rtn", "gptq", "typo"}),
                 Spec("bits", ParamType::kInt, "4", {}, 2, 8), Spec("group_size", ParamType::kInt, "128"),
                 Spec("sym", ParamType::kBool, "true"), Spec("damp", ParamType::kFloat, "0.01")};
  s["model"] = {Spec("name", ParamType::kString, ""), Spec("experts", ParamType::kInt, "8"),
                Spec("tags", ParamType::kString, "")};
  s["eval"] = {Spec("tokens", ParamType::kInt, "512")};
  return s;
}

TEST(Validate, TypedValuesAndDefaults) {
  auto typed = ValidateConfig(Compose({"+model.tags=[a,b]"}), TestSchema());
  EXPECT_EQ(std::get<int64_t>(typed["method"]["bits"]), 3);
  EXPECT_EQ(std::get<bool>(typed["method"]["sym"]), true);
  EXPECT_DOUBLE_EQ(std::get<double>(typed["method"]["damp"]), 0.01);  // absent from rtn.yaml: default
  EXPECT_EQ(std::get<int64_t>(typed[""]["seed"]), 0);
  EXPECT_EQ(std::get<std::string>(typed["model"]["tags"]), "[a, b]");
  EXPECT_EQ(std::get<int64_t>(typed["eval"]["tokens"]), 512);  // section absent from the config
}

TEST(Validate, UnknownKeyNamesFileNearestAndValidKeys) {
  std::string m = ErrorOf([] { ValidateConfig(Compose({"method=typo"}), TestSchema()); });
  EXPECT_EQ(m, "basic/method/typo.yaml: unknown key 'bitz' in 'method' (did you mean 'bits'?); "
               "valid keys: bits, damp, group_size, name, sym");
  m = ErrorOf([] { ValidateConfig(Compose({"+foo.bar=1"}), TestSchema()); });
  EXPECT_HAS(m, "override '+foo.bar=1': unknown top-level key 'foo'");
}

TEST(Validate, WrongTypeRangeChoiceAndShape) {
  std::string m = ErrorOf([] { ValidateConfig(Compose({"method.bits=abc"}), TestSchema()); });
  EXPECT_HAS(m, "override 'method.bits=abc'");
  EXPECT_HAS(m, "expected int");
  m = ErrorOf([] { ValidateConfig(Compose({"method.bits=9"}), TestSchema()); });
  EXPECT_HAS(m, "in [2, 8]");
  m = ErrorOf([] { ValidateConfig(Compose({"method.name=rtm"}), TestSchema()); });
  EXPECT_HAS(m, "not one of");
  EXPECT_HAS(m, "did you mean 'rtn'?");
  m = ErrorOf([] { ValidateConfig(Compose({"results=3"}), TestSchema()); });
  EXPECT_HAS(m, "'results' must be a mapping");
  m = ErrorOf([] { ValidateConfig(Compose({"method.bits=[2,3]"}), TestSchema()); });
  EXPECT_HAS(m, "expected int, got a list");
}

// ---------------------------------------------------------------- canonical form

TEST(Canonical, OrderIndependentSortedBlockStyle) {
  YAML::Node a = YAML::Load("b: 1\na: {d: [1, 2], c: x}\n");
  YAML::Node b = YAML::Load("a:\n  c: x\n  d: [1, 2]\nb: 1\n");
  EXPECT_EQ(CanonicalYaml(a), CanonicalYaml(b));
  EXPECT_EQ(CanonicalYaml(a), "a:\n  c: x\n  d:\n    - 1\n    - 2\nb: 1");
  EXPECT_NE(CanonicalYaml(YAML::Load("a: '3'")), CanonicalYaml(YAML::Load("a: 3")));  // string vs int
  EXPECT_EQ(CanonicalYaml(YAML::Load("a: '3'")), "a: '3'");
  // Same config reached through differently ordered overrides.
  EXPECT_EQ(CanonicalYaml(Compose({"+x.b=1", "+x.a=2"}).root), CanonicalYaml(Compose({"+x.a=2", "+x.b=1"}).root));
  EXPECT_NE(CanonicalYaml(Compose({}).root), CanonicalYaml(Compose({"method.bits=2"}).root));
}

TEST(Canonical, Flatten) {
  auto flat = FlattenConfig(Compose({"+method.list=[1,2]"}).root);
  EXPECT_EQ(flat.at("method.bits"), "3");
  EXPECT_EQ(flat.at("results.db"), "results/qmoe.db");
  EXPECT_EQ(flat.at("method.list"), "[1, 2]");
  EXPECT_EQ(flat.at("seed"), "0");
  EXPECT_EQ(flat.count("method"), 0u);
}

}  // namespace
}  // namespace qmoe
