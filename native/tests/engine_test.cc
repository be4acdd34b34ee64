// Engine tests: the JSON parser, config.json checks, safetensors validation,
// weight loading, and the BERT forward pass against a naive double-precision
// implementation written here, on a tiny random model built by the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/bert.h"
#include "engine/config.h"
#include "engine/errors.h"
#include "engine/files.h"
#include "engine/json.h"
#include "engine/safetensors.h"
#include "engine/weights.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref_kernels.h"

namespace crossrank::engine {
namespace {

// Passes when text contains part; prints both otherwise.
::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\"\n  does not contain\n\"" << part
                                       << "\"";
}
#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(contains((text), (part)))

// ---------------------------------------------------------------------------
// Helpers

// The message of the exception that fn throws as E (fails the test if none).
template <typename E>
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

// A fresh folder under $TMPDIR, removed with its files at the end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/crossrank-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() { remove_tree(path_); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  std::string subdir(const std::string& name) const {
    const std::string dir = file(name);
    ::mkdir(dir.c_str(), 0700);
    return dir;
  }

 private:
  static void remove_tree(const std::string& path) {
    if (DIR* dir = ::opendir(path.c_str())) {
      while (dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        const std::string child = path + "/" + name;
        struct stat st {};
        if (::lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
          remove_tree(child);
        } else {
          ::unlink(child.c_str());
        }
      }
      ::closedir(dir);
    }
    ::rmdir(path.c_str());
  }
  std::string path_;
};

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string u64_le(std::uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return out;
}

// A safetensors file with a literal header and data section.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return u64_le(header.size()) + header + data;
}

struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

std::string shape_json(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

// A well-formed file holding tensors in order.
std::string build_safetensors(const std::vector<TensorSpec>& tensors,
                              const std::string& metadata = "") {
  std::string header = "{";
  std::string data;
  if (!metadata.empty()) header += "\"__metadata__\":" + metadata;
  for (const TensorSpec& t : tensors) {
    if (header.size() > 1) header += ",";
    const std::size_t begin = data.size();
    data += t.bytes;
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + shape_json(t.shape) +
              ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) +
              "]}";
  }
  header += "}";
  // Pad the header with spaces to a multiple of 8, as the reference writer does.
  while ((header.size() + 8) % 8 != 0) header += ' ';
  return safetensors_bytes(header, data);
}

std::string f32_bytes(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::uint16_t f32_to_f16_exact(float value) {
  // Only for values exactly representable as normal f16 (test weights are).
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  if ((bits & 0x7FFFFFFFu) == 0) return static_cast<std::uint16_t>(sign);
  const int exponent = static_cast<int>((bits >> 23) & 0xFF) - 127 + 15;
  EXPECT_GT(exponent, 0);
  EXPECT_LT(exponent, 31);
  EXPECT_EQ(bits & 0x1FFFu, 0u) << value << " is not exact in f16";
  return static_cast<std::uint16_t>(sign | (exponent << 10) | ((bits >> 13) & 0x3FF));
}

std::string f16_bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    const std::uint16_t h = f32_to_f16_exact(v);
    out += static_cast<char>(h & 0xFF);
    out += static_cast<char>(h >> 8);
  }
  return out;
}

std::string bf16_bytes(const std::vector<float>& values) {
  std::string out;
  for (float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    EXPECT_EQ(bits & 0xFFFFu, 0u) << v << " is not exact in bf16";
    out += static_cast<char>((bits >> 16) & 0xFF);
    out += static_cast<char>(bits >> 24);
  }
  return out;
}

// ---------------------------------------------------------------------------
// JSON

TEST(Json, ParsesEveryKindOfValue) {
  const json::Value v = json::parse(
      R"( {"a": [1, -2.5, 3e2, true, false, null], "b": {"c": "d"}, "e": {}, "f": []} )");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.as_object().size(), 4u);
  const json::Value* a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->as_array().size(), 6u);
  EXPECT_EQ(a->as_array()[0].as_double(), 1.0);
  EXPECT_EQ(a->as_array()[1].as_double(), -2.5);
  EXPECT_EQ(a->as_array()[2].as_double(), 300.0);
  EXPECT_TRUE(a->as_array()[3].as_bool());
  EXPECT_FALSE(a->as_array()[4].as_bool());
  EXPECT_TRUE(a->as_array()[5].is_null());
  EXPECT_EQ(v.find("b")->find("c")->as_string(), "d");
  EXPECT_TRUE(v.find("e")->as_object().empty());
  EXPECT_TRUE(v.find("f")->as_array().empty());
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_TRUE(json::parse("7").is_number());
  EXPECT_TRUE(json::parse("\"x\"").is_string());
}

TEST(Json, Numbers) {
  std::uint64_t u = 0;
  std::int64_t i = 0;
  EXPECT_TRUE(json::parse("18446744073709551615").get_uint64(&u));
  EXPECT_EQ(u, UINT64_MAX);
  // Too big for uint64 but fine as a double.
  const json::Value huge = json::parse("18446744073709551616");
  EXPECT_FALSE(huge.get_uint64(&u));
  EXPECT_DOUBLE_EQ(huge.as_double(), 18446744073709551616.0);
  const json::Value long_integer = json::parse("123456789012345678901234567890123456789");
  EXPECT_FALSE(long_integer.get_uint64(&u));
  EXPECT_DOUBLE_EQ(long_integer.as_double(), 1.2345678901234568e38);
  EXPECT_TRUE(json::parse("-9223372036854775808").get_int64(&i));
  EXPECT_EQ(i, INT64_MIN);
  EXPECT_FALSE(json::parse("-9223372036854775809").get_int64(&i));
  EXPECT_FALSE(json::parse("-1").get_uint64(&u));
  EXPECT_TRUE(json::parse("-0").get_uint64(&u));
  EXPECT_EQ(u, 0u);
  EXPECT_FALSE(json::parse("1.0").get_uint64(&u));  // not an integer literal
  EXPECT_FALSE(json::parse("1e2").get_uint64(&u));
  EXPECT_DOUBLE_EQ(json::parse("1.5E-3").as_double(), 1.5e-3);
  EXPECT_DOUBLE_EQ(json::parse("1e-12").as_double(), 1e-12);
  EXPECT_EQ(json::parse("1e-400").as_double(), 0.0);  // underflow is zero
  EXPECT_DOUBLE_EQ(json::parse("1.7976931348623157e308").as_double(), 1.7976931348623157e308);
  for (const char* bad : {"1e400", "-1e400", "01", "-01", "1.", ".5", "-", "+1", "1e", "1e+",
                          "0x10", "NaN", "Infinity", "-Infinity", "1.e3", "- 1"}) {
    EXPECT_THROW(json::parse(bad), json::ParseError) << bad;
  }
}

TEST(Json, StringEscapes) {
  EXPECT_EQ(json::parse(R"("a\"b\\c\/d\be\ff\ng\rh\ti")").as_string(),
            "a\"b\\c/d\be\ff\ng\rh\ti");
  EXPECT_EQ(json::parse(R"("\u0041\u00e9\u20AC")").as_string(), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(json::parse(R"("\u0000")").as_string(), std::string(1, '\0'));
  // Surrogate pair -> one 4-byte UTF-8 sequence (U+1F600).
  EXPECT_EQ(json::parse(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(json::parse(R"("\uDBFF\uDFFF")").as_string(), "\xF4\x8F\xBF\xBF");
  // Raw UTF-8 passes through.
  EXPECT_EQ(json::parse("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"").as_string(),
            "caf\xC3\xA9 \xF0\x9F\x98\x80");
  for (const char* bad : {
           R"("\ud83d")",          // lone high surrogate
           R"("\ude00")",          // lone low surrogate
           R"("\ud83d\u0041")",    // high surrogate + non-surrogate
           R"("\ud83dx")",         // high surrogate + text
           R"("\x41")",            // unknown escape
           R"("\u12")",            // short \u
           R"("\u12G4")",          // bad hex
           "\"a\nb\"",             // raw control character
           "\"tab\there\"",        // raw tab
           "\"unterminated",       //
           "\"\xC3\"",             // truncated UTF-8
           "\"\xC0\xAF\"",         // overlong
           "\"\xED\xA0\x80\"",     // UTF-8 encoded surrogate
           "\"\xF5\x80\x80\x80\"", // above U+10FFFF
           "\"\xFF\"",             //
       }) {
    EXPECT_THROW(json::parse(bad), json::ParseError) << bad;
  }
}

TEST(Json, StructureErrors) {
  for (const char* bad : {"", "   ", "{", "[", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}",
                          "{\"a\":1 \"b\":2}", "[1 2]", "{} {}", "[] x", "tru", "nul", "falsey",
                          "// c\n{}", "{\"a\":1,\"a\":2}", "'a'", "\xEF\xBB\xBF{}"}) {
    EXPECT_THROW(json::parse(bad), json::ParseError) << bad;
  }
}

TEST(Json, ErrorNamesByteOffset) {
  try {
    json::parse("{\"a\": [1, 2,, 3]}");
    FAIL();
  } catch (const json::ParseError& error) {
    EXPECT_EQ(error.offset(), 12u);
    EXPECT_CONTAINS(error.what(), ("byte 12"));
  }
}

TEST(Json, DepthLimit) {
  const int limit = json::kDefaultMaxDepth;
  const std::string ok = std::string(limit, '[') + std::string(limit, ']');
  EXPECT_NO_THROW(json::parse(ok));
  const std::string too_deep = std::string(limit + 1, '[') + std::string(limit + 1, ']');
  EXPECT_CONTAINS(error_of<json::ParseError>([&] { json::parse(too_deep); }), ("nesting"));
  // Far deeper than any stack would survive without the limit.
  const std::string hostile(1000000, '[');
  EXPECT_THROW(json::parse(hostile), json::ParseError);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_THROW(json::parse(objects), json::ParseError);
  EXPECT_NO_THROW(json::parse("[[[1]]]", 3));
  EXPECT_THROW(json::parse("[[[1]]]", 2), json::ParseError);
}

// ---------------------------------------------------------------------------
// config.json

const char* kPath = "/models/x/config.json";

std::string config_with(const std::string& fields) {
  return std::string(R"({"model_type": "bert", "architectures": ["BertForSequenceClassification"],
    "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
    "intermediate_size": 1536, "vocab_size": 30522)") +
         (fields.empty() ? "" : ", " + fields) + "}";
}

TEST(Config, ParsesMiniLMStyleConfig) {
  const ModelConfig c = parse_config(
      config_with(R"("id2label": {"0": "LABEL_0"}, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
                     "torch_dtype": "float32", "position_embedding_type": "absolute")"),
      kPath);
  EXPECT_EQ(c.model_type, "bert");
  ASSERT_EQ(c.architectures.size(), 1u);
  EXPECT_EQ(c.hidden_size, 384);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.head_dim(), 32);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.vocab_size, 30522);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_EQ(c.num_labels, 1);
  EXPECT_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_EQ(c.hidden_act, "gelu");
}

TEST(Config, NumLabels) {
  EXPECT_EQ(parse_config(config_with(""), kPath).num_labels, 2);  // Hugging Face default
  EXPECT_EQ(parse_config(config_with(R"("num_labels": 5)"), kPath).num_labels, 5);
  EXPECT_EQ(parse_config(config_with(R"("id2label": {"0": "a", "1": "b", "2": "c"},
                                        "num_labels": 7)"),
                         kPath)
                .num_labels,
            3);
  EXPECT_CONTAINS(error_of<ModelError>([] { parse_config(config_with(R"("id2label": {})"), kPath); }),
              ("id2label"));
  EXPECT_EQ(parse_config(R"({"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1,
                            "num_attention_heads": 2, "intermediate_size": 4, "vocab_size": 3})",
                         kPath)
                .architectures.size(),
            0u);
}

TEST(Config, ErrorsNameFileFieldAndProblem) {
  struct Case {
    std::string text;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {R"({"model_type": "deberta-v2", "hidden_size": 8})",
       {"config.json: model_type: \"deberta-v2\"", "bert (BertForSequenceClassification)",
        "xlm-roberta (XLMRobertaForSequenceClassification)"}},
      {R"({"model_type": "roberta", "architectures": ["RobertaModel"]})",
       {"config.json: architectures: [RobertaModel]", "(a bare RobertaModel encoder"}},
      {R"({"hidden_size": 8})", {"config.json: model_type: missing"}},
      {R"({"model_type": 3})", {"config.json: model_type: expected a string"}},
      {config_with("").replace(config_with("").find("BertForSequenceClassification"),
                               std::strlen("BertForSequenceClassification"), "BertModel"),
       {"config.json: architectures: [BertModel]", "bert (BertForSequenceClassification)"}},
      {R"({"model_type": "bert", "architectures": "BertModel"})",
       {"config.json: architectures: expected an array"}},
      {R"({"model_type": "bert", "num_hidden_layers": 2})", {"config.json: hidden_size: missing"}},
      {R"({"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 1,
           "num_attention_heads": 7})",
       {"config.json: num_attention_heads: 7 does not divide hidden_size 384"}},
      {R"({"model_type": "bert", "hidden_size": "384"})",
       {"config.json: hidden_size: expected an integer, found \"384\""}},
      {R"({"model_type": "bert", "hidden_size": 38.5})",
       {"config.json: hidden_size: expected an integer, found 38.5"}},
      {R"({"model_type": "bert", "hidden_size": -4})",
       {"config.json: hidden_size: -4 is outside the supported range"}},
      {R"({"model_type": "bert", "hidden_size": 1e300})", {"config.json: hidden_size:"}},
      {R"({"model_type": "bert", "hidden_size": 30, "num_hidden_layers": 1,
           "num_attention_heads": 4})",
       {"config.json: num_attention_heads: 4 does not divide hidden_size 30"}},
      {config_with(R"("hidden_act": "relu")"),
       {"config.json: hidden_act: \"relu\" is not supported", "gelu"}},
      {config_with(R"("hidden_act": "gelu_new")"), {"hidden_act: \"gelu_new\""}},
      {config_with(R"("position_embedding_type": "relative_key")"),
       {"config.json: position_embedding_type: \"relative_key\" is not supported"}},
      {config_with(R"("layer_norm_eps": 0)"), {"config.json: layer_norm_eps:"}},
      {config_with(R"("type_vocab_size": 0)"), {"config.json: type_vocab_size: 0 is outside"}},
      {config_with(R"("max_position_embeddings": true)"),
       {"config.json: max_position_embeddings: expected an integer, found true"}},
      {config_with(R"("num_labels": 0)"), {"config.json: num_labels: 0 is outside"}},
      {config_with(R"("id2label": [1])"), {"config.json: id2label: expected an object"}},
      {"[1, 2]", {"config.json: expected a JSON object, found an array"}},
      {"{\"model_type\": \"bert\",}", {"config.json: invalid JSON at byte"}},
  };
  for (const Case& c : cases) {
    const std::string message = error_of<ModelError>([&] { parse_config(c.text, kPath); });
    EXPECT_CONTAINS(message, ("/models/x/config.json: ")) << c.text;
    for (const std::string& part : c.expected) EXPECT_CONTAINS(message, (part)) << c.text;
  }
}

std::string modernbert_config_with(const std::string& fields) {
  return std::string(R"({"model_type": "modernbert",
    "architectures": ["ModernBertForSequenceClassification"], "hidden_size": 768,
    "num_hidden_layers": 22, "num_attention_heads": 12, "intermediate_size": 1152,
    "vocab_size": 50368, "max_position_embeddings": 8192)") +
         (fields.empty() ? "" : ", " + fields) + "}";
}

TEST(Config, ModernBertFieldsAndDefaults) {
  // gte-reranker-modernbert-base's fields.
  const ModelConfig c = parse_config(
      modernbert_config_with(R"("norm_eps": 1e-05, "global_rope_theta": 160000.0,
        "local_rope_theta": 10000.0, "local_attention": 128, "global_attn_every_n_layers": 3,
        "classifier_pooling": "mean", "hidden_activation": "gelu",
        "classifier_activation": "gelu", "norm_bias": false, "attention_bias": false,
        "mlp_bias": false, "classifier_bias": false, "rope_scaling": null)"),
      kPath);
  EXPECT_EQ(c.family, Family::kModernBert);
  EXPECT_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.max_length(), 8192);
  EXPECT_FALSE(c.token_types_from_input);
  EXPECT_TRUE(c.mean_pooling);
  EXPECT_EQ(c.local_attention, 128);
  EXPECT_EQ(c.global_rope_theta, 160000.0);
  EXPECT_EQ(c.local_rope_theta, 10000.0);
  // Layers 0, 3, 6, ... are global.
  EXPECT_FALSE(c.local_layer(0));
  EXPECT_TRUE(c.local_layer(1));
  EXPECT_TRUE(c.local_layer(2));
  EXPECT_FALSE(c.local_layer(3));
  // Defaults as transformers' ModernBertConfig; local_rope_theta null: the global one.
  const ModelConfig d = parse_config(modernbert_config_with(R"("local_rope_theta": null)"), kPath);
  EXPECT_FALSE(d.mean_pooling);
  EXPECT_EQ(d.local_rope_theta, 160000.0);
  EXPECT_EQ(d.global_attn_every_n_layers, 3);
  EXPECT_FALSE(d.norm_bias);
}

TEST(Config, ModernBertRefusesUnsupportedValuesByName) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("hidden_activation": "gelu_python_tanh")", "hidden_activation: \"gelu_python_tanh\""},
      {R"("classifier_activation": "silu")", "classifier_activation: \"silu\" is not supported"},
      {R"("classifier_pooling": "max")", "classifier_pooling: \"max\" is not supported"},
      {R"("rope_scaling": {"type": "linear", "factor": 2.0})", "rope_scaling: is not supported"},
      {R"("local_attention": 0)", "local_attention: 0 is outside"},
      {R"("global_attn_every_n_layers": 0)", "global_attn_every_n_layers: 0 is outside"},
      {R"("norm_bias": "yes")", "norm_bias: expected true or false"},
      {R"("global_rope_theta": -1)", "global_rope_theta: expected a number in"},
      {R"("norm_eps": 0)", "norm_eps: expected a number in"},
  };
  for (const auto& test_case : cases) {
    // Not a structured binding: C++17 lambdas cannot capture those (clang refuses).
    const std::string& fields = test_case.first;
    const std::string message =
        error_of<ModelError>([&] { parse_config(modernbert_config_with(fields), kPath); });
    EXPECT_CONTAINS(message, ("/models/x/config.json: " + test_case.second)) << fields;
  }
  // Rotary embeddings rotate halves of a head: an odd head size is refused.
  EXPECT_CONTAINS(error_of<ModelError>([] {
                    parse_config(R"({"model_type": "modernbert", "hidden_size": 36,
                      "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8,
                      "vocab_size": 10})",
                                 kPath);
                  }),
                  ("num_attention_heads: 4 gives an odd head size (9)"));
}

TEST(Config, MissingFileAndJoinPath) {
  TempDir dir;
  EXPECT_CONTAINS(error_of<ModelError>([&] { load_config(dir.path()); }),
              (dir.path() + "/config.json: cannot open"));
  EXPECT_EQ(join_path("a/b/", "c"), "a/b/c");
  EXPECT_EQ(join_path("a/b", "c"), "a/b/c");
  EXPECT_EQ(join_path("/", "c"), "/c");
}

// ---------------------------------------------------------------------------
// safetensors

class Safetensors : public ::testing::Test {
 protected:
  std::string write(const std::string& bytes) {
    const std::string path = dir_.file("model.safetensors");
    write_file(path, bytes);
    return path;
  }
  std::string open_error(const std::string& bytes) {
    const std::string path = write(bytes);
    const std::string message = error_of<ModelError>([&] { SafetensorsFile file(path); });
    EXPECT_CONTAINS(message, (path + ": "));
    return message;
  }
  TempDir dir_;
};

TEST_F(Safetensors, ReadsValidFile) {
  const std::vector<float> values = {1.f, -2.f, 3.5f, 0.25f, 5.f, 6.f};
  const std::string path = write(build_safetensors(
      {{"a", "F32", {2, 3}, f32_bytes(values)},
       {"ids", "I64", {1, 2}, std::string(16, '\0')},
       {"scalar", "F32", {}, f32_bytes({7.f})},
       {"empty", "F16", {0, 4}, ""}},
      R"({"format": "pt"})"));
  SafetensorsFile file(path);
  EXPECT_EQ(file.tensors().size(), 4u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const TensorView* a = file.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, TensorDtype::kF32);
  EXPECT_EQ(a->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a->numel, 6u);
  EXPECT_EQ(a->shape_string(), "[2, 3]");
  ASSERT_EQ(a->nbytes, 24u);
  EXPECT_EQ(std::memcmp(a->data, values.data(), 24), 0);
  EXPECT_EQ(file.find("scalar")->numel, 1u);
  EXPECT_EQ(file.find("empty")->numel, 0u);
  EXPECT_EQ(file.find("ids")->dtype, TensorDtype::kI64);
  EXPECT_EQ(file.find("nope"), nullptr);
}

TEST_F(Safetensors, RefusesTruncatedAndOversizedHeaders) {
  EXPECT_CONTAINS(open_error(""), ("file is 0 bytes"));
  EXPECT_CONTAINS(open_error("abc"), ("too short"));
  EXPECT_CONTAINS(open_error(u64_le(100) + "{}"), ("header length 100 runs past the end"));
  EXPECT_CONTAINS(open_error(u64_le(UINT64_MAX) + "{}"), ("runs past the end"));
  // A full, valid file cut short loses the end of the data section.
  const std::string full = build_safetensors({{"a", "F32", {4}, f32_bytes({1, 2, 3, 4})}});
  EXPECT_CONTAINS(open_error(full.substr(0, full.size() - 1)),
              ("tensor 'a': data_offsets [0, 16] lie outside the data section (15 bytes)"));
  EXPECT_CONTAINS(open_error(full.substr(0, 20)), ("past the end"));

  // Header longer than 100 MB: a sparse file, so this costs no disk.
  const std::string path = dir_.file("model.safetensors");
  const std::uint64_t header = SafetensorsFile::kMaxHeaderBytes + 1;
  write_file(path, u64_le(header));
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(header + 8)), 0);
  EXPECT_CONTAINS(error_of<ModelError>([&] { SafetensorsFile file(path); }),
              ("exceeds the limit"));
}

TEST_F(Safetensors, RefusesCorruptHeaders) {
  EXPECT_CONTAINS(open_error(safetensors_bytes("{\"a\": {", "")), ("header: invalid JSON"));
  EXPECT_CONTAINS(open_error(safetensors_bytes("\x01\x02\x03", "")), ("invalid JSON"));
  EXPECT_CONTAINS(open_error(safetensors_bytes("[]", "")), ("expected a JSON object"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(R"({"a": 1})", "")),
              ("tensor 'a': entry is not an object"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})",
                                           std::string(4, '\0'))),
              ("tensor 'a': missing dtype"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})",
                                           std::string(4, '\0'))),
              ("tensor 'a': missing shape"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [1]}})",
                                           std::string(4, '\0'))),
              ("tensor 'a': data_offsets must be"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(
                  R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})",
                  std::string(8, '\0'))),
              ("data_offsets must be"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(
                  R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", "")),
              ("data_offsets must be"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(
                  R"({"__metadata__": {"k": 1}})", "")),
              ("__metadata__"));
  EXPECT_CONTAINS(open_error(safetensors_bytes(
                  R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                      "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
                  std::string(4, '\0'))),
              ("duplicate object key \"a\""));
}

TEST_F(Safetensors, RefusesBadTensorEntries) {
  const std::string data(64, '\0');
  auto entry = [&](const std::string& name, const std::string& dtype, const std::string& shape,
                   const std::string& offsets) {
    return safetensors_bytes("{\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " +
                                 shape + ", \"data_offsets\": " + offsets + "}}",
                             data);
  };
  const std::string layer = "bert.encoder.layer.0.attention.self.query.weight";
  EXPECT_CONTAINS(open_error(entry(layer, "F32", "[4, 4]", "[0, 100]")),
              ("tensor '" + layer +
                        "': data_offsets [0, 100] lie outside the data section (64 bytes)"));
  EXPECT_CONTAINS(open_error(entry("a", "F32", "[2]", "[18446744073709551608, 18446744073709551615]")),
              ("lie outside the data section"));
  EXPECT_CONTAINS(open_error(entry("a", "F32", "[2]", "[8, 0]")), ("begin after end"));
  EXPECT_CONTAINS(open_error(entry("a", "F32", "[3]", "[0, 8]")),
              ("tensor 'a': data_offsets [0, 8] span 8 bytes but F32 [3] needs 12"));
  EXPECT_CONTAINS(open_error(entry("a", "F16", "[3]", "[0, 12]")), ("F16 [3] needs 6"));
  EXPECT_CONTAINS(open_error(entry("a", "Q4_K", "[2]", "[0, 8]")),
              ("tensor 'a': unknown dtype 'Q4_K'"));
  EXPECT_CONTAINS(open_error(entry("a", "f32", "[2]", "[0, 8]")), ("unknown dtype 'f32'"));
  EXPECT_CONTAINS(open_error(entry("a", "F32", "[-1, 2]", "[0, 8]")), ("non-negative"));
  EXPECT_CONTAINS(open_error(entry("a", "F32", "[2.5]", "[0, 8]")), ("non-negative"));
  EXPECT_CONTAINS(open_error(entry("a", "F32", "[4294967296, 4294967296]", "[0, 8]")),
              ("overflows"));
  EXPECT_CONTAINS(open_error(entry("a", "F64", "[4611686018427387904]", "[0, 8]")),
              ("overflows"));
  // A zero extent makes the product 0 whatever the other extents are.
  EXPECT_NO_THROW(SafetensorsFile(write(entry("a", "F32", "[0, 4294967296, 4294967296]", "[0, 0]"))));

  const std::string overlapping = safetensors_bytes(
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
          "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
      data);
  EXPECT_CONTAINS(open_error(overlapping), ("tensor 'b': data_offsets [8, 24] overlap tensor 'a'"));
  const std::string aliased = safetensors_bytes(
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
          "b": {"dtype": "I32", "shape": [4], "data_offsets": [0, 16]}})",
      data);
  EXPECT_CONTAINS(open_error(aliased), ("overlap"));
}

TEST_F(Safetensors, MissingFile) {
  const std::string path = dir_.file("model.safetensors");
  EXPECT_CONTAINS(error_of<ModelError>([&] { SafetensorsFile file(path); }),
              (path + ": cannot open"));
  EXPECT_CONTAINS(error_of<ModelError>([&] { SafetensorsFile file(dir_.path()); }),
              ("not a regular file"));
}

// Sharded checkpoints: model.safetensors.index.json and its shards, as
// transformers saves models above its shard size.
class ShardedSafetensors : public Safetensors {
 protected:
  void write_shards() {
    write_file(dir_.file("model-00001-of-00002.safetensors"),
               build_safetensors({{"a", "F32", {2}, f32_bytes({1.f, 2.f})},
                                  {"b", "F32", {1}, f32_bytes({3.f})}},
                                 R"({"format": "pt"})"));
    write_file(dir_.file("model-00002-of-00002.safetensors"),
               build_safetensors({{"c", "F16", {1}, std::string("\x00\x3c", 2)}}));
  }
  std::string index(const std::string& weight_map) {
    const std::string path = dir_.file("model.safetensors.index.json");
    write_file(path, R"({"metadata": {"total_size": 14}, "weight_map": )" + weight_map + "}");
    return path;
  }
  std::string open_error() {
    return error_of<ModelError>([&] { SafetensorsFile::open_model_weights(dir_.path()); });
  }
  const std::string kWeightMap =
      R"({"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",)"
      R"( "c": "model-00002-of-00002.safetensors"})";
};

TEST_F(ShardedSafetensors, ReadsEveryShardAsOneFile) {
  write_shards();
  const std::string index_path = index(kWeightMap);
  const auto file = SafetensorsFile::open_model_weights(dir_.path());
  EXPECT_EQ(file->path(), index_path);
  EXPECT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  std::vector<float> values;
  ASSERT_TRUE(tensor_to_f32(*file->find("a"), &values));
  EXPECT_EQ(values, (std::vector<float>{1.f, 2.f}));
  ASSERT_TRUE(tensor_to_f32(*file->find("c"), &values));
  EXPECT_EQ(values, (std::vector<float>{1.f}));
}

TEST_F(ShardedSafetensors, PrefersASingleFileAsTransformersDoes) {
  write_shards();
  index(kWeightMap);
  write(build_safetensors({{"only", "F32", {1}, f32_bytes({9.f})}}));
  const auto file = SafetensorsFile::open_model_weights(dir_.path());
  EXPECT_EQ(file->path(), dir_.file("model.safetensors"));
  EXPECT_NE(file->find("only"), nullptr);
  EXPECT_EQ(file->find("a"), nullptr);
}

TEST_F(ShardedSafetensors, WithNeitherFileNamesModelSafetensors) {
  EXPECT_CONTAINS(open_error(), (dir_.file("model.safetensors") + ": cannot open"));
}

TEST_F(ShardedSafetensors, RefusesBadIndexes) {
  write_shards();
  const std::string path = dir_.file("model.safetensors.index.json");
  write_file(path, "{\"weight_map\": ");
  EXPECT_CONTAINS(open_error(), (path + ": "));
  index("[]");
  EXPECT_CONTAINS(open_error(), ("weight_map must be a non-empty object"));
  index("{}");
  EXPECT_CONTAINS(open_error(), ("weight_map must be a non-empty object"));
  index(R"({"a": 1})");
  EXPECT_CONTAINS(open_error(), ("the shard of 'a' is not a string"));
  index(R"({"a": "../model-00001-of-00002.safetensors"})");
  EXPECT_CONTAINS(open_error(), ("is not a file name in the model folder"));
  index(R"({"a": "missing.safetensors"})");
  EXPECT_CONTAINS(open_error(), (dir_.file("missing.safetensors") + ": cannot open"));
  index(R"({"a": "model-00002-of-00002.safetensors"})");
  EXPECT_CONTAINS(open_error(), ("weight_map names tensor 'a' in model-00002-of-00002.safetensors, which does not hold it"));
}

TEST_F(ShardedSafetensors, RefusesATensorStoredInTwoShards) {
  write_shards();
  write_file(dir_.file("model-00002-of-00002.safetensors"),
             build_safetensors({{"a", "F32", {2}, f32_bytes({5.f, 6.f})}}));
  index(R"({"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"})");
  // b is not in shard 2: named first.
  EXPECT_CONTAINS(open_error(), ("weight_map names tensor 'b'"));
  index(R"({"b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors", "a": "model-00002-of-00002.safetensors"})");
  EXPECT_CONTAINS(open_error(), ("weight_map names tensor 'c'"));
  index(R"({"b": "model-00001-of-00002.safetensors", "a": "model-00002-of-00002.safetensors"})");
  EXPECT_CONTAINS(open_error(), ("tensor 'a' is stored in more than one shard"));
}

// ---------------------------------------------------------------------------
// Half-precision conversion

TEST(Conversion, F16IsExactForEveryBitPattern) {
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float value = f16_to_f32(static_cast<std::uint16_t>(bits));
    const bool negative = (bits & 0x8000) != 0;
    const int exponent = (bits >> 10) & 0x1F;
    const int mantissa = bits & 0x3FF;
    if (exponent == 0x1F) {
      if (mantissa == 0) {
        EXPECT_TRUE(std::isinf(value)) << bits;
      } else {
        EXPECT_TRUE(std::isnan(value)) << bits;
      }
      EXPECT_EQ(std::signbit(value), negative) << bits;
      continue;
    }
    double expected = exponent == 0 ? std::ldexp(static_cast<double>(mantissa), -24)
                                    : std::ldexp(static_cast<double>(1024 + mantissa), exponent - 25);
    if (negative) expected = -expected;
    ASSERT_EQ(static_cast<double>(value), expected) << "bits 0x" << std::hex << bits;
    EXPECT_EQ(std::signbit(value), negative) << bits;
  }
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7C00), INFINITY);
  EXPECT_EQ(f16_to_f32(0xFC00), -INFINITY);
}

TEST(Conversion, BF16) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC040), -3.0f);
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));  // subnormal
  EXPECT_EQ(bf16_to_f32(0x7F80), INFINITY);
  EXPECT_EQ(bf16_to_f32(0xFF80), -INFINITY);
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7FC0)));
  EXPECT_TRUE(std::signbit(bf16_to_f32(0x8000)));
}

// ---------------------------------------------------------------------------
// A tiny random BERT classifier and a naive double-precision reference

struct Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

struct TinyModel {
  int hidden = 8, layers = 2, heads = 2, intermediate = 16, vocab = 20, type_vocab = 2,
      max_position = 16, labels = 3;
  double eps = 1e-12;
  std::map<std::string, Tensor> tensors;  // names without the "bert." prefix

  std::string config_json() const {
    return "{\"model_type\": \"bert\", \"architectures\": [\"BertForSequenceClassification\"],"
           "\"hidden_size\": " + std::to_string(hidden) +
           ", \"num_hidden_layers\": " + std::to_string(layers) +
           ", \"num_attention_heads\": " + std::to_string(heads) +
           ", \"intermediate_size\": " + std::to_string(intermediate) +
           ", \"vocab_size\": " + std::to_string(vocab) +
           ", \"type_vocab_size\": " + std::to_string(type_vocab) +
           ", \"max_position_embeddings\": " + std::to_string(max_position) +
           ", \"num_labels\": " + std::to_string(labels) +
           ", \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}";
  }

  const std::vector<float>& at(const std::string& name) const { return tensors.at(name).values; }
};

// Weights are multiples of 1/256 (and LayerNorm gains multiples of 1/64) with
// at most 8 significant bits, so F32, F16 and BF16 files hold the same values.
TinyModel make_tiny_model(unsigned seed) {
  TinyModel m;
  std::mt19937 rng(seed);
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, int lo, int hi,
                 double unit) {
    std::int64_t count = 1;
    for (auto d : shape) count *= d;
    std::uniform_int_distribution<int> dist(lo, hi);
    Tensor t{shape, std::vector<float>(static_cast<std::size_t>(count))};
    for (float& v : t.values) v = static_cast<float>(dist(rng) * unit);
    m.tensors[name] = t;
  };
  const int h = m.hidden;
  auto linear = [&](const std::string& name, int n, int k) {
    add(name + ".weight", {n, k}, -128, 128, 1.0 / 256);
    add(name + ".bias", {n}, -32, 32, 1.0 / 256);
  };
  auto norm = [&](const std::string& name) {
    add(name + ".weight", {h}, 32, 96, 1.0 / 64);
    add(name + ".bias", {h}, -32, 32, 1.0 / 256);
  };
  add("embeddings.word_embeddings.weight", {m.vocab, h}, -128, 128, 1.0 / 128);
  add("embeddings.position_embeddings.weight", {m.max_position, h}, -128, 128, 1.0 / 256);
  add("embeddings.token_type_embeddings.weight", {m.type_vocab, h}, -128, 128, 1.0 / 256);
  norm("embeddings.LayerNorm");
  for (int l = 0; l < m.layers; ++l) {
    const std::string base = "encoder.layer." + std::to_string(l) + ".";
    // Larger q/k weights make the attention weights far from uniform.
    add(base + "attention.self.query.weight", {h, h}, -128, 128, 1.0 / 64);
    add(base + "attention.self.query.bias", {h}, -32, 32, 1.0 / 256);
    add(base + "attention.self.key.weight", {h, h}, -128, 128, 1.0 / 64);
    add(base + "attention.self.key.bias", {h}, -32, 32, 1.0 / 256);
    linear(base + "attention.self.value", h, h);
    linear(base + "attention.output.dense", h, h);
    norm(base + "attention.output.LayerNorm");
    linear(base + "intermediate.dense", m.intermediate, h);
    linear(base + "output.dense", h, m.intermediate);
    norm(base + "output.LayerNorm");
  }
  linear("pooler.dense", h, h);
  linear("classifier", m.labels, h);
  return m;
}

using Matrix = std::vector<std::vector<double>>;

Matrix linear_ref(const TinyModel& m, const Matrix& x, const std::string& name) {
  const Tensor& w = m.tensors.at(name + ".weight");
  const std::vector<float>& b = m.at(name + ".bias");
  const auto n = static_cast<std::size_t>(w.shape[0]);
  const auto k = static_cast<std::size_t>(w.shape[1]);
  Matrix out(x.size(), std::vector<double>(n));
  for (std::size_t r = 0; r < x.size(); ++r) {
    for (std::size_t i = 0; i < n; ++i) {
      double sum = b[i];
      for (std::size_t j = 0; j < k; ++j) sum += x[r][j] * w.values[i * k + j];
      out[r][i] = sum;
    }
  }
  return out;
}

void layer_norm_ref(const TinyModel& m, Matrix& x, const std::string& name) {
  const std::vector<float>& gamma = m.at(name + ".weight");
  const std::vector<float>& beta = m.at(name + ".bias");
  for (auto& row : x) {
    double mean = 0, var = 0;
    for (double v : row) mean += v;
    mean /= row.size();
    for (double v : row) var += (v - mean) * (v - mean);
    var /= row.size();
    for (std::size_t j = 0; j < row.size(); ++j) {
      row[j] = (row[j] - mean) / std::sqrt(var + m.eps) * gamma[j] + beta[j];
    }
  }
}

// The hidden states of one sequence after `layers` encoder layers (0: the
// embeddings' output), in double precision.
Matrix hidden_states_ref(const TinyModel& m, const std::vector<std::uint32_t>& ids,
                         const std::vector<std::uint8_t>& types, int layers) {
  const std::size_t n = ids.size();
  const auto h = static_cast<std::size_t>(m.hidden);
  const std::size_t head_dim = h / m.heads;
  Matrix x(n, std::vector<double>(h));
  for (std::size_t t = 0; t < n; ++t) {
    for (std::size_t j = 0; j < h; ++j) {
      x[t][j] = m.at("embeddings.word_embeddings.weight")[ids[t] * h + j] +
                m.at("embeddings.token_type_embeddings.weight")[types[t] * h + j] +
                m.at("embeddings.position_embeddings.weight")[t * h + j];
    }
  }
  layer_norm_ref(m, x, "embeddings.LayerNorm");
  for (int l = 0; l < layers; ++l) {
    const std::string base = "encoder.layer." + std::to_string(l) + ".";
    const Matrix q = linear_ref(m, x, base + "attention.self.query");
    const Matrix k = linear_ref(m, x, base + "attention.self.key");
    const Matrix v = linear_ref(m, x, base + "attention.self.value");
    Matrix context(n, std::vector<double>(h, 0.0));
    for (int head = 0; head < m.heads; ++head) {
      const std::size_t c0 = head * head_dim;
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<double> scores(n);
        double max_score = -1e300;
        for (std::size_t j = 0; j < n; ++j) {
          double dot = 0;
          for (std::size_t d = 0; d < head_dim; ++d) dot += q[i][c0 + d] * k[j][c0 + d];
          scores[j] = dot / std::sqrt(static_cast<double>(head_dim));
          max_score = std::max(max_score, scores[j]);
        }
        double total = 0;
        for (double& s : scores) total += (s = std::exp(s - max_score));
        for (std::size_t j = 0; j < n; ++j) {
          for (std::size_t d = 0; d < head_dim; ++d) {
            context[i][c0 + d] += scores[j] / total * v[j][c0 + d];
          }
        }
      }
    }
    Matrix attention = linear_ref(m, context, base + "attention.output.dense");
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t j = 0; j < h; ++j) attention[t][j] += x[t][j];
    }
    layer_norm_ref(m, attention, base + "attention.output.LayerNorm");
    x = attention;
    Matrix inter = linear_ref(m, x, base + "intermediate.dense");
    for (auto& row : inter) {
      for (double& u : row) u = 0.5 * u * (1.0 + std::erf(u / std::sqrt(2.0)));
    }
    Matrix out = linear_ref(m, inter, base + "output.dense");
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t j = 0; j < h; ++j) out[t][j] += x[t][j];
    }
    layer_norm_ref(m, out, base + "output.LayerNorm");
    x = out;
  }
  return x;
}

// BertForSequenceClassification on one sequence, in double precision.
std::vector<double> forward_ref(const TinyModel& m, const std::vector<std::uint32_t>& ids,
                                const std::vector<std::uint8_t>& types) {
  const Matrix x = hidden_states_ref(m, ids, types, m.layers);
  Matrix pooled = linear_ref(m, {x[0]}, "pooler.dense");
  for (double& u : pooled[0]) u = std::tanh(u);
  return linear_ref(m, pooled, "classifier")[0];
}

struct WriteOptions {
  std::string dtype = "F32";
  std::string prefix = "bert.";
  std::vector<TensorSpec> extra;
  std::function<void(std::vector<TensorSpec>&)> edit;  // change tensors before writing
};

// Writes config.json + model.safetensors for m into a new folder under dir.
std::string write_model(const TempDir& dir, const std::string& name, const TinyModel& m,
                        const WriteOptions& options = {}) {
  const std::string folder = dir.subdir(name);
  write_file(folder + "/config.json", m.config_json());
  std::vector<TensorSpec> specs;
  for (const auto& [tensor_name, tensor] : m.tensors) {
    const bool head = tensor_name.rfind("classifier.", 0) == 0;
    std::string bytes = options.dtype == "F16"    ? f16_bytes(tensor.values)
                        : options.dtype == "BF16" ? bf16_bytes(tensor.values)
                                                  : f32_bytes(tensor.values);
    specs.push_back({(head ? "" : options.prefix) + tensor_name, options.dtype, tensor.shape,
                     std::move(bytes)});
  }
  specs.insert(specs.end(), options.extra.begin(), options.extra.end());
  if (options.edit) options.edit(specs);
  write_file(folder + "/model.safetensors", build_safetensors(specs, R"({"format":"pt"})"));
  return folder;
}

struct Batch {
  std::vector<std::uint32_t> ids;
  std::vector<std::uint8_t> types;
  std::vector<std::uint32_t> lengths;

  BatchInput input() const {
    return {ids.data(), ids.size(), types.data(), types.size(), lengths.data(), lengths.size()};
  }
  void add(const std::vector<std::uint32_t>& seq_ids, const std::vector<std::uint8_t>& seq_types) {
    ids.insert(ids.end(), seq_ids.begin(), seq_ids.end());
    types.insert(types.end(), seq_types.begin(), seq_types.end());
    lengths.push_back(static_cast<std::uint32_t>(seq_ids.size()));
  }
};

// Random [CLS] a [SEP] b [SEP]-like sequences of the given lengths.
Batch random_batch(const TinyModel& m, const std::vector<int>& lengths, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::uint32_t> id(0, static_cast<std::uint32_t>(m.vocab - 1));
  Batch batch;
  for (int length : lengths) {
    std::vector<std::uint32_t> ids(static_cast<std::size_t>(length));
    std::vector<std::uint8_t> types(static_cast<std::size_t>(length), 0);
    for (auto& v : ids) v = id(rng);
    for (int t = length / 2; t < length; ++t) types[static_cast<std::size_t>(t)] = 1;
    batch.add(ids, types);
  }
  return batch;
}

// Named error limit: fp32 engine vs the double reference on the tiny model.
constexpr double kMaxLogitError = 2e-5;

void expect_matches_reference(const TinyModel& m, const Batch& batch,
                              const std::vector<float>& logits, double limit = kMaxLogitError) {
  ASSERT_EQ(logits.size(), batch.lengths.size() * static_cast<std::size_t>(m.labels));
  std::size_t offset = 0;
  for (std::size_t s = 0; s < batch.lengths.size(); ++s) {
    const std::size_t n = batch.lengths[s];
    const std::vector<std::uint32_t> ids(batch.ids.begin() + offset, batch.ids.begin() + offset + n);
    const std::vector<std::uint8_t> types(batch.types.begin() + offset,
                                          batch.types.begin() + offset + n);
    const std::vector<double> expected = forward_ref(m, ids, types);
    for (int label = 0; label < m.labels; ++label) {
      EXPECT_NEAR(logits[s * m.labels + label], expected[label], limit)
          << "sequence " << s << " (length " << n << ") label " << label;
    }
    offset += n;
  }
}

class Model : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(Model, ForwardMatchesNaiveReferenceOnEveryKernelTable) {
  const unsigned seed = 1234;
  SCOPED_TRACE("seed " + std::to_string(seed));
  const TinyModel m = make_tiny_model(seed);
  const std::string folder = write_model(dir_, "tiny", m);
  const Batch batch = random_batch(m, {5, 1, 16, 3, 9, 2, 11}, seed + 1);
  for (const kernels::KernelTable* table : kernels::available_kernels()) {
    SCOPED_TRACE(std::string("kernels ") + table->isa);
    for (int threads : {1, 3}) {
      SCOPED_TRACE("threads " + std::to_string(threads));
      auto model = BertModel::load(folder, threads, *table);
      EXPECT_EQ(model->threads(), threads);
      EXPECT_EQ(model->weights_dtype(), TensorDtype::kF32);
      EXPECT_EQ(model->config().num_labels, 3);
      const std::vector<float> logits = model->run(batch.input());
      expect_matches_reference(m, batch, logits);
      // The check means something only if the logits differ between sequences.
      const auto [lo, hi] = std::minmax_element(logits.begin(), logits.end());
      EXPECT_GT(*hi - *lo, 0.1f);
    }
  }
}

TEST_F(Model, PackedBatchEqualsEachSequenceAlone) {
  const TinyModel m = make_tiny_model(7);
  auto model = BertModel::load(write_model(dir_, "tiny", m), 2);
  const Batch batch = random_batch(m, {4, 16, 1, 7, 7, 13}, 99);
  const std::vector<float> packed = model->run(batch.input());
  std::size_t offset = 0;
  for (std::size_t s = 0; s < batch.lengths.size(); ++s) {
    const std::size_t n = batch.lengths[s];
    Batch alone;
    alone.add({batch.ids.begin() + offset, batch.ids.begin() + offset + n},
              {batch.types.begin() + offset, batch.types.begin() + offset + n});
    const std::vector<float> single = model->run(alone.input());
    for (int label = 0; label < m.labels; ++label) {
      EXPECT_NEAR(packed[s * m.labels + label], single[label], 1e-5) << "sequence " << s;
    }
    offset += n;
  }
}

TEST_F(Model, HalfPrecisionAndUnprefixedCheckpointsLoadTheSameWeights) {
  const TinyModel m = make_tiny_model(42);
  const Batch batch = random_batch(m, {6, 3, 10}, 5);
  auto f32 = BertModel::load(write_model(dir_, "f32", m), 1);
  const std::vector<float> expected = f32->run(batch.input());
  expect_matches_reference(m, batch, expected);

  WriteOptions f16;
  f16.dtype = "F16";
  auto f16_model = BertModel::load(write_model(dir_, "f16", m, f16), 1);
  EXPECT_EQ(f16_model->weights_dtype(), TensorDtype::kF16);
  EXPECT_EQ(f16_model->run(batch.input()), expected);

  WriteOptions bf16;
  bf16.dtype = "BF16";
  auto bf16_model = BertModel::load(write_model(dir_, "bf16", m, bf16), 1);
  EXPECT_EQ(bf16_model->weights_dtype(), TensorDtype::kBF16);
  EXPECT_EQ(bf16_model->run(batch.input()), expected);

  WriteOptions bare;  // a BertModel checkpoint plus a classifier: no "bert." prefix
  bare.prefix = "";
  EXPECT_EQ(BertModel::load(write_model(dir_, "bare", m, bare), 1)->run(batch.input()), expected);

  // Extra tensors of any dtype are validated by the parser but not used.
  WriteOptions extra;
  extra.extra.push_back({"bert.embeddings.position_ids", "I64", {1, 16}, std::string(128, '\0')});
  extra.extra.push_back({"unused.mask", "BOOL", {3}, std::string(3, '\1')});
  EXPECT_EQ(BertModel::load(write_model(dir_, "extra", m, extra), 1)->run(batch.input()), expected);
}

TEST_F(Model, Int8ForwardIsBitIdenticalOnAvx512VnniAndAvx2) {
  const kernels::KernelTable* vnni = kernels::avx512vnni_kernels();
  const kernels::KernelTable* avx2 = kernels::avx2_kernels();
  const std::vector<const kernels::KernelTable*> tables = kernels::available_kernels();
  if (vnni == nullptr || std::find(tables.begin(), tables.end(), vnni) == tables.end())
    GTEST_SKIP() << "NOT RUN: this CPU lacks AVX-512 VNNI+VL+BW";
  const TinyModel m = make_tiny_model(11);
  const std::string folder = write_model(dir_, "tiny", m);
  const Batch batch = random_batch(m, {5, 1, 16, 3, 9}, 12);
  auto on_avx2 = BertModel::load(folder, 2, *avx2, Dtype::kInt8);
  auto on_vnni = BertModel::load(folder, 2, *vnni, Dtype::kInt8);
  ASSERT_TRUE(on_avx2->int8());
  ASSERT_TRUE(on_vnni->int8());
  const std::vector<float> want = on_avx2->run(batch.input());
  const std::vector<float> got = on_vnni->run(batch.input());
  ASSERT_EQ(want.size(), got.size());
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
}

// On x86 the AMX tables (the hardware where the CPU has AMX, the tile
// emulation wherever it has AVX512-BF16) run the whole model: the int8
// forward is bit for bit the VNNI table's (the same exact int32 sums per
// block, the same float steps), and the bf16 forward is that of the
// avx512bf16 table with its bf16 GEMM replaced by AMX's reference
// (ref::bgemm_amx), but for the GELU's last bits (the reference GEMM's GELU
// is the scalar erf one), and within bf16's error of the fp32 forward.
TEST_F(Model, AmxInt8AndBf16Forwards) {
  const kernels::KernelTable* vnni = kernels::avx512vnni_kernels();
  const kernels::KernelTable* bf16_table = kernels::avx512bf16_kernels();
  if (vnni == nullptr || bf16_table == nullptr) GTEST_SKIP() << "NOT RUN: not an x86-64 build";
  const std::vector<const kernels::KernelTable*> tables = kernels::available_kernels();
  if (std::find(tables.begin(), tables.end(), bf16_table) == tables.end())
    GTEST_SKIP() << "NOT RUN: this CPU lacks AVX512-BF16, which the AMX tables (emulated too) need";
  const TinyModel m = make_tiny_model(15);
  const std::string folder = write_model(dir_, "tiny", m);
  // 67 tokens in the packed batch: the GEMMs' rows fill tiles of 16 and 32
  // rows and leave partial ones.
  const Batch batch = random_batch(m, {5, 1, 16, 13, 9, 16, 7}, 16);
  const std::vector<float> fp32 = BertModel::load(folder, 2, *vnni)->run(batch.input());
  const std::vector<float> int8 =
      BertModel::load(folder, 2, *vnni, Dtype::kInt8)->run(batch.input());
  kernels::KernelTable amx_reference = *bf16_table;
  amx_reference.bgemm_name = "bf16_gemm_1x1__ref (amx order)";
  amx_reference.bgemm_mr = amx_reference.bgemm_nr = 1;
  amx_reference.bgemm_pack = kernels::ref::bgemm_pack;
  amx_reference.bgemm = kernels::ref::bgemm_amx;
  const std::vector<float> want_bf16 =
      BertModel::load(folder, 2, amx_reference, Dtype::kBfloat16)->run(batch.input());
  int ran = 0;
  for (const kernels::KernelTable* t : {kernels::amx_kernels(), kernels::amx_emulated_kernels()}) {
    if (t == nullptr) continue;
    const bool runs = t == kernels::amx_emulated_kernels() ||
                      std::find(tables.begin(), tables.end(), t) != tables.end();
    if (!runs) {
      std::printf("engine_test: NOT RUN on the %s table: %s\n", t->isa,
                  kernels::cpu_features().amx_status.c_str());
      continue;
    }
    ++ran;
    SCOPED_TRACE(std::string("kernels ") + t->isa);
    std::printf("engine_test: int8 and bf16 forwards on the %s table (%s, %s)\n", t->isa,
                t->qgemm_name, t->bgemm_name);
    auto on_int8 = BertModel::load(folder, 2, *t, Dtype::kInt8);
    ASSERT_TRUE(on_int8->int8());
    const std::vector<float> got = on_int8->run(batch.input());
    ASSERT_EQ(got.size(), int8.size());
    EXPECT_EQ(0, std::memcmp(got.data(), int8.data(), got.size() * sizeof(float)));
    auto on_bf16 = BertModel::load(folder, 2, *t, Dtype::kBfloat16);
    ASSERT_TRUE(on_bf16->bf16());
    const std::vector<float> bf16 = on_bf16->run(batch.input());
    ASSERT_EQ(bf16.size(), fp32.size());
    EXPECT_NE(bf16, fp32) << "the bf16 forward gave the fp32 bits: did it run the bf16 GEMM?";
    for (std::size_t i = 0; i < bf16.size(); ++i) {
      EXPECT_NEAR(bf16[i], want_bf16[i], 1e-5f * std::max(1.f, std::fabs(want_bf16[i])))
          << "logit " << i;
      EXPECT_NEAR(bf16[i], fp32[i], 2e-2f * std::max(1.f, std::fabs(fp32[i]))) << "logit " << i;
    }
  }
  EXPECT_GE(ran, 1);
}

// On AArch64 the int8 forward is the same on every table whose int8 GEMM is
// NEON's or I8MM's (the same exact int32 sums, the same float steps), and the
// bf16 forward runs on each table with a bf16 GEMM (Arm BF16 under qemu -cpu
// max), within bf16's error of the fp32 forward and not equal to it. A table
// the CPU lacks is named, never counted.
TEST_F(Model, ArmInt8AndBf16ForwardsOnEveryTable) {
  const kernels::KernelTable* neon = kernels::neon_kernels();
  if (neon == nullptr) GTEST_SKIP() << "NOT RUN: not an AArch64 build";
  const TinyModel m = make_tiny_model(13);
  const std::string folder = write_model(dir_, "tiny", m);
  const Batch batch = random_batch(m, {5, 1, 16, 3, 9}, 14);
  const std::vector<float> fp32 = BertModel::load(folder, 2, *neon)->run(batch.input());
  const std::vector<float> int8 =
      BertModel::load(folder, 2, *neon, Dtype::kInt8)->run(batch.input());
  const std::vector<const kernels::KernelTable*> tables = kernels::available_kernels();
  for (const kernels::KernelTable* t : {kernels::neon_i8mm_bf16_kernels(),
                                        kernels::neon_i8mm_kernels(),
                                        kernels::neon_bf16_kernels()}) {
    if (t == nullptr) continue;
    if (std::find(tables.begin(), tables.end(), t) == tables.end()) {
      std::printf("engine_test: NOT RUN on the %s table: this CPU lacks it\n", t->isa);
      continue;
    }
    SCOPED_TRACE(std::string("kernels ") + t->isa);
    std::printf("engine_test: int8 and bf16 forwards on the %s table (%s, %s)\n", t->isa,
                t->qgemm_name, t->bgemm_name != nullptr ? t->bgemm_name : "no bf16 GEMM");
    auto on_int8 = BertModel::load(folder, 3, *t, Dtype::kInt8);
    ASSERT_TRUE(on_int8->int8());
    const std::vector<float> got = on_int8->run(batch.input());
    ASSERT_EQ(got.size(), int8.size());
    EXPECT_EQ(0, std::memcmp(got.data(), int8.data(), got.size() * sizeof(float)));
    if (t->bgemm == nullptr) continue;
    auto on_bf16 = BertModel::load(folder, 3, *t, Dtype::kBfloat16);
    ASSERT_TRUE(on_bf16->bf16());
    const std::vector<float> bf16 = on_bf16->run(batch.input());
    ASSERT_EQ(bf16.size(), fp32.size());
    EXPECT_NE(bf16, fp32) << "the bf16 forward gave the fp32 bits: did it run the bf16 GEMM?";
    for (std::size_t i = 0; i < bf16.size(); ++i)
      EXPECT_NEAR(bf16[i], fp32[i], 2e-2 * std::max(1.f, std::fabs(fp32[i]))) << "logit " << i;
  }
}

TEST_F(Model, ConcurrentRunsGiveTheSameResults) {
  const TinyModel m = make_tiny_model(3);
  auto model = BertModel::load(write_model(dir_, "tiny", m), 2);
  const Batch batch = random_batch(m, {9, 4, 12}, 17);
  const std::vector<float> expected = model->run(batch.input());
  std::vector<std::vector<float>> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 10; ++rep) results[i] = model->run(batch.input());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

// Pooled hidden states of every sequence of batch after `layer`, in double precision.
std::vector<double> pooled_hidden_ref(const TinyModel& m, const Batch& batch, int layer,
                                      Pooling pooling) {
  std::vector<double> out;
  std::size_t offset = 0;
  for (const std::uint32_t n : batch.lengths) {
    const Matrix x = hidden_states_ref(
        m, {batch.ids.begin() + offset, batch.ids.begin() + offset + n},
        {batch.types.begin() + offset, batch.types.begin() + offset + n}, layer);
    for (int j = 0; j < m.hidden; ++j) {
      double value = x[0][j];
      if (pooling == Pooling::kMean) {
        value = 0;
        for (const auto& row : x) value += row[j];
        value /= static_cast<double>(n);
      }
      out.push_back(value);
    }
    offset += n;
  }
  return out;
}

TEST_F(Model, HiddenStatesMatchTheReferenceAfterEveryLayer) {
  const TinyModel m = make_tiny_model(21);
  const std::string folder = write_model(dir_, "tiny", m);
  const Batch batch = random_batch(m, {5, 1, 16, 3, 9}, 22);
  for (const kernels::KernelTable* table : kernels::available_kernels()) {
    SCOPED_TRACE(std::string("kernels ") + table->isa);
    auto model = BertModel::load(folder, 2, *table);
    for (int layer = 0; layer <= m.layers; ++layer) {
      for (const Pooling pooling : {Pooling::kCls, Pooling::kMean}) {
        SCOPED_TRACE("layer " + std::to_string(layer) +
                     (pooling == Pooling::kCls ? " cls" : " mean"));
        const std::vector<float> got = model->run_hidden(batch.input(), layer, pooling);
        const std::vector<double> want = pooled_hidden_ref(m, batch, layer, pooling);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
          EXPECT_NEAR(got[i], want[i], kMaxLogitError) << "element " << i;
        }
      }
    }
  }
}

TEST_F(Model, HiddenStatesNeedALayerInRange) {
  const TinyModel m = make_tiny_model(21);
  auto model = BertModel::load(write_model(dir_, "tiny", m), 1);
  const Batch batch = random_batch(m, {3}, 1);
  auto error = [&](int layer, Pooling pooling) {
    return error_of<InputError>([&] { model->run_hidden(batch.input(), layer, pooling); });
  };
  EXPECT_CONTAINS(error(3, Pooling::kCls), ("layer 3 is outside [0, 2]"));
  EXPECT_CONTAINS(error(-1, Pooling::kMean), ("layer -1 is outside [0, 2]"));
}

TEST_F(Model, BareEncoderLoadsWithoutHeadAndGivesTheSameHiddenStates) {
  const TinyModel m = make_tiny_model(23);
  const Batch batch = random_batch(m, {6, 2, 11}, 24);
  auto full = BertModel::load(write_model(dir_, "full", m), 1);

  WriteOptions bare;  // a bare BertModel checkpoint: no prefix, no pooler, no classifier
  bare.prefix = "";
  bare.edit = [](std::vector<TensorSpec>& specs) {
    specs.erase(std::remove_if(specs.begin(), specs.end(),
                               [](const TensorSpec& t) {
                                 return t.name.rfind("classifier.", 0) == 0 ||
                                        t.name.rfind("pooler.", 0) == 0;
                               }),
                specs.end());
  };
  const std::string folder = write_model(dir_, "bare", m, bare);
  std::string config = m.config_json();
  config.replace(config.find("BertForSequenceClassification"),
                 std::string("BertForSequenceClassification").size(), "BertModel");
  write_file(folder + "/config.json", config);

  auto encoder = BertModel::load(folder, 1, Dtype::kAsStored, Head::kNone);
  EXPECT_FALSE(encoder->has_head());
  for (int layer = 0; layer <= m.layers; ++layer) {
    for (const Pooling pooling : {Pooling::kCls, Pooling::kMean}) {
      EXPECT_EQ(encoder->run_hidden(batch.input(), layer, pooling),
                full->run_hidden(batch.input(), layer, pooling));
    }
  }
  EXPECT_CONTAINS(error_of<InputError>([&] { encoder->run(batch.input()); }),
                  ("loaded as an encoder alone"));

  // As a cross-encoder: the config says there is no classifier...
  EXPECT_CONTAINS(error_of<ModelError>([&] { BertModel::load(folder, 1); }),
                  ("architectures: [BertModel] is not a sequence-classification head"));
  // ...and without architectures, the weights do.
  const std::string architectures = R"("architectures": ["BertModel"],)";
  config.erase(config.find(architectures), architectures.size());
  write_file(folder + "/config.json", config);
  const std::string message = error_of<ModelError>([&] { BertModel::load(folder, 1); });
  EXPECT_CONTAINS(message, ("tensor 'classifier.weight' is missing: a cross-encoder needs"));
  EXPECT_CONTAINS(message, ("SentenceEncoder"));
}

TEST_F(Model, EmptyBatch) {
  const TinyModel m = make_tiny_model(3);
  auto model = BertModel::load(write_model(dir_, "tiny", m), 1);
  EXPECT_TRUE(model->run(BatchInput{}).empty());
}

TEST_F(Model, InputValidation) {
  const TinyModel m = make_tiny_model(3);
  auto model = BertModel::load(write_model(dir_, "tiny", m), 1);
  auto error = [&](Batch batch) {
    return error_of<InputError>([&] { model->run(batch.input()); });
  };
  Batch good = random_batch(m, {3, 4}, 1);
  EXPECT_NO_THROW(model->run(good.input()));

  Batch b = good;
  b.types.pop_back();
  EXPECT_EQ(error(b), "typeIds.length (6) differs from ids.length (7)");
  b = good;
  b.lengths[1] = 5;
  EXPECT_EQ(error(b), "ids.length (7) differs from the sum of lengths (8)");
  b = good;
  b.lengths[1] = 0;
  EXPECT_EQ(error(b), "lengths[1] = 0 is outside [1, 16] (max_position_embeddings 16)");
  b = good;
  b.lengths[0] = 17;
  EXPECT_CONTAINS(error(b), ("lengths[0] = 17 is outside [1, 16]"));
  b = good;
  b.lengths[0] = 0xFFFFFFFFu;  // would overflow a 32-bit sum
  b.lengths[1] = 8;
  EXPECT_CONTAINS(error(b), ("lengths[0] = 4294967295"));
  b = good;
  b.ids[5] = 20;
  b.ids[6] = 40000;
  EXPECT_EQ(error(b), "ids[5] = 20 is outside the vocabulary (vocab_size 20)");
  b = good;
  b.types[2] = 2;
  EXPECT_EQ(error(b), "typeIds[2] = 2 is outside [0, 2) (type_vocab_size 2)");
  b = Batch{};
  b.ids = {1, 2};
  b.types = {0, 0};
  EXPECT_EQ(error(b), "ids.length (2) differs from the sum of lengths (0)");
}

TEST_F(Model, LoadErrorsNameTheFileAndTensor) {
  const TinyModel m = make_tiny_model(5);
  auto load_error = [&](const std::string& name, const WriteOptions& options) {
    const std::string folder = write_model(dir_, name, m, options);
    const std::string message = error_of<ModelError>([&] { BertModel::load(folder, 1); });
    EXPECT_CONTAINS(message, (folder + "/model.safetensors: ")) << message;
    return message;
  };
  auto edit = [](std::function<void(std::vector<TensorSpec>&)> fn) {
    WriteOptions o;
    o.edit = std::move(fn);
    return o;
  };
  auto find = [](std::vector<TensorSpec>& specs, const std::string& name) -> TensorSpec& {
    for (TensorSpec& s : specs) {
      if (s.name == name) return s;
    }
    std::abort();
  };

  EXPECT_CONTAINS(load_error("shape", edit([&](std::vector<TensorSpec>& s) {
                TensorSpec& t = find(s, "bert.encoder.layer.1.intermediate.dense.weight");
                t.shape = {8, 16};  // transposed
              })),
              ("tensor 'bert.encoder.layer.1.intermediate.dense.weight' has shape "
                        "[8, 16], expected [16, 8]"));
  EXPECT_CONTAINS(load_error("missing", edit([&](std::vector<TensorSpec>& s) {
                s.erase(std::find_if(s.begin(), s.end(), [](const TensorSpec& t) {
                  return t.name == "bert.encoder.layer.0.attention.self.key.bias";
                }));
              })),
              ("tensor 'bert.encoder.layer.0.attention.self.key.bias' is missing"));
  EXPECT_CONTAINS(load_error("no-classifier", edit([&](std::vector<TensorSpec>& s) {
                s.erase(std::find_if(s.begin(), s.end(), [](const TensorSpec& t) {
                  return t.name == "classifier.weight";
                }));
              })),
              ("tensor 'classifier.weight' is missing"));
  EXPECT_CONTAINS(load_error("labels", edit([&](std::vector<TensorSpec>& s) {
                TensorSpec& t = find(s, "classifier.bias");
                t.shape = {2};
                t.bytes.resize(8);
              })),
              ("tensor 'classifier.bias' has shape [2], expected [3]"));
  EXPECT_CONTAINS(load_error("dtype", edit([&](std::vector<TensorSpec>& s) {
                TensorSpec& t = find(s, "bert.pooler.dense.bias");
                t.dtype = "I32";
              })),
              ("tensor 'bert.pooler.dense.bias' has dtype I32; supported: F32, F16, BF16"));
  EXPECT_CONTAINS(load_error("not-bert", edit([&](std::vector<TensorSpec>& s) {
                for (TensorSpec& t : s) t.name = "roberta." + t.name;
              })),
              ("bert.embeddings.word_embeddings.weight' is missing"));

  // Folder-level problems.
  EXPECT_CONTAINS(error_of<ModelError>([&] { BertModel::load(dir_.file("nope"), 1); }),
              ("nope: model folder does not exist"));
  const std::string no_weights = dir_.subdir("no-weights");
  write_file(no_weights + "/config.json", m.config_json());
  EXPECT_CONTAINS(error_of<ModelError>([&] { BertModel::load(no_weights, 1); }),
              (no_weights + "/model.safetensors: cannot open"));
  EXPECT_CONTAINS(error_of<ModelError>([&] { BertModel::load(no_weights + "/config.json", 1); }),
              ("not a folder"));
}

}  // namespace
}  // namespace crossrank::engine
